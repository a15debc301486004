"""kill -9 against the legacy ``SharedMem`` queue: producers and lock holders die, nothing is lost or torn.

Producers put checksummed buffers (words: producer id, its count ``k``, the
CRC-32 of the rest, a pattern), retrying while the queue is full, and are
SIGKILLed at a random moment or kill themselves holding the file's Locker; other
processes take the Locker and die holding it. One consumer takes every buffer
and checks it. At the end, for every producer, the buffers received are
exactly ``0..K-1`` in order (none lost, none twice; the buffer in flight when
it died is either whole and published or not there), none is torn, no wait
went unbounded, and nothing is left in the directory once the queue is deleted.
"""

from __future__ import annotations

import os
import random
import signal
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import shmring

from .kill import _CTX, JOIN_S
from .reports import RoundReport

__all__ = ["LegacyKillReport", "run"]

ITEM_BYTES = 16 << 10
WAIT_S = 10.0


def _buffer(producer: int, k: int) -> bytes:
    words = np.arange(3 + (k * 7919) % (ITEM_BYTES // 4 - 3), dtype=np.uint32) * np.uint32(2654435761)
    words[0], words[1] = producer, k
    words[2] = zlib.crc32(words[3:].tobytes())
    return words.tobytes()


def _open(path: str) -> shmring.legacy.SharedMem:
    # Children come from a fork server started before the round: they learn where the
    # Locker's file lives from the queue's directory, not from an environment they lack.
    os.environ["SHMRING_DIR"] = str(Path(path).parent)
    return shmring.legacy.SharedMem.open(path)


def _producer(path: str, producer: int, die_after: int) -> None:
    """Put buffers 0, 1, ...; with ``die_after`` >= 0, SIGKILL itself holding the Locker after that many."""
    end = time.monotonic() + 60
    with _open(path) as mem:
        k = 0
        while time.monotonic() < end:
            if k == die_after:
                with mem.locker:
                    os.kill(os.getpid(), signal.SIGKILL)
            if mem.put_buf(_buffer(producer, k)):
                k += 1
            else:  # full: wait (bounded) until the consumer takes one, then retry the same buffer
                mem.locker.data_signal.sleep(mem.locker.data_signal.snapshot(), 0.01)


def _lock_holder(path: str, ready: Any) -> None:
    with _open(path) as mem, mem.locker:
        ready.put(os.getpid())
        time.sleep(60)  # holds the Locker until killed


def _consumer(path: str, stop: Any, results: Any) -> None:
    seen: dict[int, int] = {}
    report = {"received": 0, "torn": 0, "gaps": 0, "stuck": 0}
    with _open(path) as mem:
        idle_since = time.monotonic()
        while not (stop.is_set() and mem.header().count == 0):
            try:
                got = mem.get_buf(timeout=0.2)
            except shmring.WaitTimeout:  # the Locker stayed held for 10 s: a lock that was not robust
                report["stuck"] += 1
                continue
            if got is None:
                if time.monotonic() - idle_since > 60:
                    break
                continue
            idle_since = time.monotonic()
            words = np.frombuffer(bytes(got.data), np.uint32)
            report["received"] += 1
            if len(words) < 3 or words[2] != zlib.crc32(words[3:].tobytes()):
                report["torn"] += 1
                continue
            producer, k = int(words[0]), int(words[1])
            report["gaps"] += k != seen.get(producer, -1) + 1
            seen[producer] = k
    results.put(report)


@dataclass(kw_only=True)
class LegacyKillReport(RoundReport):
    """What the legacy queue's round saw: the consumer's torn, gap and stuck counts."""

    consumer: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        c = self.consumer
        return not self.problems and bool(c) and c["torn"] == c["gaps"] == c["stuck"] == 0


def _reap(report: LegacyKillReport, proc: Any, role: str, *, kill: bool = True) -> None:
    if kill and proc.is_alive():
        os.kill(proc.pid, signal.SIGKILL)
    proc.join(JOIN_S)
    if proc.is_alive() or proc.exitcode != -signal.SIGKILL:
        report.problems.append(f"{role}: exit code {proc.exitcode}, not killed within {JOIN_S} s")
        proc.kill()
        proc.join(JOIN_S)


def run(kills: int, *, seed: int = 1, deadline: float | None = None) -> LegacyKillReport:
    """At least ``kills`` SIGKILLs of producers and Locker holders (fewer if ``deadline`` comes first)."""
    report = LegacyKillReport()
    rng = random.Random(seed)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="chaos-legacy-") as scratch:
        old = os.environ.get("SHMRING_DIR")
        os.environ["SHMRING_DIR"] = scratch  # the Locker's file goes here too
        try:
            path = str(Path(scratch) / "smem_chaos")
            mem = shmring.legacy.SharedMem.create(path, ITEM_BYTES, 4)
            stop, results = _CTX.Event(), _CTX.Queue()
            consumer = _CTX.Process(target=_consumer, args=(path, stop, results), daemon=True)
            consumer.start()
            producer_id = 0
            while report.kills < kills and (deadline is None or time.monotonic() < deadline):
                producer_id += 1
                choice = rng.random()
                if choice < 0.2:
                    # A queue of its own: a process killed while its queue's feeder holds the
                    # queue's lock leaves that queue unusable for the next one.
                    ready = _CTX.Queue()
                    holder = _CTX.Process(target=_lock_holder, args=(path, ready), daemon=True)
                    holder.start()
                    try:
                        ready.get(timeout=60)
                    except Exception:  # noqa: BLE001 - queue.Empty
                        report.problems.append(f"a Locker holder did not get the lock in 60 s (exit {holder.exitcode})")
                    _reap(report, holder, "Locker holder")
                    report.events["holding the Locker, idle"] += 1
                elif choice < 0.45:
                    victim = _CTX.Process(target=_producer, args=(path, producer_id, rng.randrange(30)), daemon=True)
                    victim.start()
                    _reap(report, victim, "producer killing itself holding the Locker", kill=False)
                    report.events["producer holding the Locker"] += 1
                else:
                    victim = _CTX.Process(target=_producer, args=(path, producer_id, -1), daemon=True)
                    victim.start()
                    time.sleep(rng.uniform(0.02, 0.15))  # a random moment to strike
                    _reap(report, victim, "producer")
                    report.events["producer at a random moment"] += 1
            stop.set()
            try:
                report.consumer = results.get(timeout=90)
            except Exception:  # noqa: BLE001 - queue.Empty: the consumer hung
                report.problems.append("the consumer did not finish within 90 s")
            consumer.join(JOIN_S)
            mem.locker.unlink()
            mem.delete()
        finally:
            if old is None:
                os.environ.pop("SHMRING_DIR", None)
            else:
                os.environ["SHMRING_DIR"] = old
        left = sorted(os.listdir(scratch))
        if left:
            report.problems.append(f"files left behind: {left}")
    report.seconds = time.monotonic() - began
    return report
