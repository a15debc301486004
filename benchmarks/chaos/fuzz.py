"""Fuzzing every file ``open`` accepts: seeded mutations, run in a subprocess that may crash.

A case is a seed file (a valid file of one layout, :mod:`targets`) and a short
list of :data:`Mutation` s: flipped bits, bytes set at random, the file cut
short or extended, a named field set to an absurd count, a region zeroed. The
same ``(master seed, index)`` always gives the same mutations, and the bytes of
every failing case are saved, so a failure is reproduced by opening that file.

Cases run in a child process: an opener raising anything but a
:class:`shmring.ShmringError` is a *failure*, the child dying of a signal
(SIGSEGV, SIGBUS) a *crash*, a case taking longer than :data:`HANG_S` a *hang*.
After a crash or a hang the child is replaced and the run goes on. An opener
that runs a program of its own (:mod:`peers`) reports that program's crash or
hang as :class:`~peers.PeerCrashed` / :class:`~peers.PeerHung`, counted alike.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import resource
import shutil
import signal
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import shmring

from .peers import PeerCrashed, PeerHung
from .targets import LAYOUTS, OPENERS, Seed, build_seeds

__all__ = ["HANG_S", "KINDS", "FuzzReport", "Mutation", "apply", "case_bytes", "random_mutations", "run"]

#: A case still running after this many seconds is a hang (openers never wait longer than 0.01 s).
HANG_S = 10.0
#: (kind, position, value): what one mutation does, as plain data so any generator can make it.
Mutation = tuple[str, int, int]
KINDS = ("flip", "byte", "truncate", "extend", "field", "zero")
#: Values a count field is set to: the edges every size computation must survive.
ABSURD = (0, 1, 2, 3, 7, 63, 64, 4095, 4096, 2**16, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**48, 2**62,
          2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1)

_SPAWN = mp.get_context("spawn")


def apply(seed: Seed, mutations: list[Mutation]) -> bytes:
    """The seed's bytes with ``mutations`` applied in order (positions wrap into the data)."""
    data = bytearray(seed.data)
    for kind, pos, value in mutations:
        if kind == "truncate":
            del data[pos % (len(data) + 1):]
        elif kind == "extend":
            data += bytes([value & 0xFF]) * (pos % 8192 + 1)
        elif not data:
            continue
        elif kind == "flip":
            data[pos % len(data)] ^= 1 << (value % 8)
        elif kind == "byte":
            data[pos % len(data)] = value & 0xFF
        elif kind == "zero":
            start = pos % len(data)
            data[start:start + value % 4096 + 1] = bytes(len(data[start:start + value % 4096 + 1]))
        elif kind == "field" and seed.fields:
            f = seed.fields[pos % len(seed.fields)]
            raw = (value % (1 << (8 * f.width))).to_bytes(f.width, "little")
            data[f.offset:f.offset + f.width] = raw[: max(0, len(data) - f.offset)]
    return bytes(data)


def random_mutations(rng: random.Random, seed: Seed) -> list[Mutation]:
    """One to four mutations, aimed at the seed's region most of the time."""
    start, end = seed.region
    out: list[Mutation] = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choices(KINDS, weights=(4, 3, 1, 1, 5, 1))[0]
        pos = rng.randrange(start, end) if rng.random() < 0.9 else rng.randrange(len(seed.data) + 64)
        if kind == "field":
            pos = rng.randrange(1 << 16)
            value = rng.choice(ABSURD) if rng.random() < 0.7 else rng.getrandbits(64)
        else:
            value = rng.getrandbits(16)
        out.append((kind, pos, value))
    return out


def case_bytes(seeds: list[Seed], master: int, index: int) -> tuple[bytes, list[Mutation]]:
    """Case ``index`` of the run seeded ``master``: the file's bytes and the mutations that made it."""
    rng = random.Random(master * 1_000_003 + index)
    seed = seeds[rng.randrange(len(seeds))]
    mutations = random_mutations(rng, seed)
    return apply(seed, mutations), mutations


def run_case(opener: Any, scratch: Path, name: str, data: bytes) -> str:
    """Write one case to ``scratch/name``, open it; the outcome: ``ok``, the ShmringError's class, or ``FAIL``."""
    path = scratch / name
    path.write_bytes(data)
    try:
        opener(path)
        return "ok"
    except shmring.ShmringError as err:
        return type(err).__name__
    finally:
        for entry in os.scandir(scratch):
            os.unlink(entry.path)


def _worker(layout: str, opener: Callable[[Path], None], seeds: list[Seed], master: int, start: int, stop: int,
            conn: Connection, scratch: str) -> None:
    os.environ["SHMRING_DIR"] = scratch
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash is counted, not dumped
    conn.send((start - 1, "ready", ""))
    name = LAYOUTS[layout].file_name(Path(scratch))
    for index in range(start, stop):
        data, _ = case_bytes(seeds, master, index)
        try:
            outcome = run_case(opener, Path(scratch), name, data)
            conn.send((index, outcome, ""))
        except PeerCrashed as err:
            conn.send((index, "crash", str(err)))
        except PeerHung as err:
            conn.send((index, "hang", str(err)))
        except Exception as err:  # noqa: BLE001 - exactly what the fuzzer looks for
            conn.send((index, "FAIL", f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=6)}"))
    conn.send((stop, "done", ""))


@dataclass
class FuzzReport:
    """Outcome counts of one target's run; ``problems`` holds the failing cases' details."""

    target: str
    cases: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: int = 0
    crashes: int = 0
    hangs: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return self.failures == self.crashes == self.hangs == 0


def run(layout: str, opener_name: str, cases: int, *, master: int = 1, save_dir: Path | None = None,
        deadline: float | None = None, opener: Callable[[Path], None] | None = None,
        hang_s: float = HANG_S) -> FuzzReport:
    """Run ``cases`` cases of ``layout`` through one opener in child processes; stop early at ``deadline``.

    The opener is ``OPENERS[(layout, opener_name)]`` unless ``opener`` (a module-level
    function, so that a child can import it) is given.
    """
    seeds = build_seeds()[layout]
    opener = opener or OPENERS[(layout, opener_name)]
    report = FuzzReport(f"{layout} / {opener_name}")
    began = time.monotonic()
    next_index = 0
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="chaos-fuzz-") as scratch:
        while next_index < cases and (deadline is None or time.monotonic() < deadline):
            stop = min(cases, next_index + 2000)
            next_index = _run_batch(report, layout, opener, seeds, master, (next_index, stop), scratch,
                                    save_dir, deadline, hang_s)
            shutil.rmtree(scratch, ignore_errors=True)
            os.makedirs(scratch, exist_ok=True)
    report.seconds = time.monotonic() - began
    return report


def _run_batch(report: FuzzReport, layout: str, opener: Callable[[Path], None], seeds: list[Seed], master: int,
               span: tuple[int, int], scratch: str, save_dir: Path | None, deadline: float | None,
               hang_s: float) -> int:
    """Run cases [start, stop) in one child; return where the next child starts."""
    start, stop = span
    ours, theirs = _SPAWN.Pipe(duplex=False)
    child = _SPAWN.Process(target=_worker, args=(layout, opener, seeds, master, start, stop, theirs, scratch),
                           daemon=True)
    child.start()
    theirs.close()
    last, ready = start - 1, False
    try:
        while True:
            if deadline is not None and time.monotonic() > deadline:
                return 1 << 62  # out of time: stop the run
            if not ours.poll(hang_s if ready else 120):  # a fresh interpreter may take a while to start
                _problem(report, "hang", seeds, master, last + 1, f"no answer in {hang_s} s", save_dir)
                return last + 2
            try:
                index, outcome, detail = ours.recv()
            except EOFError:
                child.join(5)
                code = child.exitcode
                why = f"killed by {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"
                _problem(report, "crash", seeds, master, last + 1, why, save_dir)
                return last + 2
            if outcome == "done":
                return stop
            if outcome == "ready":
                ready = True
                continue
            last = index
            if outcome in ("crash", "hang"):  # the opener's own program died or hung on this case
                _problem(report, outcome, seeds, master, index, detail, save_dir)
                continue
            report.cases += 1
            report.outcomes[outcome] += 1
            if outcome == "FAIL":
                _problem(report, "failure", seeds, master, index, detail, save_dir)
    finally:
        ours.close()
        if child.is_alive():
            child.kill()
        child.join(5)


def _problem(report: FuzzReport, kind: str, seeds: list[Seed], master: int, index: int, detail: str,
             save_dir: Path | None) -> None:
    if kind == "crash":
        report.crashes += 1
        report.cases += 1
    elif kind == "hang":
        report.hangs += 1
        report.cases += 1
    else:
        report.failures += 1
    data, mutations = case_bytes(seeds, master, index)
    where = ""
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        target = save_dir / f"{report.target.split(' /')[0].replace(' ', '-')}-{master}-{index}.bin"
        target.write_bytes(data)
        where = f" (file {target})"
    if len(report.problems) < 20:
        report.problems.append(f"{kind} in case {index} {mutations}{where}: {detail}")
