"""Soak: a writer at full rate while readers join and leave as fast as they can; resources stay flat.

The writer (``block`` policy, so every join, release and leave is on its
critical path) and two churning processes run for ``seconds``. Each churner
loops: open the ring, attach a reader (copy or zero-copy, any start), read a
few frames, leave (close, or drop the handles for the garbage collector).
Every process's RSS, open descriptors and memory mappings are read from
``/proc`` (by a churner itself, between two joins, when it holds nothing) and
the entries of the ring's directory counted, once a second. After a
warm-up, the last sample must equal the baseline (fds, mappings, directory
entries) or stay within :data:`RSS_SLACK_KB` (RSS, the allocator's noise).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shmring

from . import frames

__all__ = ["MAPS_SLACK", "RSS_SLACK_KB", "SoakReport", "run"]

RSS_SLACK_KB = 8 << 10
#: Mappings a process may gain without a leak: malloc opens arenas and numpy
#: maps large buffers as it sees fit. A leak per join (thousands of joins per
#: soak) would pass this many within the first second.
MAPS_SLACK = 8
_SPAWN = mp.get_context("spawn")


def _writer(path: str, stop: Any, results: Any) -> None:
    rng = random.Random(7)
    written = 0
    with shmring.Ring.open(Path(path)) as ring, ring.writer() as writer:
        while not stop.is_set():
            data, meta = frames.make(rng.getrandbits(32), 1024)
            writer.put(data, meta=meta, timeout=10)
            written += 1
    results.put(("writer", written, 0))


def _churner(path: str, seed: int, stop: Any, results: Any, gauge: Any) -> None:
    rng = random.Random(seed)
    joins = torn = 0
    next_gauge = 0.0
    while not stop.is_set():
        if time.monotonic() >= next_gauge:  # between joins, holding nothing: what it keeps for good
            gauge[:] = _sample(os.getpid())
            next_gauge = time.monotonic() + 0.5
        ring = shmring.Ring.open(Path(path))
        reader = ring.reader(start=rng.choice(("next", "oldest", "latest")), name=f"c{joins % 100}")
        view = rng.random() < 0.5
        for _ in range(rng.randrange(1, 20)):
            try:
                frame = reader.get(timeout=1, view=view)
            except shmring.WaitTimeout:
                break
            torn += not frames.is_whole(frame.data, frame.meta) and frame.valid()
            frame.release()
        if rng.random() < 0.5:
            reader.close()
            ring.close()
        del reader, ring  # else left to the garbage collector, as careless users do
        joins += 1
    results.put(("churner", joins, torn))


def _sample(pid: int) -> tuple[int, int, int]:
    """(RSS in KiB, open descriptors, memory mappings) of process ``pid``."""
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/maps") as f:
        maps = sum(1 for _ in f)
    return rss, fds, maps


@dataclass
class SoakReport:
    """Baseline and last samples per process role, counts, and what was not flat."""

    seconds: float
    joins: int = 0
    written: int = 0
    torn: int = 0
    baseline: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    last: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    entries: tuple[int, int] = (0, 0)
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems and self.torn == 0


def run(seconds: float) -> SoakReport:
    """Soak for ``seconds`` (at least 10) and report."""
    report = SoakReport(seconds)
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="chaos-soak-") as scratch:
        ring = shmring.Ring.create(Path(scratch) / "soak", slots=8, slot_bytes=4096, meta_bytes=64, policy="block")
        stop, results = _SPAWN.Event(), _SPAWN.Queue()
        procs = {"writer": _SPAWN.Process(target=_writer, args=(str(ring.path), stop, results), daemon=True)}
        gauges = {}
        for n in range(2):
            gauges[f"churner {n}"] = gauge = _SPAWN.Array("q", 3, lock=False)
            procs[f"churner {n}"] = _SPAWN.Process(target=_churner, args=(str(ring.path), n, stop, results, gauge),
                                                   daemon=True)
        for proc in procs.values():
            proc.start()
        _watch(report, procs, gauges, scratch, seconds)
        stop.set()
        _collect(report, procs, results)
        ring.unlink()
        ring.close()
    return report


def _watch(report: SoakReport, procs: dict[str, Any], gauges: dict[str, Any], scratch: str,
           seconds: float) -> None:
    began = time.monotonic()
    warm = began + max(5.0, seconds * 0.25)
    end = began + max(seconds, 10.0)
    while time.monotonic() < end:
        time.sleep(1.0)  # the sampling period
        samples = {role: tuple(gauges[role]) if role in gauges else _sample(p.pid) for role, p in procs.items()}
        entries = len(os.listdir(scratch))
        if not report.baseline and time.monotonic() >= warm:
            report.baseline, report.entries = samples, (entries, entries)
        report.last, report.entries = samples, (report.entries[0], entries)
    for role, (rss, fds, maps) in report.baseline.items():
        rss2, fds2, maps2 = report.last[role]
        if fds2 != fds or maps2 > maps + MAPS_SLACK or rss2 > rss + RSS_SLACK_KB:
            report.problems.append(f"{role}: rss {rss} -> {rss2} KiB, fds {fds} -> {fds2}, maps {maps} -> {maps2}")
    if report.entries[1] != 1:
        report.problems.append(f"the ring's directory holds {report.entries[1]} entries, not 1")


def _collect(report: SoakReport, procs: dict[str, Any], results: Any) -> None:
    for _ in procs:
        try:
            role, count, torn = results.get(timeout=30)
        except Exception:  # noqa: BLE001 - queue.Empty: a process did not stop
            report.problems.append("a soak process did not report within 30 s of the stop")
            continue
        report.torn += torn
        if role == "writer":
            report.written = count
        else:
            report.joins += count
    for proc in procs.values():
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join(10)
            report.problems.append("a soak process did not end within 10 s of the stop")
