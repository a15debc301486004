"""Targets for spawned processes in the gc and record tests (importable by the children)."""

from __future__ import annotations

import signal
from multiprocessing.connection import Connection

from shmring.legacy import Locker


def hold_locker_open(name: str, conn: Connection) -> None:
    """Open the Locker ``name`` (not taking it), say so, keep it open until told (or 60 s)."""
    locker = Locker(name)
    conn.send(str(locker.path))
    conn.poll(60.0)
    locker.close()


def hold_locker_taken(name: str, conn: Connection) -> None:
    """Take the Locker ``name``, say so, and keep it until killed."""
    locker = Locker(name)
    locker.acquire(5)
    conn.send(str(locker.path))
    signal.pause()  # until the test kills us


def write_frames(name: str, count: int) -> None:
    """Write ``count`` frames, frame k a uint8 array full of k (blocking while the ring is full)."""
    import numpy as np

    from shmring import Ring

    with Ring.open(name) as ring, ring.writer() as writer:
        for k in range(count):
            writer.put(np.full(8, k, dtype=np.uint8), timeout=30)
