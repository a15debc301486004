"""A reader waiting on a ring whose writer died: ``get(writer_gone="raise")`` learns at once."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest
from _stream_children import write_then_hang

import shmring

SPAWN = mp.get_context("spawn")


def _get_in_thread(reader: shmring.Reader, **kwargs: object) -> tuple[threading.Thread, list[Exception]]:
    errors: list[Exception] = []

    def run() -> None:
        try:
            reader.get(**kwargs)  # type: ignore[arg-type]
        except shmring.ShmringError as err:
            errors.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_killed_writer_raises_broken_for_a_waiting_reader(
        shm_dir: Path, unique_name: str, spawn: Callable[..., BaseProcess]) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=64) as ring, ring.reader(start="oldest") as reader:
        ready = SPAWN.Queue()
        child = spawn(write_then_hang, unique_name, 2, ready)
        assert ready.get(timeout=30) == "written", "the writer child did not start"
        assert [reader.get(timeout=5, writer_gone="raise").seq for _ in range(2)] == [0, 1]
        thread, errors = _get_in_thread(reader, timeout=60, writer_gone="raise")
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        thread.join(30)
        assert not thread.is_alive(), "get(writer_gone='raise') kept waiting after the writer was killed"
        assert len(errors) == 1 and isinstance(errors[0], shmring.BrokenError), errors
        assert "writer is gone" in str(errors[0]) and unique_name in str(errors[0])


def test_unread_frames_come_first_then_broken(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=64) as ring, ring.reader(start="oldest") as reader:
        with ring.writer() as writer:
            writer.put(b"last words")
        assert reader.get(timeout=5, writer_gone="raise").data.tobytes() == b"last words"
        with pytest.raises(shmring.BrokenError, match="writer is gone"):
            reader.get(timeout=30, writer_gone="raise")


def test_clean_close_wakes_a_waiting_reader(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=64) as ring, ring.reader() as reader:
        writer = ring.writer()
        writer.put(b"x")
        reader.get(timeout=5)
        thread, errors = _get_in_thread(reader, timeout=60, writer_gone="raise")
        writer.close()
        thread.join(30)
        assert not thread.is_alive() and len(errors) == 1 and isinstance(errors[0], shmring.BrokenError), errors


def test_default_waits_and_times_out_naming_the_missing_writer(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=64) as ring, ring.reader() as reader:
        with ring.writer() as writer:
            writer.put(b"x")
        reader.get(timeout=5)
        with pytest.raises(shmring.WaitTimeout, match="writer not attached"):
            reader.get(timeout=0.2)


def test_a_ring_that_never_had_a_writer_is_waited_on(shm_dir: Path, unique_name: str) -> None:
    """A reader started before its camera must not fail: there was no writer to lose."""
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=64) as ring, ring.reader() as reader:
        with pytest.raises(shmring.WaitTimeout):
            reader.get(timeout=0.2, writer_gone="raise")
        with ring.writer() as writer:
            writer.put(b"late")
            assert reader.get(timeout=5, writer_gone="raise").data.tobytes() == b"late"


def test_writer_gone_must_be_wait_or_raise(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=64) as ring, ring.reader() as reader:
        with pytest.raises(ValueError, match=r"writer_gone must be one of wait, raise; got 'error'"):
            reader.get(timeout=0.1, writer_gone="error")
