"""Targets for spawned processes in the bridge tests: a camera that writes checksummed frames."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

import shmring

#: Flag on the frames a camera writes after its counted ones, so a reader knows the count is over.
TAIL = 0x7A11


def frame_for(seq: int, nbytes: int) -> np.ndarray[Any, Any]:
    """A frame whose every word depends on its seq: a torn or mixed-up frame fails its checksum."""
    words = np.arange(nbytes // 8, dtype=np.uint64)
    words ^= np.uint64(seq * 0x9E3779B97F4A7C15 % (1 << 64))
    return words


def checksum_ok(frame: shmring.Frame) -> bool:
    return bool(zlib.crc32(frame.data) == frame.meta.get("CRC"))


def camera(name: str, count: int, nbytes: int, tail_until: Any = None, rate_hz: float = 0.0) -> None:
    """Write ``count`` checksummed frames (then TAIL frames until ``tail_until`` is set); pace to ``rate_hz``."""
    import time

    period = 1.0 / rate_hz if rate_hz else 0.0
    with shmring.Ring.open(name) as ring, ring.writer() as writer:
        next_at = time.monotonic()
        seq = 0
        while seq < count or (tail_until is not None and not tail_until.is_set()):
            data = frame_for(seq, nbytes)
            writer.put(data, meta={"CRC": zlib.crc32(data)}, flags=0 if seq < count else TAIL, timeout=60)
            seq += 1
            if period:
                next_at += period
                time.sleep(max(0.0, next_at - time.monotonic()))  # pacing a camera, not waiting for anything
