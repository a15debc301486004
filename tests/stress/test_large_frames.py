"""Large frames at full speed across processes: never torn, every frame accounted for."""

from __future__ import annotations

import multiprocessing as mp
import queue
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shmring

#: Fresh interpreters: nothing inherited by fork can blur what a test shows.
SPAWN = mp.get_context("spawn")

pytestmark = pytest.mark.slow

FRAME_MB = 32
FRAMES = 60


def _write_big(name: str, count: int) -> None:
    with shmring.Ring.open(name) as ring, ring.writer() as writer:
        for seq in range(count):
            with writer.reserve((FRAME_MB << 18,), np.uint32) as slot:
                slot[:] = seq  # in place: every word holds the frame's seq


def _read_big(name: str, count: int, view: bool, results: Any, ready: Any) -> None:
    with shmring.Ring.open(name) as ring, ring.reader() as reader:
        ready.put("ready")
        out = np.empty(FRAME_MB << 18, np.uint32)
        received, torn, last = 0, 0, -1
        while last < count - 1:
            frame = reader.get(timeout=60, view=view, out=None if view else out)
            # A view may be overwritten after the check; only count it torn if the
            # slot still claims to hold this frame.
            bad = not (frame.data == frame.seq).all()
            torn += bad and frame.valid()
            last = frame.seq
            received += 1
            frame.release()
        results.put({"received": received, "lost": reader.lost, "torn": torn})


@pytest.mark.parametrize("view", [False, True], ids=["copy", "view"])
def test_32_mib_frames_are_never_torn(shm_dir: Path, unique_name: str, spawn: Any, view: bool) -> None:
    ring = shmring.Ring.create(unique_name, slots=3, slot_bytes=FRAME_MB << 20, meta_bytes=0)
    results, ready = SPAWN.Queue(), SPAWN.Queue()
    spawn(_read_big, unique_name, FRAMES, view, results, ready)
    ready.get(timeout=60)
    spawn(_write_big, unique_name, FRAMES)
    try:
        report = results.get(timeout=100)
    except queue.Empty:
        pytest.fail("the reader did not reach the last frame within 100 s")
    assert report["torn"] == 0
    assert report["received"] + report["lost"] == FRAMES
    ring.close()
