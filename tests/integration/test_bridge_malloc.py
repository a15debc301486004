"""The receiver keeps the memory ZeroMQ receives into mapped: batches of frames freed do not fault in again."""

from __future__ import annotations

import subprocess
import sys

import pytest

# A thread (as libzmq's I/O thread) allocates a batch of 1 MiB buffers and writes them, the
# main thread frees them (as the receiver does once a frame is in its ring); the child prints
# the page faults the batches after the first took.
_BATCHES = """
import resource, sys, threading
import numpy as np
from shmring.bridge._malloc import keep_received_memory
if sys.argv[1] == "keep":
    keep_received_memory(1 << 20, 9 << 20)
def batch(out):
    for _ in range(8):
        a = np.empty(1 << 20, np.uint8); a.fill(1); out.append(a)
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(31):
    if i == 1:
        start = faults()
    out = []
    t = threading.Thread(target=batch, args=(out,)); t.start(); t.join()
    out.clear()
print(faults() - start)
"""


def _faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _BATCHES, mode], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_receive_buffers_stay_mapped() -> None:
    pages = 30 * 8 * (1 << 20) // 4096  # what 30 batches write
    # Without it glibc hands most of each batch back and faults 5,000 to 45,000 of them in again.
    kept = _faults("keep")
    assert kept < pages // 20, f"{kept} page faults for {pages} pages written: the memory was handed back"
