"""Plan the trials, run them round-robin across subjects, aggregate the numbers.

This is the part a ``shmring bench`` command needs: ``run(["shmring", "shmring-spin",
*FLOORS], ...)`` imports no peer library.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import platform
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from . import floors
from .base import ChannelSpec, Transport
from .measures import MEASURES, Measure, roles_for
from .shmring_ring import shmring_transports
from .workers import TrialFailed, WorkerPair

FLOORS = (floors.COPY_FLOOR, *floors.RTT_FLOORS)
PLACEMENTS = {"cross-core": (0, 1), "same-core": (1, 1)}
TRIAL_TIMEOUT = 120.0
PRIMARY = {"rtt": "median_us", "msg": "msgs_per_s", "batch": "msgs_per_s", "copy": "gb_per_s",
           "inplace": "us_per_frame"}
Progress = Callable[[int, int, str], None]


def applies(subject: str, t: Transport | None, m: Measure) -> bool:
    if subject == floors.COPY_FLOOR:
        return m.kind == "copy"
    if subject in floors.RTT_FLOORS:
        return m.kind == "rtt"
    assert t is not None
    if m.kind == "batch":
        return t.batched
    return m.kind != "inplace" or t.zero_copy_write


def metrics(m: Measure, a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """Turn one trial's raw numbers (worker A's and B's) into the reported metrics."""
    if m.kind == "rtt":
        return {"median_us": a["median_us"], "p99_us": a["p99_us"]}
    raw = b or a  # the consumer's clock and CPU; the copy floor runs in A alone
    n, secs = raw["n"], raw["secs"]
    out = {"cpu_us": raw["cpu"] / n * 1e6, "us_per_frame": secs / n * 1e6}
    if m.kind == "inplace":  # the writer's clock: reserve + fill + commit
        out["us_per_frame"] = a["secs"] / a["n"] * 1e6
    if m.kind in ("msg", "batch"):
        out["msgs_per_s"] = n / secs
    if m.kind == "copy":
        out["gb_per_s"] = n * m.nbytes / secs / 1e9
    return out


def summarize(values: list[float]) -> dict[str, Any]:
    v = np.asarray(values, float)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "min": float(v.min()), "max": float(v.max()),
            "q1": float(q1), "q3": float(q3), "n": int(v.size), "values": [float(x) for x in v]}


class Runner:
    def __init__(self, transports: dict[str, Transport], subjects: list[str],
                 measures: list[str], placements: list[str], reps: int, quick: bool) -> None:
        self.transports, self.quick, self.reps = transports, quick, reps
        self.skipped: dict[str, str] = {}
        self.subjects = [s for s in subjects if self._usable(s)]
        self.measures = [MEASURES[name] for name in measures]
        self.placements = placements
        self.samples: dict[tuple[str, str, str], list[dict[str, float]]] = {}
        self.failed: dict[tuple[str, str, str], str] = {}
        self.counter = itertools.count()

    def _usable(self, subject: str) -> bool:
        if subject in FLOORS:
            reason = floors.unavailable(subject)
        else:
            reason = self.transports[subject].unavailable()
        if reason:
            self.skipped[subject] = reason
        return reason is None

    def plan(self) -> list[tuple[int, Measure, str, str]]:
        """Every trial, in run order: repetitions outermost, subjects innermost."""
        return [
            (rep, m, place, s)
            for rep in range(self.reps)
            for m in self.measures
            for place in self.placements
            for s in self.subjects
            if applies(s, self.transports.get(s), m)
        ]

    def run(self, progress: Progress | None = None) -> dict[str, Any]:
        trials = self.plan()
        used = [self.transports[s] for s in self.subjects if s in self.transports]
        pair = WorkerPair({t.name: t for t in used}, max(m.nbytes for m in self.measures))
        try:
            for i, (rep, m, place, subject) in enumerate(trials):
                if progress:
                    progress(i, len(trials), f"{subject} {m.name} {place} #{rep + 1}")
                self._trial(pair, m, place, subject)
            if progress:
                progress(len(trials), len(trials), "done")
        except BaseException:  # Ctrl-C included: do not wait for a trial in flight
            pair.stop(kill=True)
            raise
        pair.stop()
        return self.results()

    def _trial(self, pair: WorkerPair, m: Measure, place: str, subject: str) -> None:
        key3 = (subject, m.name, place)
        if key3 in self.failed:
            return  # reported once; a library that lost data is not timed again
        warm, n = m.plan(self.quick)
        params = {"kind": m.kind, "nbytes": m.nbytes, "shape": m.shape, "dtype": m.dtype,
                  "depth": m.depth, "warm": warm, "n": n, "quick": self.quick}
        cpu_a, cpu_b = PLACEMENTS[place]
        role_a, role_b = roles_for(m.kind)
        cmd = {"subject": subject, "params": params, "specs": None}
        cmds: list[dict[str, Any] | None]
        if subject == floors.COPY_FLOOR:
            cmds = [dict(cmd, role="solo", cpu=cpu_a), None]
        else:
            cmds = [dict(cmd, role=role_a, cpu=cpu_a), dict(cmd, role=role_b, cpu=cpu_b)]
        t = self.transports.get(subject)
        handle = None
        try:
            if t is not None:
                key = f"{os.getpid()}-{next(self.counter)}"
                specs = [ChannelSpec(key, i, m.nbytes, m.shape, m.dtype, m.depth) for i in (0, 1)]
                with _deferred_interrupt():
                    handle = t.setup(key, specs)
                for c in cmds:
                    if c is not None:
                        c["specs"] = specs
            else:
                floors.reset()
            a, b = [*pair.run(cmds, TRIAL_TIMEOUT), {}][:2]
            self.samples.setdefault(key3, []).append(metrics(m, a, b))
        except TrialFailed as err:
            self.failed[key3] = str(err)
        except Exception as err:  # noqa: BLE001 - a setup error is this subject's failure
            self.failed[key3] = f"ERROR in setup: {type(err).__name__}: {err}"
        finally:
            if t is not None and handle is not None:
                try:
                    with _deferred_interrupt():
                        t.teardown(handle)
                except Exception as err:  # noqa: BLE001
                    self.failed.setdefault(key3, f"ERROR in teardown: {err}")

    def results(self) -> dict[str, Any]:
        rows = []
        for (subject, mname, place), samples in sorted(self.samples.items()):
            if (subject, mname, place) in self.failed:
                continue
            keys = samples[0].keys()
            rows.append({"subject": subject, "measure": mname, "placement": place, "status": "ok",
                         "metrics": {k: summarize([s[k] for s in samples]) for k in keys}})
        for (subject, mname, place), why in sorted(self.failed.items()):
            rows.append({"subject": subject, "measure": mname, "placement": place,
                         "status": why, "metrics": {}})
        return {
            "machine": machine_info(),
            "config": {"quick": self.quick, "reps": self.reps, "placements": self.placements,
                       "measures": [m.name for m in self.measures], "subjects": self.subjects,
                       "counts": {m.name: m.plan(self.quick) for m in self.measures}},
            "descriptions": {s: self.transports[s].description
                             for s in self.subjects if s in self.transports},
            "skipped": self.skipped,
            "rows": rows,
        }


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[None]:
    """Hold Ctrl-C back while channels are made or removed, so none is left half made."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "kernel": platform.release(),
                            "cpus": os.cpu_count(), "numpy": np.__version__}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            info[var] = os.environ[var]
    info["versions"] = _versions(["shmring", "pyzmq", "faster-fifo", "iceoryx2", "posix-ipc"])
    return info


def _versions(names: Iterable[str]) -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def run(subjects: list[str], measures: list[str] | None = None, *, quick: bool = False,
        reps: int | None = None, placements: list[str] | None = None,
        transports: dict[str, Transport] | None = None,
        progress: Progress | None = None) -> dict[str, Any]:
    """Run the benchmark over ``subjects`` (transport names and floor names)."""
    if transports is None:
        transports = {t.name: t for t in shmring_transports()}
    runner = Runner(transports, subjects, measures or list(MEASURES),
                    placements or list(PLACEMENTS), reps or (1 if quick else 5), quick)
    return runner.run(progress)
