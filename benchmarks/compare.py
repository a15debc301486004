"""Benchmark shmring against its peers and the floors; write a table and a plot.

Usage (from the repository root)::

    python -m benchmarks.compare            # everything, about 5-8 minutes
    python -m benchmarks.compare --quick    # under a minute
    python -m benchmarks.compare --only shmring,iceoryx2,futex --measures rtt64,copy8M
    python -m benchmarks.compare --only shmring,c-to-c,c-to-py,copyto --measures msg64,copy1M,copy8M,copy32M

The subjects ``c-to-c`` and ``c-to-py`` are libshmring's C writer with a C or a
Python reader (``benchmarks/c_cases.py``; they need gcc and make).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks import c_cases, report
from benchmarks.transports import registry
from shmring._bench import runner
from shmring._bench.measures import MEASURES

RESULTS = Path(__file__).resolve().parent / "results"


def _progress(i: int, n: int, what: str) -> None:
    width = 30
    done = width * i // max(n, 1)
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {i}/{n} {what:<45.45}")
    if i == n:
        sys.stderr.write("\n")
    sys.stderr.flush()


def parse(argv: list[str] | None) -> argparse.Namespace:
    subjects = list(registry()) + list(c_cases.SUBJECTS) + list(runner.FLOORS)
    p = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer messages, one repetition (< 1 min; no spread)")
    p.add_argument("--reps", type=int, help="repetitions per trial (default 5, quick 1)")
    p.add_argument("--only", help=f"comma-separated subjects (default all): {','.join(subjects)}")
    p.add_argument("--skip", default="", help="comma-separated subjects to leave out")
    p.add_argument("--measures", help=f"comma-separated (default all): {','.join(MEASURES)}")
    p.add_argument("--placement", choices=[*runner.PLACEMENTS, "both"], default="both")
    p.add_argument("--out", type=Path, default=RESULTS, help="output directory (default %(default)s)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG (no matplotlib needed)")
    args = p.parse_args(argv)
    chosen = args.only.split(",") if args.only else subjects
    unknown = [s for s in chosen + [s for s in args.skip.split(",") if s] if s not in subjects]
    measures = args.measures.split(",") if args.measures else list(MEASURES)
    unknown += [m for m in measures if m not in MEASURES]
    if unknown:
        p.error(f"unknown subject or measure: {', '.join(unknown)}")
    args.subjects = [s for s in chosen if s not in args.skip.split(",")]
    args.measure_list = measures
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if (os.cpu_count() or 1) < 2:
        print("note: one CPU only; cross-core numbers are meaningless", file=sys.stderr)
    places = list(runner.PLACEMENTS) if args.placement == "both" else [args.placement]
    t0 = time.monotonic()
    python_subjects = [s for s in args.subjects if s not in c_cases.SUBJECTS]
    results = runner.run(python_subjects, args.measure_list, quick=args.quick, reps=args.reps,
                         placements=places, transports=registry(), progress=_progress)
    c_cases.merge(results, c_cases.run(args.subjects, args.measure_list, quick=args.quick,
                                       reps=args.reps or (1 if args.quick else 5), placements=places))
    results["config"]["wall_secs"] = round(time.monotonic() - t0, 1)
    for s, why in results["skipped"].items():
        print(f"skipped {s}: {why}", file=sys.stderr)
    print(report.write(results, args.out, with_plot=not args.no_plot))
    print(f"({results['config']['wall_secs']} s; written to {args.out.name}/results.md, "
          f"results.json{'' if args.no_plot else ', plot.png'})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
