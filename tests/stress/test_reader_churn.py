"""Readers that come, read a while, and leave (or die) never stall a block writer."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shmring

pytestmark = pytest.mark.slow

#: Fresh interpreters: nothing inherited by fork can blur what a test shows.
SPAWN = mp.get_context("spawn")
FRAMES = 20_000
WORDS = 64


def _writer(name: str, results: Any) -> None:
    with shmring.Ring.open(name) as ring, ring.writer() as writer:
        for seq in range(FRAMES):
            writer.put(np.full(WORDS, seq, np.uint32), timeout=30)
    results.put("writer done")


def _churning_reader(name: str, seed: int, results: Any) -> None:
    rng = random.Random(seed)
    problems = 0
    with shmring.Ring.open(name) as ring:
        while True:
            with ring.reader(start="next") as reader:
                last = -1
                for _ in range(rng.randrange(1, 300)):
                    try:
                        frame = reader.get(timeout=2)
                    except shmring.WaitTimeout:
                        results.put(("reader", seed, problems))
                        return
                    problems += not (frame.data == frame.seq).all() or frame.seq <= last
                    last = frame.seq
                    if frame.seq == FRAMES - 1:
                        results.put(("reader", seed, problems))
                        return


def _doomed_reader(name: str, ready: Any) -> None:
    ring = shmring.Ring.open(name)
    ring.reader()
    ready.put(os.getpid())
    signal.pause()  # holds its entry, never reads, until killed


def test_block_writer_survives_churning_and_dying_readers(shm_dir: Path, unique_name: str, spawn: Any) -> None:
    ring = shmring.Ring.create(unique_name, slots=8, slot_bytes=WORDS * 4, meta_bytes=0, policy="block")
    results, ready = SPAWN.Queue(), SPAWN.Queue()
    for seed in range(3):
        spawn(_churning_reader, unique_name, seed, results)
    doomed = [spawn(_doomed_reader, unique_name, ready) for _ in range(2)]
    pids = [ready.get(timeout=60) for _ in doomed]
    spawn(_writer, unique_name, results)
    for pid in pids:  # readers that die holding their entry: the writer must reap them
        os.kill(pid, signal.SIGKILL)
    reports = [results.get(timeout=120) for _ in range(4)]
    assert "writer done" in reports
    readers = [r for r in reports if r != "writer done"]
    assert len(readers) == 3 and all(problems == 0 for _, _, problems in readers)
    ring.close()
