"""Targets for spawned processes in the bridge tests: a camera that writes checksummed frames."""

from __future__ import annotations

import time
import zlib
from typing import Any

import numpy as np

import shmring

#: Flag on the frames a camera writes after its counted ones, so a reader knows the count is over.
TAIL = 0x7A11
#: Distinct random frame bodies the camera cycles through (consecutive frames always differ).
BODIES = 16


def checksum_ok(frame: shmring.Frame) -> bool:
    """Word 0 holds the frame's seq and the rest matches its CRC: a torn or mixed-up frame fails."""
    words = frame.data.reshape(-1).view(np.uint64)
    return bool(int(words[0]) == frame.seq and zlib.crc32(words[1:]) == frame.meta.get("CRC"))


def camera(name: str, count: int, nbytes: int, tail_until: Any = None, rate_hz: float = 0.0) -> None:
    """Write ``count`` checksummed frames (then TAIL frames until ``tail_until`` is set); pace to ``rate_hz``."""
    rng = np.random.default_rng(7)
    bodies = [rng.integers(0, 2**63, nbytes // 8, dtype=np.uint64) for _ in range(BODIES)]
    crcs = [zlib.crc32(b[1:]) for b in bodies]
    period = 1.0 / rate_hz if rate_hz else 0.0
    with shmring.Ring.open(name) as ring, ring.writer() as writer:
        next_at = time.monotonic()
        seq = 0
        while seq < count or (tail_until is not None and not tail_until.is_set()):
            body = bodies[seq % BODIES]
            body[0] = seq
            writer.put(body, meta={"CRC": crcs[seq % BODIES]}, flags=0 if seq < count else TAIL, timeout=60)
            seq += 1
            if period:
                next_at += period
                time.sleep(max(0.0, next_at - time.monotonic()))  # pacing a camera, not waiting for anything


def run_send(ring: str, endpoint: str, seconds: float) -> None:
    import shmring.bridge

    shmring.bridge.send(ring, endpoint, seconds=seconds)


def run_recv(endpoint: str, into: str, seconds: float) -> None:
    import shmring.bridge

    shmring.bridge.recv(endpoint, into=into, seconds=seconds)
