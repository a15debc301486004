"""Round trip of a 64-byte request and its reply: shmring.Channel against its peers, in one run.

Usage (from the repository root)::

    python -m benchmarks.channel                  # 5,000 round trips per subject and placement
    python -m benchmarks.channel --n 1000 --only channel,pipe --placement cross-core

A server process echoes every request; the client (this process) sends one,
waits for the reply, checks it, and times the whole round trip with
``perf_counter_ns``. ``cross-core`` pins server and client to two different
cores, ``same-core`` both to one (every hand-off is then a context switch).
Subjects that are not installed are skipped with a line saying why.

| subject | what runs |
|---|---|
| `channel` | `shmring.Channel`: `request()` / `serve_forever()` by default: a learned spin (<= 50 µs), then the futex |
| `channel-sleep` | the same with `spin=0` on both sides: futex wake-ups only |
| `channel-spin` | the same, both sides busy-polling 50 µs (`spin=50e-6`) before they sleep |
| `legacy` | `shmring.legacy.send` / `answer` on the original 256-byte message file |
| `iceoryx2` | iceoryx2 request-response, a 64-byte `ctypes` struct, `send_copy`; both sides poll (*) |
| `zmq` | pyzmq REQ/REP over `ipc://` |
| `pipe` | `multiprocessing.Pipe()` (duplex), `send_bytes` / `recv_bytes` |

(*) iceoryx2's Python binding has no blocking wait for a request or a response short
of a second, event service; both sides look, then ``sched_yield()``, so it holds a
core while it waits (and shares it on one core).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks import _channel_peers as peers

SPAWN = mp.get_context("spawn")
PLACEMENTS = {"cross-core": (0, 1), "same-core": (0, 0)}
MESSAGE = bytes(range(48, 112))  # 64 printable bytes: the legacy file refuses NUL
WARMUP = 200


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu % os.cpu_count()})  # type: ignore[operator]


def _serve(subject: str, arg: Any, cpu: int, ready: Event) -> None:
    _pin(cpu)
    peers.SERVERS[subject](arg, ready)


def _time_round_trips(ask: Callable[[bytes], bytes], n: int) -> list[int]:
    for _ in range(WARMUP):
        if ask(MESSAGE) != MESSAGE:
            raise RuntimeError("wrong reply during warm-up")
    times = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        reply = ask(MESSAGE)
        times.append(clock() - t0)
        if reply != MESSAGE:
            raise RuntimeError(f"wrong reply {reply[:16]!r}...")
    return times


def run_one(subject: str, placement: str, n: int, workdir: Path) -> dict[str, Any]:
    """Median and p99 round trip (µs) of ``subject`` under ``placement``; or why it was skipped."""
    problem = peers.missing(subject)
    if problem:
        return {"subject": subject, "placement": placement, "skipped": problem}
    server_cpu, client_cpu = PLACEMENTS[placement]
    where = str(workdir / f"{subject}-{placement}")
    server_arg, client_arg = peers.prepare(subject, where)
    ready = SPAWN.Event()
    server = SPAWN.Process(target=_serve, args=(subject, server_arg, server_cpu, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            raise RuntimeError(f"{subject} server did not start")
        _pin(client_cpu)
        with peers.CLIENTS[subject](client_arg) as ask:
            times = _time_round_trips(ask, n)
    finally:
        server.terminate()
        server.join(5)
        if server.is_alive():
            server.kill()
        peers.cleanup(subject, where)
    times.sort()
    return {"subject": subject, "placement": placement, "n": n,
            "median_us": statistics.median(times) / 1e3, "p99_us": times[int(0.99 * (len(times) - 1))] / 1e3}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| subject | placement | median µs | p99 µs |", "|---|---|---:|---:|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['subject']} | {r['placement']} | skipped: {r['skipped']} | |")
        else:
            lines.append(f"| {r['subject']} | {r['placement']} | {r['median_us']:.1f} | {r['p99_us']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.channel", description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=5000, help="timed round trips per subject and placement")
    p.add_argument("--only", default=",".join(peers.SUBJECTS), help="comma-separated subjects")
    p.add_argument("--placement", choices=[*PLACEMENTS, "both"], default="both")
    p.add_argument("--out", type=Path, help="also write the table to this file")
    args = p.parse_args(argv)
    subjects = args.only.split(",")
    unknown = [s for s in subjects if s not in peers.SUBJECTS]
    if unknown:
        p.error(f"unknown subject: {', '.join(unknown)} (known: {', '.join(peers.SUBJECTS)})")
    placements = list(PLACEMENTS) if args.placement == "both" else [args.placement]
    rows = []
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="shmring-bench-channel-") as tmp:
        os.environ["SHMRING_DIR"] = tmp  # children inherit it
        for placement in placements:
            for subject in subjects:
                rows.append(run_one(subject, placement, args.n, Path(tmp)))
                sys.stderr.write(f"{subject} {placement}: done\n")
    text = table(rows)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
