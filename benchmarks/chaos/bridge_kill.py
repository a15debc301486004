"""kill -9 against the ZeroMQ bridge: sender and receiver die while a checksummed stream flows.

One round per mode (live, lossless), over 127.0.0.1 only: a camera ring, a paced
camera writing checksummed frames, ``bridge send`` and ``bridge recv`` processes,
and the far ring they write, read from its first frame by two verifier readers
(:func:`benchmarks.chaos.victims.verifier`). Events: the sender, the receiver, or
both SIGKILLed at a random moment and started again; after each, frames must
reach the far ring again (the camera starts once a first frame got through). At
the end, the camera stops, the last frames are written until one gets through,
and for each verifier:

* no torn (CRC mismatch) or out-of-order frame;
* ``received + lost == written`` exactly, where ``written`` is every frame the
  camera ring ever held: the far side's ``Frame.lost`` accounts for every frame it
  did not get, across every restart, as the bridge's loss accounting promises;
* nothing left in the round's directory once both rings are unlinked.

Hostile messages to a receiver are the bridge's own test
(``tests/integration/test_bridge_security.py``), not repeated here.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import shmring

from . import bridge_victims as bv
from . import frames, victims
from .kill import _CTX, JOIN_S
from .reports import StreamReport, kill_and_join

__all__ = ["BRIDGE_EVENTS", "BridgeKillReport", "run"]

_META_SPARE = 64  # the room a receiver adds to the sender's meta_bytes (its source-time key)
FLOW_S = 15.0  # after a restart, frames reach the far ring within this (ZeroMQ reconnects within 1 s)


@dataclass(kw_only=True)
class BridgeKillReport(StreamReport):
    """What one mode's round saw."""

    mode: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Round:
    """The two rings and the processes between them; events kill and restart the bridge ends."""

    def __init__(self, report: BridgeKillReport, cam: shmring.Ring, far: shmring.Ring, rng: random.Random) -> None:
        self.report, self.cam, self.far, self.rng = report, cam, far, rng
        self.lossless = report.mode == "lossless"
        self.endpoint = f"tcp://127.0.0.1:{_free_port()}"
        self.sender = self.start(bv.sender, str(cam.path), self.endpoint, self.lossless)
        self.receiver = self.start(bv.receiver, self.endpoint, str(far.path), self.lossless)

    def start(self, target: Callable[..., None], *args: Any) -> BaseProcess:
        proc = _CTX.Process(target=target, args=args, daemon=True)
        proc.start()
        return proc

    def problem(self, text: str, *, hang: bool = False) -> None:
        self.report.problem(text, hang=hang)

    def reap(self, proc: BaseProcess, role: str) -> None:
        code = kill_and_join(proc, role, self.report, JOIN_S)
        if code is not None and code != -signal.SIGKILL:
            self.problem(f"{role} ended with exit code {code}, not by SIGKILL")

    def await_flow(self, what: str) -> None:
        """Frames reach the far ring again (bounded): the bridge recovered."""
        since = self.far.info().write_seq
        end = time.monotonic() + FLOW_S
        while self.far.info().write_seq <= since:
            for proc, role in ((self.sender, "sender"), (self.receiver, "receiver")):
                if not proc.is_alive():
                    self.problem(f"the {role} exited with code {proc.exitcode} {what}")
                    return
            if time.monotonic() > end:
                self.problem(f"no frame reached the far ring within {FLOW_S} s {what}", hang=True)
                return
            time.sleep(0.002)  # a counter another process moves: nobody announces it to us

    def jitter(self) -> None:
        time.sleep(self.rng.uniform(0, 0.3))  # a random moment to strike: a timer, not a wait

    # -- events ---------------------------------------------------------------------

    def sender_random(self) -> None:
        self.await_flow("before the sender's kill")
        self.jitter()
        self.reap(self.sender, "sender")
        self.sender = self.start(bv.sender, str(self.cam.path), self.endpoint, self.lossless)
        self.await_flow("after the sender's restart")
        self.report.events["sender: random moment"] += 1

    def receiver_random(self) -> None:
        self.await_flow("before the receiver's kill")
        self.jitter()
        self.reap(self.receiver, "receiver")
        self.receiver = self.start(bv.receiver, self.endpoint, str(self.far.path), self.lossless)
        self.await_flow("after the receiver's restart")
        self.report.events["receiver: random moment"] += 1

    def both_random(self) -> None:
        self.await_flow("before both ends' kill")
        self.jitter()
        self.reap(self.receiver, "receiver")
        self.reap(self.sender, "sender")
        self.sender = self.start(bv.sender, str(self.cam.path), self.endpoint, self.lossless)
        self.receiver = self.start(bv.receiver, self.endpoint, str(self.far.path), self.lossless)
        self.await_flow("after both ends' restart")
        self.report.events["sender: random moment"] += 1
        self.report.events["receiver: random moment"] += 1


#: Event name -> method.
BRIDGE_EVENTS: dict[str, Callable[[_Round], None]] = {
    "sender at a random moment": _Round.sender_random,
    "receiver at a random moment": _Round.receiver_random,
    "sender and receiver together": _Round.both_random,
}


def run(mode: str, kills: int, *, seed: int = 1, deadline: float | None = None,
        events: Sequence[str] | None = None) -> BridgeKillReport:
    """One round of at least ``kills`` SIGKILLs in ``mode`` (``live``/``lossless``; fewer if ``deadline`` comes).

    ``events``: names from :data:`BRIDGE_EVENTS` to draw from (default: all).
    """
    report = BridgeKillReport(mode=mode)
    began = time.monotonic()
    policy = "block" if mode == "lossless" else "overwrite"
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="chaos-bridge-") as scratch:
        geometry = {"slots": 8, "slot_bytes": victims.MAX_WORDS * 4, "policy": policy}
        cam = shmring.Ring.create(Path(scratch) / "cam", meta_bytes=64, **geometry)
        far = shmring.Ring.create(Path(scratch) / "far", meta_bytes=64 + _META_SPARE, **geometry)
        target, results, ready = _CTX.Value("q", -1), _CTX.Queue(), _CTX.Queue()
        checkers = [_CTX.Process(target=victims.verifier, args=(str(far.path), ready, target, results), daemon=True)
                    for _ in range(2)]
        for proc in checkers:
            proc.start()
        for _ in checkers:
            ready.get(timeout=60)
        stop = _CTX.Event()
        chaos = _Round(report, cam, far, random.Random(seed))
        _first_frame(chaos)
        camera = chaos.start(bv.camera, str(cam.path), seed, stop)
        chosen = [BRIDGE_EVENTS[name] for name in (events or BRIDGE_EVENTS)]
        while report.kills < kills and (deadline is None or time.monotonic() < deadline) and report.hangs < 3:
            chaos.rng.choice(chosen)(chaos)
        stop.set()
        camera.join(JOIN_S)
        if camera.exitcode != 0:
            chaos.problem(f"the camera ended with exit code {camera.exitcode}")
        _finish(chaos, target, results, checkers)
        for proc, role in ((chaos.sender, "sender"), (chaos.receiver, "receiver")):
            chaos.reap(proc, role)
        for ring in (cam, far):
            ring.unlink()
            ring.close()
        left = sorted(os.listdir(scratch))
        if left:
            chaos.problem(f"files left behind: {left}")
    report.seconds = time.monotonic() - began
    return report


def _first_frame(chaos: _Round) -> None:
    """One frame through the bridge before the camera starts, so no frame precedes the sender's reader.

    (A frame written before the sender attached is lost to the far side, rightly counted,
    but it is start-up, not a kill: the camera waits until the chain is up.)
    """
    with chaos.cam.writer() as writer:
        for tag in range(int(FLOW_S)):  # live mode sends only frames written after the sender attached
            data, meta = frames.make(tag, victims.MAX_WORDS)
            writer.put(data, meta=meta, timeout=victims.WAIT_S)
            end = time.monotonic() + 1.0
            while chaos.far.info().write_seq == 0 and time.monotonic() < end:
                time.sleep(0.002)  # a counter another process moves
            if chaos.far.info().write_seq:
                return
    chaos.problem(f"no frame crossed the bridge within {FLOW_S} s of its start", hang=True)


def _finish(chaos: _Round, target: Any, results: Any, checkers: Sequence[BaseProcess]) -> None:
    """Write last frames until one reaches the far ring whole, then let the verifiers count to it."""
    rng = random.Random(0)
    with chaos.cam.writer() as writer:
        for _ in range(50):  # live mode may drop any one frame on the wire; the next one shows the gap
            data, meta = frames.make(rng.getrandbits(32), victims.MAX_WORDS)
            writer.put(data, meta=meta, timeout=victims.WAIT_S)
            written = chaos.cam.info().write_seq
            end = time.monotonic() + 2.0
            while chaos.far.info().write_seq < written and time.monotonic() < end:
                time.sleep(0.002)  # a counter another process moves
            if chaos.far.info().write_seq == written:
                break
    report = chaos.report
    report.written = chaos.cam.info().write_seq
    if chaos.far.info().write_seq != report.written:
        chaos.problem(f"the far ring ends at {chaos.far.info().write_seq}, the camera's at {report.written}")
    target.value = report.written
    for _ in checkers:
        try:
            report.verifiers.append(results.get(timeout=60))
        except queue.Empty:
            chaos.problem("a verifier did not report within 60 s", hang=True)
    for proc in checkers:
        proc.join(JOIN_S)
    for v in report.verifiers:
        report.torn += v["torn"]
        if v["disorder"] or not v["reached"]:
            chaos.problem(f"verifier: {v} (written {report.written})")
