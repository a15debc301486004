"""A reader's descriptor when its ring's name is removed or re-created: it says so, and follows a re-attach."""

from __future__ import annotations

import multiprocessing as mp
import os
import selectors
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

import _channel_children as kids
import pytest

import shmring

SPAWN = mp.get_context("spawn")
Spawn = Callable[..., BaseProcess]
JOIN_S = 30.0


def _drain_until(reader: shmring.Reader, sel: selectors.BaseSelector, count: int) -> list[int]:
    """What an event loop does: on readable, clear the descriptor and take all there is; bounded."""
    got: list[int] = []
    deadline = time.monotonic() + JOIN_S
    while len(got) < count and time.monotonic() < deadline:
        if sel.select(timeout=1.0):
            os.read(reader.fileno(), 8)
            while (frame := reader.try_get()) is not None:
                got.append(int(frame.data[0]))
    return got


def test_the_descriptor_follows_a_reattaching_reader_to_the_new_ring(shm_dir: Path, unique_name: str,
                                                                      spawn: Spawn) -> None:
    old = shmring.Ring.create(unique_name, slots=8, slot_bytes=64)
    with shmring.Ring.open(unique_name, reattach=True) as follower, follower.reader() as reader:
        fd = reader.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            old.unlink()
            old.close()
            with shmring.Ring.create(unique_name, slots=8, slot_bytes=64) as new:
                go = SPAWN.Event()
                writer = spawn(kids.write_frames, unique_name, 5, go)
                go.set()
                got = _drain_until(reader, sel, 5)
                assert got == list(range(5)), f"frames of the new ring seen through the same descriptor: {got}"
                assert reader.fileno() == fd, "the descriptor the event loop registered stays the reader's"
                writer.join(JOIN_S)
                assert writer.exitcode == kids.EXIT_OK
                assert new.stats().readers[0].received == 5, "the reader's entry is in the new ring's table"


def test_the_descriptor_of_a_strict_reader_wakes_and_try_get_says_the_ring_was_replaced(
        shm_dir: Path, unique_name: str) -> None:
    old = shmring.Ring.create(unique_name, slots=8, slot_bytes=64)
    with shmring.Ring.open(unique_name) as strict, strict.reader() as reader:
        with selectors.DefaultSelector() as sel:
            sel.register(reader.fileno(), selectors.EVENT_READ)
            assert sel.select(timeout=0) == [], "readable before anything happened"
            old.unlink()
            old.close()
            shmring.Ring.create(unique_name, slots=8, slot_bytes=64).close()
            assert sel.select(timeout=JOIN_S), "the descriptor never said the ring was replaced"
            os.read(reader.fileno(), 8)
            with pytest.raises(shmring.BrokenError, match="removed or re-created"):
                reader.try_get()


def test_a_reattaching_reader_waits_while_the_name_is_gone_and_follows_when_it_is_back(
        shm_dir: Path, unique_name: str, spawn: Spawn) -> None:
    old = shmring.Ring.create(unique_name, slots=8, slot_bytes=64)
    with shmring.Ring.open(unique_name, reattach=True) as follower, follower.reader() as reader:
        old.unlink()
        old.close()
        with pytest.raises(shmring.WaitTimeout):
            reader.get(timeout=0.2)  # nothing to follow yet: a timeout, not "no such segment"
        with shmring.Ring.create(unique_name, slots=8, slot_bytes=64):
            go = SPAWN.Event()
            writer = spawn(kids.write_frames, unique_name, 3, go)
            go.set()
            assert [int(reader.get(timeout=JOIN_S).data[0]) for _ in range(3)] == [0, 1, 2]
            writer.join(JOIN_S)
