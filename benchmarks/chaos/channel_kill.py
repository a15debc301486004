"""kill -9 against the request/reply channel: servers and clients die under load, nothing strays or sticks.

One round: a channel, one echo server and a few client processes requesting at
full rate, and a stream of *events*, each a process killed with SIGKILL: the
server at a random moment or inside its handler (a request SERVING), a client at
a random moment or while its request is posted or being served. After each
event:

* server killed: every client gets ``BrokenError`` (never its 10 s timeout), the
  time from the kill to each client's error is recorded, and a new server on the
  same name serves every client again;
* client killed: the server goes on and every other client keeps getting replies.

Every reply is checked to be the asking client's own request (id, count, nonce).
At the end: every slot can be claimed again (nothing stuck), and no file is left
once the channel is unlinked.
"""

from __future__ import annotations

import os
import queue
import random
import secrets
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path

import shmring
from shmring import _channel_format as CF

from . import channel_victims as cv
from .kill import _CTX, JOIN_S
from .reports import RoundReport, kill_and_join

__all__ = ["CHANNEL_EVENTS", "ChannelKillReport", "run"]

CLIENTS = 3
SLOTS = 4
MAX_CLIENTS = 1 << 16  # client ids handed out in one round (the replies table's size)


@dataclass(kw_only=True)
class ChannelKillReport(RoundReport):
    """What one channel round saw."""

    replies: int = 0
    broken_notices: int = 0
    #: Seconds from a server's SIGKILL to each waiting client's BrokenError.
    latencies: list[float] = field(default_factory=list)
    wrong: int = 0
    slots_back: int = 0

    @property
    def clean(self) -> bool:
        return not self.problems and self.wrong == 0 and self.hangs == 0 and self.slots_back == SLOTS


class _Round:
    """One channel under attack: its server, its clients, and the checks after each kill."""

    def __init__(self, report: ChannelKillReport, channel: shmring.Channel, rng: random.Random) -> None:
        self.report, self.channel, self.rng = report, channel, rng
        self.path = str(channel.path)
        self.notices, self.stop = _CTX.Queue(), _CTX.Event()
        self.replies = _CTX.Array("q", MAX_CLIENTS, lock=False)
        self.clients: dict[int, BaseProcess] = {}
        self.next_id = 0
        self.server = self.start_server()

    # -- processes ------------------------------------------------------------------

    def start_server(self) -> BaseProcess:
        ready, self.server_dies = _CTX.Queue(), _CTX.Value("i", 0, lock=False)
        proc = _CTX.Process(target=cv.server, args=(self.path, ready, self.server_dies), daemon=True)
        proc.start()
        try:
            ready.get(timeout=60)
        except queue.Empty:
            self.problem(f"a new server did not take the channel within 60 s (exit {proc.exitcode})", hang=True)
        return proc

    def start_client(self, slow_share: float) -> tuple[int, BaseProcess]:
        ident, self.next_id = self.next_id, self.next_id + 1
        proc = _CTX.Process(target=cv.client, args=(self.path, ident, slow_share, self.notices, self.replies,
                                                    self.stop), daemon=True)
        proc.start()
        return ident, proc

    def problem(self, text: str, *, hang: bool = False) -> None:
        self.report.problem(text, hang=hang)

    def reap(self, proc: BaseProcess, role: str, *, killed: bool = True, expect: int = -signal.SIGKILL) -> None:
        code = kill_and_join(proc, role, self.report, JOIN_S, killed=killed)
        if code is None:
            return
        if code in cv.EXIT:
            self.report.wrong += code == 3
            self.problem(f"{role}: {cv.EXIT[code]}", hang=code == 4)
        elif code != expect:
            self.problem(f"{role} ended with exit code {code}, expected {expect}")

    def jitter(self) -> None:
        time.sleep(self.rng.uniform(0, 0.03))  # a random moment to strike: a timer, not a wait

    def add_client(self) -> None:
        ident, proc = self.start_client(0.3)
        self.clients[ident] = proc

    # -- checks ---------------------------------------------------------------------

    def await_replies(self, what: str) -> None:
        """Every live client gets at least one more reply (bounded): the server serves them all."""
        before = {ident: self.replies[ident] for ident in self.clients}
        end = time.monotonic() + cv.WAIT_S
        for ident in before:
            while self.replies[ident] <= before[ident]:
                if not self.clients[ident].is_alive():
                    self.reap(self.clients.pop(ident), f"client {ident} {what}", killed=False)
                    self.add_client()  # keep the load up
                    break
                if time.monotonic() > end:
                    self.problem(f"client {ident} got no reply within {cv.WAIT_S} s {what}", hang=True)
                    return
                time.sleep(0.001)  # a counter in another process: nobody announces it to us

    def collect_notices(self, since: float, what: str, *, timed: bool = True) -> None:
        """One BrokenError per live client after the server's death (``since``), each within the bound.

        ``timed``: ``since`` is the moment of the death, so the delays are figures worth keeping.
        """
        waiting = set(self.clients)
        end = time.monotonic() + JOIN_S
        while waiting and time.monotonic() < end:
            try:
                ident, at = self.notices.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                break
            if ident in waiting and at >= since:
                waiting.discard(ident)
                self.report.broken_notices += 1
                if timed:
                    self.report.latencies.append(at - since)
        if waiting:
            self.problem(f"clients {sorted(waiting)} got no BrokenError within {JOIN_S} s {what}", hang=True)

    def drain_notices(self) -> None:
        while True:
            try:
                self.notices.get_nowait()
            except queue.Empty:
                return

    def mid_request(self, pid: int) -> bool:
        """Whether a slot holds a request of process ``pid``, posted or being served."""
        table = self.channel._attachment().table
        for index in range(table.layout.slots):
            phase = CF.phase(table.state(index))
            if phase in (CF.REQUEST, CF.SERVING) and CF.unpack_slot(table.buf, table.layout, index).client_pid == pid:
                return True
        return False

    # -- events ---------------------------------------------------------------------

    def server_random(self) -> None:
        self.await_replies("before the server's kill")
        self.drain_notices()
        self.jitter()
        killed_at = time.monotonic()  # before the kill: a client may notice before we look at the clock again
        self.reap(self.server, "server killed at a random moment")  # SIGKILLs it first
        self.collect_notices(killed_at, "after the server's SIGKILL")
        self.server = self.start_server()
        self.await_replies("from the new server")
        self.report.events["server: random moment"] += 1

    def server_in_handler(self) -> None:
        self.await_replies("before the server's death")
        self.drain_notices()
        self.server_dies.value = 1
        asked_at = time.monotonic()
        self.reap(self.server, "server killing itself in its handler", killed=False)
        self.collect_notices(asked_at, "after the server died in its handler", timed=False)
        self.server = self.start_server()
        self.await_replies("from the new server")
        self.report.events["server: inside the handler"] += 1

    def client_random(self) -> None:
        ident = self.rng.choice(sorted(self.clients))
        self.jitter()
        self.reap(self.clients.pop(ident), f"client {ident} killed at a random moment")
        self.add_client()
        self.await_replies("after a client's SIGKILL")
        self.report.events["client: random moment"] += 1

    def client_mid_request(self) -> None:
        _, victim = self.start_client(1.0)
        end = time.monotonic() + cv.WAIT_S
        while not self.mid_request(victim.pid or 0):  # its slot's words: polled, nobody announces them
            if time.monotonic() > end or not victim.is_alive():
                self.problem("a client never had a request posted or served within 10 s", hang=True)
                break
            time.sleep(0.0005)
        self.reap(victim, "client killed mid-request")
        self.await_replies("after a client died mid-request")
        self.report.events["client: mid-request"] += 1


#: Event name -> method.
CHANNEL_EVENTS: dict[str, Callable[[_Round], None]] = {
    "server at a random moment": _Round.server_random,
    "server inside its handler": _Round.server_in_handler,
    "client at a random moment": _Round.client_random,
    "client mid-request": _Round.client_mid_request,
}


def run(kills: int, *, seed: int = 1, deadline: float | None = None) -> ChannelKillReport:
    """At least ``kills`` SIGKILLs of servers and clients (fewer if ``deadline``, a monotonic time, comes first)."""
    report = ChannelKillReport()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="chaos-channel-") as scratch:
        channel = shmring.Channel.create(Path(scratch) / f"chan-{secrets.token_hex(3)}", slots=SLOTS, slot_bytes=256)
        chaos = _Round(report, channel, random.Random(seed))
        for _ in range(CLIENTS):
            chaos.add_client()
        events = list(CHANNEL_EVENTS.values())
        while report.kills < kills and (deadline is None or time.monotonic() < deadline) and report.hangs < 3:
            chaos.rng.choice(events)(chaos)
        _finish(chaos)
        channel.unlink()
        channel.close()
        left = sorted(os.listdir(scratch))
        if left:
            chaos.problem(f"files left behind: {left}")
    report.seconds = time.monotonic() - began
    return report


def _finish(chaos: _Round) -> None:
    """Stop the clients, count their replies, claim every slot, ask the server once more, stop it."""
    chaos.stop.set()
    for ident, proc in chaos.clients.items():
        chaos.reap(proc, f"client {ident} asked to stop", killed=False, expect=0)
    chaos.report.replies = sum(chaos.replies[:chaos.next_id])
    att = chaos.channel._attachment()
    claimed = []
    for _ in range(SLOTS):
        got = att.table.claim(att.seg.fd)
        if got is not None:
            claimed.append(got)
    chaos.report.slots_back = len(claimed)
    for index, lease, state in claimed:
        att.table.finish(index, state)
        lease.release()
    if chaos.report.slots_back != SLOTS:
        chaos.problem(f"only {chaos.report.slots_back} of {SLOTS} slots could be claimed after the round")
    try:
        if chaos.channel.request(b"last", timeout=cv.WAIT_S) != b"last":
            chaos.problem("the last request got another reply")
    except shmring.ShmringError as err:
        chaos.problem(f"the server did not answer after the round: {err!r}")
    chaos.reap(chaos.server, "server at the end")
