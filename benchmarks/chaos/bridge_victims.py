"""The processes the bridge kill rounds start: a paced camera of checksummed frames and the two bridge ends.

Each opens what it uses itself (they are forked from a server that has nothing
open). The bridge ends run the public API (``shmring.bridge.send``/``recv``) until
they are SIGKILLed.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import shmring

from . import frames
from .victims import MAX_WORDS

__all__ = ["camera", "receiver", "sender"]

#: Frames per second the camera aims at: a camera, not a benchmark (2 cores are shared).
CAMERA_HZ = 2000.0
LIFETIME_S = 3600.0


def camera(path: str, seed: int, stop: Any) -> None:
    """Write checksummed frames of varying size at :data:`CAMERA_HZ` until ``stop`` is set."""
    rng = random.Random(seed)
    period = 1.0 / CAMERA_HZ
    with shmring.Ring.open(Path(path)) as ring, ring.writer() as writer:
        next_at = time.monotonic()
        while not stop.is_set():
            data, meta = frames.make(rng.getrandbits(32), MAX_WORDS)
            writer.put(data, meta=meta, timeout=60)
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))  # pacing a camera, not waiting for anything


def sender(path: str, endpoint: str, lossless: bool) -> None:
    import shmring.bridge

    shmring.bridge.send(Path(path), endpoint, lossless=lossless, seconds=LIFETIME_S)


def receiver(endpoint: str, path: str, lossless: bool) -> None:
    import shmring.bridge

    shmring.bridge.recv(endpoint, into=Path(path), lossless=lossless, seconds=LIFETIME_S)
