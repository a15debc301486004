"""Loopback throughput of ``shmring.bridge`` against raw pyzmq PUSH/PULL of the same bytes, in one run.

    python -m benchmarks.bridge            # 1, 8, 32 MiB frames, 3 repetitions interleaved
    python -m benchmarks.bridge --quick    # 1 repetition, fewer frames

Raw pyzmq: one process sends numpy frames ``copy=False`` on a PUSH socket (SNDHWM 4),
another receives ``copy=False`` on PULL over ``tcp://127.0.0.1``. The sender rotates
through as many buffers as the bridge's ring has slots and reuses one only when
ZeroMQ is done with it (its ``MessageTracker``), the discipline the bridge's sender
keeps for the ring's slots. That is the floor for moving these bytes through ZeroMQ
between two processes.

Bridge: a camera process fills frames in place in a ring (``reserve()``; the
payload bytes are written once per slot, then only the seq word changes, as raw
pyzmq re-sends one buffer), ``Sender`` relays them over
``tcp://127.0.0.1``, ``Receiver`` writes them into a second ring, and the measuring
process reads them there (zero-copy views). Lossless: both rings ``block`` (8 slots),
credit window 7. Live: both rings ``overwrite``; frames ZeroMQ drops are not counted as
delivered. Throughput = bytes delivered to the far reader / time from its first to
its last frame; lossless (and raw pyzmq) from the frame with seq WARM on, so that
every slot has been written once. Every frame carries its seq in its first word; the
reader checks it.

CPU: the measuring process samples the CPU time (user + system, all threads) of every
process of the run at the first and the last frame (the bridge's far reader also every
16th frame, since in live mode it cannot know which frame is its last; never every
frame, which cost ~50 us of reading /proc a frame), and prints it per MiB delivered:
for raw pyzmq its two processes, for the bridge the sender and the receiver (the
bridge's own cost) and the camera and reader. Unlike GB/s this hardly depends on
what else the machine runs, and on two cores it bounds the rate.
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
from typing import Any, NamedTuple

import numpy as np

SPAWN = mp.get_context("spawn")
SIZES_MIB = (1, 8, 32)
SLOTS = int(os.environ.get("BENCH_SLOTS", "8"))
#: Lossless mode's clock starts at the first frame the far reader gets with at least this seq: every
#: slot of both rings written once before (a slot's first write
#: faults its pages in: at 32 MiB that was half of a 16-frame measurement). Raw pyzmq alike.
WARM = 2 * SLOTS


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
    frames = [_frame(nbytes) for _ in range(SLOTS)]
    trackers: list[Any] = [None] * SLOTS
    for seq in range(count):
        i = seq % SLOTS
        if trackers[i] is not None:
            trackers[i].wait()  # the buffer is reused: wait until ZeroMQ is done with it (as the bridge does)
        frames[i][0] = seq
        trackers[i] = sock.send(frames[i], copy=False, track=True)
    for tracker in trackers:  # a spawned child ends with os._exit: nothing may still be queued
        if tracker is not None:
            tracker.wait()
    sock.close(linger=5000)


def _cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system, every thread) the processes ``pids`` have used so far."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


class Result(NamedTuple):
    """One measurement: GB/s delivered, frames lost, CPU microseconds per MiB delivered by role."""

    gbps: float
    lost: int
    cpu_us_per_mib: dict[str, float]


def _cpu_per_mib(before: dict[str, float], after: dict[str, float], nbytes: int) -> dict[str, float]:
    mib = nbytes / (1 << 20)
    return {role: (after[role] - before[role]) * 1e6 / mib for role in before}


def raw_pyzmq(nbytes: int, count: int) -> Result:
    import zmq

    port = _port()
    sock = zmq.Context.instance().socket(zmq.PULL)
    sock.rcvhwm = 4
    sock.bind(f"tcp://127.0.0.1:{port}")
    proc = SPAWN.Process(target=_raw_push, args=(port, nbytes, count))
    proc.start()
    roles = {"raw sender": [proc.pid], "raw receiver": [os.getpid()]}
    try:
        t0, cpu0 = 0.0, {}
        for seq in range(count):
            msg = sock.recv(copy=False)
            assert np.frombuffer(msg.buffer, np.uint64, 1)[0] == seq, "raw pyzmq lost or reordered a frame"
            if seq == WARM:  # timed from here, as the bridge is
                t0, cpu0 = time.perf_counter(), {role: _cpu_s(p) for role, p in roles.items()}
        elapsed, cpu1 = time.perf_counter() - t0, {role: _cpu_s(p) for role, p in roles.items()}
    finally:
        proc.join(30)
        sock.close(0)
    timed = (count - 1 - WARM) * nbytes
    return Result(timed / elapsed / 1e9, 0, _cpu_per_mib(cpu0, cpu1, timed))


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


def bridge(nbytes: int, count: int, lossless: bool, directory: str) -> Result:
    """GB/s delivered to the far reader, the frames lost on the way, and the CPU used."""
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
            roles = {"sender": [procs[0].pid], "receiver": [procs[1].pid]}
            # live mode drops most of a burst, so frames from seq WARM on may never come: timed from the first
            return _measure(far, cam, nbytes, count, directory, roles, WARM if lossless else 0)
        finally:
            stop.set()
            for p in procs:
                p.join(10)
                if p.is_alive():
                    p.kill()
            ring.unlink()
            for leftover in Path(directory).glob(f"bench-far-{tag}"):
                leftover.unlink()


def _measure(far: str, cam: str, nbytes: int, count: int, directory: str, roles: dict[str, list[Any]],
             warm: int) -> Result:
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
        roles = {**roles, "camera + reader": [camera.pid, os.getpid()]}
        received, overwritten, t0, t_last, last = 0, 0, 0.0, 0.0, -1
        sampled = _CpuSample(0, {})  # the last CPU sample: reading /proc for every frame would cost
        first = _CpuSample(0, {})    # the reader ~50 us a frame, on the cores the pipeline runs on
        while last < count - 1:
            try:
                with reader.get(timeout=5, view=True) as f:
                    word = int(f.data.reshape(-1).view(np.uint64)[0])
                    last = f.seq
                    # live mode: an overwrite ring may lap a view we were slow to read (a loaded machine)
                    if not f.valid():
                        overwritten += 1
                        continue
                    assert word == f.seq, "the bridge mixed up a frame"
            except shmring.WaitTimeout:
                break  # live mode: the last frames may be dropped; what arrived is measured
            t_last = time.perf_counter()
            received += 1
            if not first.cpu and last >= warm:  # the camera has written every slot once: timed from here
                t0, first = t_last, _CpuSample(received, {role: _cpu_s(p) for role, p in roles.items()})
            elif first.cpu and (received % _CPU_EVERY == 0 or last >= count - 1):
                sampled = _CpuSample(received, {role: _cpu_s(p) for role, p in roles.items()})
        timed, elapsed = received - first.received, t_last - t0
        camera.join(30)
        cpu_frames = max(1, sampled.received - first.received)
        cpu = _cpu_per_mib(first.cpu, sampled.cpu, cpu_frames * nbytes) if sampled.cpu else {r: 0.0 for r in roles}
        gbps = timed * nbytes / elapsed / 1e9 if timed > 0 else 0.0
        return Result(gbps, reader.lost + overwritten, cpu)


class _CpuSample(NamedTuple):
    received: int  # frames the far reader had when the sample was taken
    cpu: dict[str, float]  # CPU seconds so far, by role


#: The far reader samples the CPU of every process once in this many frames (and at the last one).
_CPU_EVERY = 16


def _count(mib: int, quick: bool) -> int:
    """Frames per measurement: WARM untimed, then about 512 MiB (quick: 160 MiB), at least 16 frames."""
    return WARM + max(16, (160 if quick else 512) // mib)


# -- the run -------------------------------------------------------------------------------


HOWS = ("raw pyzmq", "bridge lossless", "bridge live")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one repetition, fewer frames")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    reps = 1 if args.quick else args.reps
    directory = Path("/dev/shm") / f"shmring-bench-bridge-{os.getpid()}"
    directory.mkdir(mode=0o700)
    results: dict[tuple[int, str], list[Result]] = {}
    load_before = os.getloadavg()
    try:
        for _ in range(reps):
            for mib in SIZES_MIB:
                nbytes, count = mib << 20, _count(mib, args.quick)
                for how in HOWS:
                    if how == "raw pyzmq":
                        result = raw_pyzmq(nbytes, count)
                    else:
                        result = bridge(nbytes, count, how.endswith("lossless"), str(directory))
                    results.setdefault((mib, how), []).append(result)
                    print(f"  {mib:>2} MiB {how:<16} {result.gbps:6.2f} GB/s  lost {result.lost}", file=sys.stderr)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    _table(results, reps, load_before, os.getloadavg())
    return 0


def _median_cell(values: list[float]) -> str:
    med = statistics.median(values)
    return f"{med:.2f} ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else f"{med:.2f}"


def _table(results: dict[tuple[int, str], list[Result]], reps: int, load_before: tuple[float, ...],
           load_after: tuple[float, ...]) -> None:
    print(f"loopback GB/s, median of {reps} (min-max); tcp://127.0.0.1, {os.cpu_count()} CPUs; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print()
    print("| frame | raw pyzmq PUSH/PULL | bridge lossless | lossless / raw | bridge live | live / raw | live lost |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for mib in SIZES_MIB:
        gbps = {how: [r.gbps for r in results[(mib, how)]] for how in HOWS}
        raw = statistics.median(gbps["raw pyzmq"])
        ratio = {how: statistics.median(gbps[how]) / raw for how in HOWS}
        live_lost = sum(r.lost for r in results[(mib, "bridge live")])
        print(f"| {mib} MiB | {_median_cell(gbps['raw pyzmq'])} | {_median_cell(gbps['bridge lossless'])} "
              f"| {ratio['bridge lossless']:.2f} | {_median_cell(gbps['bridge live'])} | {ratio['bridge live']:.2f} "
              f"| {live_lost} |")
    print()
    print("CPU microseconds per MiB delivered (median), every thread of each process")
    print()
    print("| frame | raw sender | raw receiver | raw total | bridge sender | bridge receiver | camera + reader "
          "| lossless total |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mib in SIZES_MIB:
        raw = _cpu_medians(results[(mib, "raw pyzmq")])
        lossless = _cpu_medians(results[(mib, "bridge lossless")])
        print(f"| {mib} MiB | {raw['raw sender']:.0f} | {raw['raw receiver']:.0f} | {sum(raw.values()):.0f} "
              f"| {lossless['sender']:.0f} | {lossless['receiver']:.0f} | {lossless['camera + reader']:.0f} "
              f"| {sum(lossless.values()):.0f} |")


def _cpu_medians(runs: list[Result]) -> dict[str, float]:
    return {role: statistics.median(r.cpu_us_per_mib[role] for r in runs) for role in runs[0].cpu_us_per_mib}


if __name__ == "__main__":
    sys.exit(main())
