"""The Python side of benchmarks/c_cases.py's "c-to-py" case: a shmring reader of a C writer's frames.

    python benchmarks/c/py_reader.py NAME NBYTES COUNT WARM SPIN_S

Prints "ready", gets COUNT frames (zero-copy views), checks each stamp (the first 8
bytes are the frame's index), and prints "n N secs S cpu C bad B lost L end T"
for the last COUNT - WARM frames, as ring_bench.c's reader does (T: CLOCK_MONOTONIC).
"""

from __future__ import annotations

import sys
import time

import numpy as np

import shmring


def main(name: str, nbytes: int, count: int, warm: int, spin_s: float) -> int:
    spin = None if spin_s < 0 else spin_s  # negative: the learned spin, the reader's default
    with shmring.Ring.open(name) as ring, ring.reader(name="bench") as reader:
        print("ready", flush=True)
        bad = 0
        t0 = c0 = 0.0
        for i in range(count):
            if i == warm:
                t0, c0 = time.perf_counter(), time.process_time()
            with reader.get(timeout=60.0, spin=spin, view=True) as frame:  # as the "shmring" subject reads
                data = frame.data.reshape(-1).view(np.uint8)
                bad += data.size != nbytes or (nbytes >= 8 and int(data[:8].view(np.uint64)[0]) != i)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        end = time.clock_gettime(time.CLOCK_MONOTONIC)  # the C writer's clock: its "start" pairs with this
        print(f"n {count - warm} secs {secs:.9f} cpu {cpu:.9f} bad {bad} lost {reader.lost} end {end:.9f}")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(args[0], int(args[1]), int(args[2]), int(args[3]), float(args[4])))
