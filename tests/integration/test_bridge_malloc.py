"""The receiver keeps freed receive buffers in the process for the next frames, not handed back to the kernel."""

from __future__ import annotations

import subprocess
import sys

import pytest

# What each child starts with: glibc's mallinfo2, and keep_received_memory(FRAME, FLIGHT)
# applied when its first argument is "keep".
_PRELUDE = """
import ctypes, sys
import numpy as np
from shmring.bridge._malloc import keep_received_memory
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]
mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = MallInfo2
if sys.argv[1] == "keep":
    keep_received_memory({frame}, {flight})
"""

# A batch of eight 1 MiB buffers (as libzmq receives a window of frames), freed (as the
# receiver does once the frames are in its ring): the bytes the allocator still holds free
# for the next batch (mallinfo2 fordblks).
_BATCH = """
batch = [np.empty(1 << 20, np.uint8) for _ in range(8)]
for a in batch:
    a.fill(1)
del batch, a
print(mallinfo2().fordblks)
"""

# Frames above glibc's 32 MiB mmap threshold cap: one 40 MiB receive buffer, and whether
# glibc gave it a mapping of its own (mallinfo2 hblks), to be faulted in afresh each frame.
_LARGE = """
before = mallinfo2().hblks  # blocks mapped so far (numpy's own, at import)
buf = np.empty(40 << 20, np.uint8)
buf.fill(1)
print(mallinfo2().hblks - before)
"""


def _child(body: str, mode: str, frame: int, flight: int) -> int:
    """What the child running ``body`` prints (one int), with the receiver's settings or glibc's defaults."""
    code = _PRELUDE.format(frame=frame, flight=flight) + body
    done = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, timeout=60)
    if "mallinfo2" in done.stderr:
        pytest.skip("needs glibc >= 2.33 (mallinfo2)")
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_freed_receive_buffers_stay_in_the_process() -> None:
    batch = 8 << 20

    def kept(mode: str) -> int:
        return _child(_BATCH, mode, 1 << 20, 9 << 20)

    assert kept("default") < batch // 2, "glibc keeps a freed batch by itself: the test shows nothing"
    got = kept("keep")
    assert got >= batch, f"only {got:,} of the {batch:,} bytes freed stayed in the process for the next frames"


def test_receive_buffers_above_the_mmap_cap_come_from_the_heap() -> None:
    def own_mappings(mode: str) -> int:
        return _child(_LARGE, mode, 40 << 20, 9 * (40 << 20))

    assert own_mappings("default") == 1, "glibc maps a 40 MiB block by itself: the test shows nothing"
    assert own_mappings("keep") == 0, "a 40 MiB receive buffer still got a fresh mapping of its own"
