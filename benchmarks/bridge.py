"""Loopback throughput of ``shmring.bridge`` against raw pyzmq PUSH/PULL of the same bytes, in one run.

    python -m benchmarks.bridge            # 1, 8, 32 MiB frames, 3 repetitions interleaved
    python -m benchmarks.bridge --quick    # 1 repetition, fewer frames

Raw pyzmq: one process sends the same numpy frame ``copy=False`` on a PUSH socket
(SNDHWM 4), another receives ``copy=False`` on PULL over ``tcp://127.0.0.1``. That is
the floor for moving these bytes through ZeroMQ between two processes.

Bridge: a camera process fills frames in place in a ring (``reserve()``; the
payload bytes are written once per slot, then only the seq word changes, as raw
pyzmq re-sends one buffer), ``Sender`` relays them over
``tcp://127.0.0.1``, ``Receiver`` writes them into a second ring, and the measuring
process reads them there (zero-copy views). Lossless: both rings ``block`` (8 slots),
credit window 7. Live: both rings ``overwrite``; frames ZeroMQ drops are not counted as
delivered. Throughput = bytes delivered to the far reader / time from its first to
its last frame. Every frame carries its seq in its first word; the reader checks it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import secrets
import shutil
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SPAWN = mp.get_context("spawn")
SIZES_MIB = (1, 8, 32)
SLOTS = int(os.environ.get("BENCH_SLOTS", "8"))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _frame(nbytes: int) -> np.ndarray[Any, Any]:
    return np.random.default_rng(1).integers(0, 2**63, nbytes // 8, dtype=np.uint64)


# -- raw pyzmq ---------------------------------------------------------------------------


def _raw_push(port: int, nbytes: int, count: int) -> None:
    import zmq

    sock = zmq.Context.instance().socket(zmq.PUSH)
    sock.sndhwm = 4
    sock.connect(f"tcp://127.0.0.1:{port}")
    frame = _frame(nbytes)
    for seq in range(count):
        frame[0] = seq
        tracker = sock.send(frame, copy=False, track=True)
        tracker.wait()  # the frame is reused: wait until ZeroMQ is done with it (as the bridge does)
    sock.close(linger=5000)


def raw_pyzmq(nbytes: int, count: int) -> float:
    import zmq

    port = _port()
    sock = zmq.Context.instance().socket(zmq.PULL)
    sock.rcvhwm = 4
    sock.bind(f"tcp://127.0.0.1:{port}")
    proc = SPAWN.Process(target=_raw_push, args=(port, nbytes, count))
    proc.start()
    try:
        first = sock.recv(copy=False)
        t0 = time.perf_counter()
        for seq in range(1, count):
            msg = sock.recv(copy=False)
            assert np.frombuffer(msg.buffer, np.uint64, 1)[0] == seq, "raw pyzmq lost or reordered a frame"
        elapsed = time.perf_counter() - t0
        del first
    finally:
        proc.join(30)
        sock.close(0)
    return (count - 1) * nbytes / elapsed / 1e9


# -- the bridge ----------------------------------------------------------------------------


def _camera(name: str, nbytes: int, count: int, directory: str) -> None:
    import shmring

    frame = _frame(nbytes)
    with shmring.Ring.open(name, directory=directory) as ring, ring.writer() as w:
        # A grabber fills the slot in place: the bytes were written once, as raw pyzmq's were.
        for seq in range(count):
            with w.reserve(frame.shape, frame.dtype, timeout=60) as slot:
                if seq < 2 * SLOTS:
                    slot[:] = frame
                slot[0] = seq


def _send(name: str, endpoint: str, lossless: bool, directory: str, stop: Any) -> None:
    from shmring.bridge import Sender

    with Sender(name, endpoint, lossless=lossless, directory=directory) as sender:
        sender.run(stop=stop)


def _recv(endpoint: str, into: str, lossless: bool, directory: str, stop: Any) -> None:
    from shmring.bridge import Receiver

    with Receiver(endpoint, into, lossless=lossless, window=SLOTS - 1, directory=directory) as receiver:
        receiver.run(stop=stop)


def bridge(nbytes: int, count: int, lossless: bool, directory: str) -> tuple[float, int]:
    """GB/s delivered to the far reader, and the frames lost on the way."""
    import shmring

    tag = secrets.token_hex(3)
    cam, far, endpoint = f"bench-cam-{tag}", f"bench-far-{tag}", f"tcp://127.0.0.1:{_port()}"
    policy = "block" if lossless else "overwrite"
    stop = SPAWN.Event()
    with shmring.Ring.create(cam, slots=SLOTS, slot_bytes=nbytes, policy=policy, directory=directory) as ring:
        procs = [SPAWN.Process(target=_send, args=(cam, endpoint, lossless, directory, stop)),
                 SPAWN.Process(target=_recv, args=(endpoint, far, lossless, directory, stop))]
        for p in procs:
            p.start()
        try:
            return _measure(far, cam, nbytes, count, directory)
        finally:
            stop.set()
            for p in procs:
                p.join(10)
                if p.is_alive():
                    p.kill()
            ring.unlink()
            for leftover in Path(directory).glob(f"bench-far-{tag}"):
                leftover.unlink()


def _measure(far: str, cam: str, nbytes: int, count: int, directory: str) -> tuple[float, int]:
    import shmring

    deadline = time.monotonic() + 30
    while True:  # the receiver makes the far ring when it first hears the sender
        try:
            ring = shmring.Ring.open(far, directory=directory)
            break
        except shmring.SegmentNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    with ring, ring.reader() as reader:
        camera = SPAWN.Process(target=_camera, args=(cam, nbytes, count, directory))
        camera.start()
        received, t0, t_last, last = 0, 0.0, 0.0, -1
        while last < count - 1:
            try:
                with reader.get(timeout=5, view=True) as f:
                    assert int(f.data.reshape(-1).view(np.uint64)[0]) == f.seq, "the bridge mixed up a frame"
                    last = f.seq
            except shmring.WaitTimeout:
                break  # live mode: the last frames may be dropped; what arrived is measured
            t_last = time.perf_counter()
            received += 1
            if received == 1:
                t0 = t_last
        elapsed = t_last - t0
        camera.join(30)
        return (received - 1) * nbytes / elapsed / 1e9, reader.lost


def _count(mib: int, quick: bool) -> int:
    """Frames per measurement: about 512 MiB (quick: 160 MiB), at least 16 frames."""
    return max(16, (160 if quick else 512) // mib)


# -- the run -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one repetition, fewer frames")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    reps = 1 if args.quick else args.reps
    directory = Path("/dev/shm") / f"shmring-bench-bridge-{os.getpid()}"
    directory.mkdir(mode=0o700)
    results: dict[tuple[int, str], list[float]] = {}
    lost: dict[tuple[int, str], int] = {}
    try:
        for _ in range(reps):
            for mib in SIZES_MIB:
                nbytes = mib << 20
                count = _count(mib, args.quick)
                for how in ("raw pyzmq", "bridge lossless", "bridge live"):
                    if how == "raw pyzmq":
                        value, n_lost = raw_pyzmq(nbytes, count), 0
                    else:
                        value, n_lost = bridge(nbytes, count, how.endswith("lossless"), str(directory))
                    results.setdefault((mib, how), []).append(value)
                    lost[(mib, how)] = lost.get((mib, how), 0) + n_lost
                    print(f"  {mib:>2} MiB {how:<16} {value:6.2f} GB/s  lost {n_lost}", file=sys.stderr)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    _table(results, lost, reps)
    return 0


def _table(results: dict[tuple[int, str], list[float]], lost: dict[tuple[int, str], int], reps: int) -> None:
    print(f"loopback GB/s, median of {reps} (min-max); tcp://127.0.0.1, {os.cpu_count()} CPUs")
    print()
    print("| frame | raw pyzmq PUSH/PULL | bridge lossless | lossless / raw | bridge live | live / raw | live lost |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for mib in SIZES_MIB:
        cells = {how: results[(mib, how)] for how in ("raw pyzmq", "bridge lossless", "bridge live")}
        med = {how: statistics.median(v) for how, v in cells.items()}

        def cell(how: str, cells: dict[str, list[float]] = cells, med: dict[str, float] = med) -> str:
            v = cells[how]
            return f"{med[how]:.2f} ({min(v):.2f}-{max(v):.2f})" if len(v) > 1 else f"{med[how]:.2f}"

        raw = med["raw pyzmq"]
        print(f"| {mib} MiB | {cell('raw pyzmq')} | {cell('bridge lossless')} | {med['bridge lossless'] / raw:.2f} "
              f"| {cell('bridge live')} | {med['bridge live'] / raw:.2f} | {lost[(mib, 'bridge live')]} |")


if __name__ == "__main__":
    sys.exit(main())
