"""Keep the memory ZeroMQ receives frames into mapped, so it is not faulted in afresh for every frame.

libzmq allocates a buffer for every message it receives (in its I/O thread) and
frees it once the receiver has copied the frame into its ring. With several frames
in flight, glibc sees megabytes free at the top of the I/O thread's heap after each
batch and hands them back to the kernel (``M_TRIM_THRESHOLD``, by default twice the
largest block freed so far); the next frames fault every page in again, zero-filled
by the kernel: measured, about 90 page faults per 1 MiB frame, a sixth of the
receiver's CPU time. Raising the trim threshold to what the receiver may have in
flight, and the mmap threshold to a frame (blocks above it get a fresh ``mmap`` each),
keeps that memory mapped and reused.

Both settings are process-wide and only ever raised. glibc caps the mmap threshold at
32 MiB, so for larger frames it would still map (and fault in, zero-filled) every
receive buffer afresh: 8,192 faults a 32 MiB frame, measured 2-3x the receiver's CPU
time of smaller frames per MiB. For those the receiver turns glibc's own mappings off
(``M_MMAP_MAX`` 0): every block then comes from the heap, whose freed memory the raised
trim threshold keeps for the next frames. That too is process-wide: in a process that
receives such frames, large allocations are not handed back to the kernel when freed.
Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
from typing import Any

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc refuses more (HEAP_MAX_SIZE / 2 on 64-bit)
_PAGE_SLACK = 1 << 16  # a message's own header and the allocator's rounding

_mallopt: Any
try:
    _mallopt = ctypes.CDLL(None).mallopt
    _mallopt.argtypes, _mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
except (AttributeError, OSError):  # not glibc: its own allocator, its own rules
    _mallopt = None

_kept = {"frame": 128 << 10, "flight": 128 << 10}  # glibc's starting values


def keep_received_memory(frame_bytes: int, in_flight_bytes: int) -> None:
    """Keep freed receive buffers of ``frame_bytes`` mapped, up to ``in_flight_bytes`` of them.

    Args:
        frame_bytes: the largest message payload expected (bytes).
        in_flight_bytes: bytes of messages the process may hold at once.
    """
    if _mallopt is None:
        return
    frame = min(_MMAP_THRESHOLD_MAX, frame_bytes + _PAGE_SLACK)
    flight = min(1 << 30, max(in_flight_bytes, frame_bytes) + 2 * _PAGE_SLACK)
    if frame <= _kept["frame"] and flight <= _kept["flight"]:
        return  # small frames: glibc's defaults serve them
    # Setting either turns off glibc's own adjustment of both: set both, and only raise them.
    _kept["frame"], _kept["flight"] = max(frame, _kept["frame"]), max(flight, _kept["flight"])
    _mallopt(_M_MMAP_THRESHOLD, _kept["frame"])
    _mallopt(_M_TRIM_THRESHOLD, _kept["flight"])
    if frame_bytes + _PAGE_SLACK > _MMAP_THRESHOLD_MAX:  # past the cap: no fresh mapping per frame
        _mallopt(_M_MMAP_MAX, 0)
