"""Targets for spawned writer processes in the viewer tests (importable by the children)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

import shmring


def frame_for(seq: int, shape: tuple[int, int]) -> np.ndarray[Any, Any]:
    """A frame with structure (a gradient, a star that moves with seq), reproducible from its seq alone."""
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width]
    cx, cy = (seq * 3) % width, (seq * 2) % height
    star = 30000.0 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 8.0)
    return (1000 + 7 * xx + 5 * yy + (seq % 13) + star).astype(np.uint16)


def write_frames(directory: str, name: str, shape: tuple[int, int], period_s: float) -> None:
    """Write frame_for(seq) with metadata every ``period_s`` until terminated."""
    with shmring.Ring.open(Path(directory) / name) as ring, ring.writer() as writer:
        seq = 0
        while True:
            writer.put(frame_for(seq, shape), meta={"FRAME": seq, "EXPTIME": 0.25, "OBJECT": "test field"})
            seq += 1
            time.sleep(period_s)  # the camera's frame period


def write_legacy_uyvy(path: str, width: int, height: int, period_s: float) -> None:
    """Put UYVY colour buffers (red left half, blue right half) into a SharedMem file until terminated."""
    from shmring.legacy import BUFH_UYVY, SharedMem

    quad = np.empty((height, width // 2, 4), dtype=np.uint8)
    red, blue = (90, 81, 240), (240, 41, 110)  # (U, Y, V) of pure red and pure blue, BT.601
    for half, (u, y, v) in ((slice(0, width // 4), red), (slice(width // 4, None), blue)):
        quad[:, half] = (u, y, v, y)
    with SharedMem.open(path) as mem:
        while True:
            mem.get_buf(timeout=0)  # keep room: the original queue drops when full
            mem.put_buf(quad.tobytes(), width=width, height=height, flags=BUFH_UYVY)
            time.sleep(period_s)


def write_under_block(name: str, count: int, period_s: float, results: Any) -> None:
    """Put ``count`` frames into a block ring with a short timeout; report how many went in."""
    with shmring.Ring.open(name) as ring, ring.writer() as writer:
        written = 0
        try:
            for seq in range(count):
                writer.put(np.full((256, 256), seq % 60000, np.uint16), timeout=5.0)
                written += 1
                time.sleep(period_s)  # the camera's frame period
        finally:
            results.put(written)
