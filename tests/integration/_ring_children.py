"""Targets for spawned processes in the ring tests (importable by the children)."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

import shmring

STOP = 0x5709
FRAME_WORDS = 256


def frame_for(seq: int) -> np.ndarray[Any, Any]:
    """Every word holds the frame's seq: a torn frame would mix two values."""
    return np.full(FRAME_WORDS, seq, dtype=np.uint32)


def intact(frame: shmring.Frame) -> bool:
    data = frame.data
    return bool(data.shape == (FRAME_WORDS,) and (data == frame.seq).all())


def write_frames(name: str, count: int, extra_stops: int = 0) -> None:
    with shmring.Ring.open(name) as ring, ring.writer() as writer:
        for seq in range(count):
            assert writer.put(frame_for(seq), timeout=30) == seq
        for _ in range(extra_stops):
            writer.put(frame_for(0), flags=STOP, timeout=30)


def read_all(name: str, count: int, results: Any, ready: Any, start: str = "next",
             delay_s: float = 0.0) -> None:
    """Read until frame count-1; report (received seqs checksum, lost, torn)."""
    with shmring.Ring.open(name) as ring, ring.reader(start=start) as reader:
        ready.put(os.getpid())
        received, torn, in_order, last = 0, 0, True, -1
        while last < count - 1:
            frame = reader.get(timeout=30)
            torn += not intact(frame)
            in_order &= frame.seq > last
            last = frame.seq
            received += 1
            if delay_s:
                time.sleep(delay_s)  # a deliberately slow consumer, not a wait
        results.put({"received": received, "lost": reader.lost, "torn": torn, "in_order": in_order})


def consume_queue(name: str, results: Any, ready: Any) -> None:
    with shmring.Ring.open(name) as ring, ring.reader(queue=True) as reader:
        ready.put(os.getpid())
        seqs, torn = [], 0
        while True:
            frame = reader.get(timeout=30)
            if frame.flags == STOP:
                break
            torn += not intact(frame)
            seqs.append(int(frame.data[0]))
        results.put({"seqs": seqs, "torn": torn, "lost": reader.lost})


def die_inside_reserve(name: str, good: int, ready: Any) -> None:
    ring = shmring.Ring.open(name)
    writer = ring.writer()
    for seq in range(good):
        writer.put(frame_for(seq))
    with writer.reserve((FRAME_WORDS,), np.uint32) as slot:
        slot[: FRAME_WORDS // 2] = 0xDEAD
        ready.put("inside")
        time.sleep(600)  # killed here by the test


def attach_and_idle(name: str, ready: Any) -> None:
    ring = shmring.Ring.open(name)
    reader = ring.reader()
    ready.put(reader.name)
    time.sleep(600)  # killed here by the test; never reads


def hold_writer(name: str, ready: Any) -> None:
    ring = shmring.Ring.open(name)
    writer = ring.writer()
    ready.put("writer")
    time.sleep(600)
    writer.close()


def write_shared(name: str, writer_id: int, count: int, ready: Any, go: Any) -> None:
    """A shared-mode writer: frame words are (writer_id << 24 | i), all equal within a frame."""
    with shmring.Ring.open(name) as ring, ring.writer(shared=True) as writer:
        ready.put(writer_id)
        go.wait(30)
        for i in range(count):
            writer.put(np.full(FRAME_WORDS, writer_id << 24 | i, dtype=np.uint32), timeout=30)


def spin_reader(name: str, results: Any, ready: Any) -> None:
    with shmring.Ring.open(name) as ring, ring.reader() as reader:
        ready.put("spinning")
        frame = reader.get(timeout=30, spin=0.5)
        results.put((frame.seq, intact(frame)))
