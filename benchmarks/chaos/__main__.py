"""``python -m benchmarks.chaos --minutes N``: the full reliability campaign, printed as a table.

By default: 1,000 kills per policy and 1,000 each against the legacy queue, the
channel and each bridge mode, 25,000 mutated files per fuzz target (the C library's
openers among them) and a soak of up to 10 minutes,
within ``--minutes``: the soak takes up to 40 % of the budget, the other parts
share the rest equally, each stopping at its deadline. Part ``c`` kills C
writers and readers (``c_kill``) and fuzzes the sanitized C build. ``--parts``
picks some. Failing fuzz cases are saved under ``--save``. Exit status 0 when every part is clean, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from shmring import _format as F

from . import bridge_kill, c_kill, channel_kill, fuzz, kill, legacy_kill, soak
from .c_targets import SANITIZED_OPENERS
from .targets import OPENERS

PARTS = ("kill", "legacy", "channel", "bridge", "fuzz", "c", "soak")
Row = tuple[str, str, str, str, bool]


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="time budget for the whole campaign")
    parser.add_argument("--kills", type=int, default=1000, help="SIGKILLs per policy")
    parser.add_argument("--fuzz-cases", type=int, default=25_000, help="mutated files per fuzz target")
    parser.add_argument("--soak-seconds", type=float, default=600.0, help="longest soak")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    parser.add_argument("--seed", type=int, default=1, help="master seed of kills and mutations")
    parser.add_argument("--save", type=Path, default=Path("benchmarks/results/chaos-failures"),
                        help="where the bytes of failing fuzz cases go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    began = time.monotonic()
    parts = [p for p in PARTS if p in args.parts.split(",")]
    budget = args.minutes * 60
    soak_s = max(10.0, min(args.soak_seconds, 0.4 * budget)) if "soak" in parts else 0.0
    share = (budget - soak_s) / max(1, len([p for p in parts if p != "soak"]))
    rows: list[Row] = []
    for part in parts:
        deadline = time.monotonic() + (soak_s if part == "soak" else share)
        for row in _RUNNERS[part](args, deadline):
            rows.append(row)
            _progress(row)
    _table(rows, time.monotonic() - began)
    return 0 if all(row[4] for row in rows) else 1


def _kill_rows(args: argparse.Namespace, deadline: float, run: Callable[..., kill.KillReport] = kill.run,
               label: str = "kill -9") -> Iterator[Row]:
    for n, policy in enumerate(F.POLICIES):
        left = (deadline - time.monotonic()) / (len(F.POLICIES) - n)
        r = run(policy, args.kills, seed=args.seed + n, deadline=time.monotonic() + left)
        events = ", ".join(f"{k} {v}" for k, v in sorted(r.events.items()))
        outcome = (f"{r.written:,} frames written; verifiers received+lost "
                   f"{' / '.join(str(v['received'] + v['lost']) for v in r.verifiers)}, lost "
                   f"{' / '.join(str(v['lost']) for v in r.verifiers)}; torn {r.torn}, hangs {r.hangs}")
        yield (f"{label}, {policy}", f"{r.kills:,} kills in {r.seconds:.0f} s ({events})", outcome,
               "; ".join(r.problems[:3]), r.clean)


def _legacy_rows(args: argparse.Namespace, deadline: float) -> Iterator[Row]:
    r = legacy_kill.run(args.kills, seed=args.seed, deadline=deadline)
    events = ", ".join(f"{k} {v}" for k, v in sorted(r.events.items()))
    c = r.consumer
    seen = f"{c.get('received', 0):,} buffers received; torn {c.get('torn')}, gaps {c.get('gaps')}, " \
           f"Locker timeouts {c.get('stuck')}"
    yield ("kill -9, legacy queue", f"{r.kills:,} kills in {r.seconds:.0f} s ({events})", seen,
           "; ".join(r.problems[:3]), r.clean)


def _fuzz_rows(args: argparse.Namespace, deadline: float,
               openers: dict[tuple[str, str], Callable[[Path], None]] = OPENERS) -> Iterator[Row]:
    for n, (layout, opener) in enumerate(sorted(openers)):
        left = (deadline - time.monotonic()) / (len(openers) - n)
        f = fuzz.run(layout, opener, args.fuzz_cases, master=args.seed, save_dir=args.save,
                     deadline=time.monotonic() + left, opener=openers[(layout, opener)])
        outcomes = ", ".join(f"{k} {v:,}" for k, v in f.outcomes.most_common())
        yield (f"fuzz, {layout}", f"{f.cases:,} files in {f.seconds:.0f} s ({opener})", outcomes,
               f"{f.failures} failures, {f.crashes} crashes, {f.hangs} hangs "
               + "; ".join(p.splitlines()[0] for p in f.problems[:2]), f.clean)


def _c_rows(args: argparse.Namespace, deadline: float) -> Iterator[Row]:
    """C writers and readers killed under Python verifiers, then the sanitized C build fuzzed: half the time each."""
    yield from _kill_rows(args, time.monotonic() + (deadline - time.monotonic()) / 2, c_kill.run, "kill -9 of C")
    yield from _fuzz_rows(args, deadline, SANITIZED_OPENERS)


def _soak_rows(args: argparse.Namespace, deadline: float) -> Iterator[Row]:
    s = soak.run(max(10.0, deadline - time.monotonic()))
    flat = ", ".join(f"{role} rss {s.baseline[role][0]:,}->{s.last[role][0]:,} KiB fds {s.baseline[role][1]}->"
                     f"{s.last[role][1]} maps {s.baseline[role][2]}->{s.last[role][2]}" for role in s.baseline)
    yield ("soak, block", f"{s.seconds:.0f} s: {s.joins:,} reader joins, {s.written:,} frames",
           f"{flat}; directory entries {s.entries[0]}->{s.entries[1]}; torn {s.torn}", "; ".join(s.problems),
           s.clean)


def _channel_rows(args: argparse.Namespace, deadline: float) -> Iterator[Row]:
    r = channel_kill.run(args.kills, seed=args.seed, deadline=deadline)
    events = ", ".join(f"{k} {v}" for k, v in sorted(r.events.items()))
    lat = sorted(r.latencies) or [0.0]
    seen = (f"{r.replies:,} replies, wrong {r.wrong}; {r.broken_notices:,} BrokenErrors, after a server's kill "
            f"median {lat[len(lat) // 2]:.2f} s, max {lat[-1]:.2f} s; slots free at the end "
            f"{r.slots_back}/{channel_kill.SLOTS}; hangs {r.hangs}")
    yield ("kill -9, channel", f"{r.kills:,} kills in {r.seconds:.0f} s ({events})", seen,
           "; ".join(r.problems[:3]), r.clean)


def _bridge_rows(args: argparse.Namespace, deadline: float) -> Iterator[Row]:
    # Lossless with only the receiver killed: nothing may be lost at all (the sender holds the frames).
    rounds = (("live", None), ("lossless", None), ("lossless", ["receiver at a random moment"]))
    for n, (mode, only) in enumerate(rounds):
        left = (deadline - time.monotonic()) / (len(rounds) - n)
        r = bridge_kill.run(mode, args.kills, seed=args.seed + n, deadline=time.monotonic() + left, events=only)
        if only and any(v["lost"] for v in r.verifiers):
            r.problems.append(f"lossless lost frames with only the receiver killed: {r.verifiers}")
        name = f"{mode}, receiver only" if only else mode
        events = ", ".join(f"{k} {v}" for k, v in sorted(r.events.items()))
        seen = (f"{r.written:,} frames written; far verifiers received+lost "
                f"{' / '.join(str(v['received'] + v['lost']) for v in r.verifiers)}, lost "
                f"{' / '.join(str(v['lost']) for v in r.verifiers)}; torn {r.torn}, hangs {r.hangs}")
        yield (f"kill -9, bridge {name}", f"{r.kills:,} kills in {r.seconds:.0f} s ({events})", seen,
               "; ".join(r.problems[:3]), r.clean)


_RUNNERS: dict[str, Callable[[argparse.Namespace, float], Iterator[Row]]] = {
    "kill": _kill_rows, "legacy": _legacy_rows, "channel": _channel_rows, "bridge": _bridge_rows,
    "fuzz": _fuzz_rows, "c": _c_rows, "soak": _soak_rows,
}


def _progress(row: Row) -> None:
    print(f"{'ok  ' if row[4] else 'FAIL'} {row[0]}: {row[1]}", file=sys.stderr, flush=True)


def _table(rows: list[Row], seconds: float) -> None:
    print(f"shmring chaos campaign: {seconds / 60:.1f} min\n")
    print("| part | done | what was seen | problems | verdict |")
    print("|---|---|---|---|---|")
    for part, done, seen, problems, clean in rows:
        print(f"| {part} | {done} | {seen} | {problems or 'none'} | {'clean' if clean else 'FAILED'} |")


if __name__ == "__main__":
    sys.exit(main())
