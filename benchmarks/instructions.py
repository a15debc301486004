"""Instructions per call of shmring's hot paths, counted by callgrind.

Wall-clock figures are noisy on a shared machine; instruction counts are not.
Each case runs its loop twice, N and 2N times, under ``valgrind --tool=callgrind``;
the difference divided by N is the cost of one call, free of start-up work.

    python -m benchmarks.instructions            # every case
    python -m benchmarks.instructions put put+get    # some of them (names: CASES)

Needs valgrind on PATH. One process: a writer and a reader of one ring, 64 B messages.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

N = 50_000  # messages per run of a single-message case (and 2N in the second run)
BATCH = 256
BATCH_BODIES = 40  # batch cases run at least this many batches: fewer leave start-up noise in the difference

CASES: dict[str, tuple[str, int]] = {
    # name: (loop body, messages per body)
    "put": ("w.put(msg)", 1),
    "put(array)": ("w.put(arr)", 1),
    "put+get": ("w.put(msg); r.get(timeout=0)", 1),
    "put+get_bytes": ("w.put(msg); r.get_bytes(timeout=0)", 1),
    "reserve": ("with w.reserve(64) as a: a[0] = 1", 1),
    "reserve+get(view)": ("with w.reserve(64) as a: a[0] = 1\n    with r.get(timeout=0, view=True): pass", 1),
    "put_many": ("w.put_many(msgs)", BATCH),
    "put_many(2-D)": ("w.put_many(block)", BATCH),
    "put_many+get_many": ("w.put_many(msgs); r.get_many(BATCH, timeout=0)", BATCH),
    "put_many+get_bytes_many": ("w.put_many(msgs); r.get_bytes_many(BATCH, timeout=0)", BATCH),
}

PROGRAM = """
import gc, os, sys, numpy as np, shmring
os.environ["SHMRING_DIR"] = {dir!r}
BATCH = {batch}
count = int(sys.argv[1])
ring = shmring.Ring.create(f"icount{{count}}", slots=1024, slot_bytes=64)
w = ring.writer(); r = ring.reader()
msg = bytes(64); arr = np.zeros(64, np.uint8); msgs = [bytes(64)] * BATCH; block = np.zeros((BATCH, 64), np.uint8)
for _ in range(50):
    {body}
gc.freeze()  # start-up objects out of the collector's way: its passes then cost the same in both runs
for _ in range(count):
    {body}
"""


def _instructions(body: str, count: int) -> int:
    with tempfile.TemporaryDirectory() as out:
        shm_dir = out
        script = os.path.join(out, "case.py")
        with open(script, "w") as f:
            f.write(PROGRAM.format(dir=shm_dir, batch=BATCH, body=body))
        log = os.path.join(out, "cg.out")
        # A fixed hash seed makes start-up the same instructions in both runs.
        env = {**os.environ, "SHMRING_DIR": shm_dir, "PYTHONHASHSEED": "0"}
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={log}", sys.executable, script,
                        str(count)], check=True, capture_output=True, env=env)
        with open(log) as f:
            text = f.read()
        found = re.search(r"^summary: (\d+)", text, re.M) or re.search(r"^totals: (\d+)", text, re.M)
        if found is None:
            raise RuntimeError(f"no instruction total in callgrind's output for {body!r}")
        return int(found.group(1))


def main(names: list[str]) -> None:
    for name in names or list(CASES):
        body, per = CASES[name]
        count = max(BATCH_BODIES, N // per)
        try:
            with ThreadPoolExecutor(2) as pool:  # the two runs side by side
                one, two = pool.map(_instructions, [body, body], [count, 2 * count])
        except subprocess.CalledProcessError as e:
            print(f"{name:24s} failed: {e.stderr.decode()[-300:]}")
            continue
        print(f"{name:24s} {(two - one) / (count * per):10,.0f} instructions per message", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
