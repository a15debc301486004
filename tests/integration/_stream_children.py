"""Targets for spawned processes in the writer-death and record/replay tests."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import shmring


def write_then_hang(name: str, count: int, ready: Any) -> None:
    """Write ``count`` frames, say so, then stay attached until killed."""
    with shmring.Ring.open(name) as ring, ring.writer() as writer:
        for seq in range(count):
            writer.put(np.full(4, seq, dtype=np.uint16), meta={"N": seq})
        ready.put("written")
        time.sleep(120)  # the parent SIGKILLs this process; it never wakes on its own


def write_numbered(name: str, count: int) -> None:
    """Write ``count`` 4x5 uint16 frames, frame k full of k, with a card carrying a comment; flags k."""
    with shmring.Ring.open(name) as ring, ring.writer() as writer:
        for k in range(count):
            meta = [("EXPTIME", k / 10, "exposure (s)"), ("HISTORY", f"frame {k}")]
            writer.put(np.full((4, 5), k, dtype=np.uint16), meta=meta, flags=k, timeout=30)
