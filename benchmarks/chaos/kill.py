"""kill -9 at random points, per policy: nothing torn, nothing hangs, every frame accounted for.

One round per policy: a ring, two *verifier* readers that read it from the
first frame to the last, and a stream of *events*, each a process killed with
SIGKILL: writers at a random moment, inside ``reserve``, holding the shared
writer lock, blocked in ``put`` under ``block``; readers at a random moment,
holding a zero-copy view, holding an entry they never read; creators in the
middle of ``Ring.create``. At the end of the round:

* no verifier saw a torn or out-of-order frame, and for each
  ``received + lost == written`` exactly (``lost == 0`` under block and drop);
* every wait was bounded: no process outlived its kill, no writer stopped
  making progress, no victim timed out;
* dead readers were reaped: all reader entries can be taken again;
* no file is left in the round's directory once the ring is unlinked.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import shmring
from shmring import _format as F
from shmring import _sync

from . import frames, victims
from .reports import StreamReport, kill_and_join

__all__ = ["EVENTS", "KillReport", "run"]

_CTX = mp.get_context("forkserver")
_CTX.set_forkserver_preload(["numpy", "shmring", "benchmarks.chaos.victims"])
JOIN_S = 10.0  # a killed process is reaped within this, or it is a hang


@dataclass(kw_only=True)
class KillReport(StreamReport):
    """What one policy's round saw."""

    policy: str


class _Round:
    """One ring under attack; event methods start victims, kill them, and note what went wrong."""

    def __init__(self, report: KillReport, ring: shmring.Ring, directory: Path, rng: random.Random) -> None:
        self.report, self.ring, self.dir, self.rng = report, ring, directory, rng
        self.path = str(ring.path)

    # -- helpers ------------------------------------------------------------------

    def start(self, target: Callable[..., None], *args: Any) -> BaseProcess:
        proc = _CTX.Process(target=target, args=args, daemon=True)
        proc.start()
        return proc

    def problem(self, text: str, *, hang: bool = False) -> None:
        self.report.problem(text, hang=hang)

    def write_seq(self) -> int:
        return self.ring.info().write_seq

    def await_progress(self, since: int, what: str) -> bool:
        """Wait (bounded) until the ring has more frames than ``since``; a stall is a hang."""
        end = time.monotonic() + victims.WAIT_S
        while self.write_seq() <= since:
            if time.monotonic() > end:
                self.problem(f"{what}: no frame written within {victims.WAIT_S} s", hang=True)
                return False
            time.sleep(0.001)  # polling a counter nobody announces to us (we are no reader)
        return True

    def reap(self, proc: BaseProcess, role: str, *, killed: bool = True) -> None:
        """Kill (if still running) and join ``proc``; note an exit that shows a problem."""
        code = kill_and_join(proc, role, self.report, JOIN_S, killed=killed)
        if code is None:
            return
        if code in victims.EXIT:
            self.report.torn += code == 3
            self.problem(f"{role}: {victims.EXIT[code]}", hang=code == 4)
        elif code != -signal.SIGKILL:
            self.problem(f"{role} ended with exit code {code}, not by SIGKILL")

    def jitter(self) -> None:
        time.sleep(self.rng.uniform(0, 0.03))  # a random moment to strike: a timer, not a wait

    def seed(self) -> int:
        return self.rng.getrandbits(32)

    # -- events ---------------------------------------------------------------------

    def writer_random(self) -> None:
        before = self.write_seq()
        writer = self.start(victims.victim_writer, self.path, False, -1, self.seed())
        if self.await_progress(before, "writer"):
            self.jitter()
        self.reap(writer, "writer killed at a random moment")
        self.report.events["writer: random moment"] += 1

    def writer_in_reserve(self) -> None:
        writer = self.start(victims.victim_writer, self.path, False, self.rng.randrange(20), self.seed())
        self.reap(writer, "writer killing itself inside reserve", killed=False)
        self.report.events["writer: inside reserve"] += 1

    def shared_writer_holding_lock(self) -> None:
        doomed = self.start(victims.victim_writer, self.path, True, self.rng.randrange(20), self.seed())
        partner = self.start(victims.victim_writer, self.path, True, -1, self.seed())
        self.reap(doomed, "shared writer killing itself holding the put lock", killed=False)
        if self.await_progress(self.write_seq(), "shared writer after its partner died holding the lock"):
            self.jitter()
        self.reap(partner, "shared writer killed at a random moment")
        self.report.events["shared writer: holding the put lock"] += 1
        self.report.events["writer: random moment"] += 1

    def writer_blocked_in_put(self) -> None:
        ready = _CTX.Queue()
        stalled = self.start(victims.stalled_reader, self.path, ready)
        ready.get(timeout=60)
        writer = self.start(victims.victim_writer, self.path, False, -1, self.seed())
        end = time.monotonic() + victims.WAIT_S
        while not self.space_sleepers() and time.monotonic() < end:
            time.sleep(0.001)  # until the writer sleeps on the full ring (nobody announces that)
        if not self.space_sleepers():
            self.problem("writer did not come to wait for space behind a stalled reader")
        self.reap(writer, "writer killed blocked in put")
        self.reap(stalled, "stalled reader killed")
        self.report.events["writer: blocked in put"] += 1
        self.report.events["reader: stalled, holding its entry"] += 1

    def space_sleepers(self) -> int:
        return _sync.load32(self.ring._mapping().buf, F.OFF_SPACE_WAITERS)

    def reader_random(self) -> None:
        before = self.write_seq()
        reader = self.start(victims.victim_reader, self.path, self.rng.random() < 0.5, -1, self.seed())
        writer = self.start(victims.victim_writer, self.path, False, -1, self.seed())
        if self.await_progress(before, "writer beside a reader"):
            self.jitter()
        self.reap(reader, "reader killed at a random moment")
        self.reap(writer, "writer killed at a random moment")
        self.report.events["reader: random moment"] += 1
        self.report.events["writer: random moment"] += 1

    def reader_holding_view(self) -> None:
        reader = self.start(victims.victim_reader, self.path, True, self.rng.randrange(30), self.seed())
        writer = self.start(victims.victim_writer, self.path, False, -1, self.seed())
        self.reap(reader, "reader killing itself holding a view", killed=False)
        self.reap(writer, "writer killed at a random moment")
        self.report.events["reader: holding a view"] += 1
        self.report.events["writer: random moment"] += 1

    def creator_mid_create(self) -> None:
        where = self.dir / "creates"
        where.mkdir(exist_ok=True)
        creator = self.start(victims.creator, str(where), self.seed())
        time.sleep(self.rng.uniform(0.05, 0.25))  # a random moment; the loop is all create and unlink
        self.reap(creator, "creator killed")
        self.report.events["creator: mid-create"] += 1
        hidden = [p.name for p in where.iterdir() if p.name.startswith(".")]
        if hidden:
            self.problem(f"a creator killed mid-create left {hidden} behind")
        shutil.rmtree(where)


#: Event name -> (method, policies it applies to).
EVENTS: dict[str, tuple[Callable[[_Round], None], tuple[str, ...]]] = {
    "writer at a random moment": (_Round.writer_random, F.POLICIES),
    "writer inside reserve": (_Round.writer_in_reserve, F.POLICIES),
    "shared writer holding the lock": (_Round.shared_writer_holding_lock, F.POLICIES),
    "writer blocked in put": (_Round.writer_blocked_in_put, ("block",)),
    "reader at a random moment": (_Round.reader_random, F.POLICIES),
    "reader holding a view": (_Round.reader_holding_view, F.POLICIES),
    "creator mid-create": (_Round.creator_mid_create, F.POLICIES),
}


def run(policy: str, kills: int, *, seed: int = 1, deadline: float | None = None,
        events: Mapping[str, tuple[Callable[[_Round], None], tuple[str, ...]]] = EVENTS) -> KillReport:
    """One round of at least ``kills`` SIGKILLs (fewer if ``deadline``, a monotonic time, comes first).

    ``events`` are the kinds of kill to draw from (another table, e.g. ``c_kill.EVENTS``, puts
    other victims under the same verifiers).
    """
    report = KillReport(policy=policy)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="chaos-kill-") as scratch:
        ring = shmring.Ring.create(Path(scratch) / f"ring-{secrets.token_hex(3)}", slots=8,
                                   slot_bytes=victims.MAX_WORDS * 4, meta_bytes=64, policy=policy)
        target, results, ready = _CTX.Value("q", -1), _CTX.Queue(), _CTX.Queue()
        checkers = [_CTX.Process(target=victims.verifier, args=(str(ring.path), ready, target, results), daemon=True)
                    for _ in range(2)]
        for proc in checkers:
            proc.start()
        for _ in checkers:
            ready.get(timeout=60)
        chaos = _Round(report, ring, Path(scratch), random.Random(seed))
        drawn = [method for method, policies in events.values() if policy in policies]
        while report.kills < kills and (deadline is None or time.monotonic() < deadline):
            chaos.rng.choice(drawn)(chaos)
        _finish(report, ring, target, results, checkers)
        ring.unlink()
        ring.close()
        left = sorted(os.listdir(scratch))
        if left:
            chaos.problem(f"files left behind: {left}")
    report.seconds = time.monotonic() - began
    return report


def _finish(report: KillReport, ring: shmring.Ring, target: Any, results: Any, checkers: Sequence[BaseProcess]) -> None:
    """Write a last few frames, let the verifiers drain to the end, check the reader table."""
    rng = random.Random(0)
    with ring.writer() as writer:
        for _ in range(2 * ring.slots):
            data, meta = frames.make(rng.getrandbits(32), victims.MAX_WORDS)
            writer.put(data, meta=meta, timeout=victims.WAIT_S)
    report.written = ring.info().write_seq
    target.value = report.written
    for _ in checkers:
        try:
            report.verifiers.append(results.get(timeout=60))
        except Exception:  # noqa: BLE001 - queue.Empty: the verifier hung
            report.problems.append("a verifier did not report within 60 s")
            report.hangs += 1
    for proc in checkers:
        proc.join(JOIN_S)
        if proc.is_alive():
            proc.kill()
            proc.join(JOIN_S)
    for v in report.verifiers:
        report.torn += v["torn"]
        if v["disorder"] or not v["reached"] or (report.policy != "overwrite" and v["lost"]):
            report.problems.append(f"verifier: {v} (written {report.written})")
    _check_table(report, ring)


def _check_table(report: KillReport, ring: shmring.Ring) -> None:
    """Every entry of the reader table can be taken again: the dead readers' entries were reaped."""
    taken = []
    try:
        for _ in range(F.READER_ENTRIES):
            taken.append(ring.reader())
    except shmring.ReaderTableFullError:
        report.problems.append(f"only {len(taken)} of {F.READER_ENTRIES} reader entries free after the round")
    finally:
        for reader in taken:
            reader.close()
