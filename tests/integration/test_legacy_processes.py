"""SharedMem, Locker and send/answer across real processes."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

import _legacy_children as kids
import pytest

from shmring import FrameError, Locker, SharedMem, WaitTimeout
from shmring.legacy import Buf, answer, send

pytestmark = pytest.mark.usefixtures("shm_dir")

SPAWN = mp.get_context("spawn")
WAIT_S = 30.0
Spawn = Callable[..., BaseProcess]


def _gaps(counters: list[int], total: int) -> int:
    """Buffers missing from ``counters`` (put_counter 1..total), leading and trailing included."""
    missing, last = 0, 0
    for counter in counters:
        assert counter > last, f"put_counter went backwards or repeated: {last} then {counter}"
        missing += counter - last - 1
        last = counter
    return missing + total - last


def test_consumer_gaps_equal_producer_drops_over_1000_buffers(tmp_path: Path, spawn: Spawn) -> None:
    total, slots = 1000, 4
    mem = SharedMem.create(tmp_path / "smem_pair", 64, slots)
    go, result = SPAWN.Event(), SPAWN.Queue()
    # The first 2*slots puts meet a full queue, so drops are certain, not a matter of timing.
    producer = spawn(kids.put_many, str(mem.path), total, 2 * slots, go, result)
    assert go.wait(WAIT_S), f"producer never started (exit code {producer.exitcode})"
    counters: list[int] = []
    deadline = time.monotonic() + WAIT_S
    dropped: int | None = None
    while time.monotonic() < deadline:
        buf = mem.get_buf(timeout=0.05)
        if buf is not None:
            counters.append(buf.put_counter)
            assert buf.data == kids.pattern(buf.put_counter, 64)[0][:64], f"bytes of {buf.put_counter} differ"
        elif dropped is None:
            try:
                dropped = result.get_nowait()  # producer done; drain what is left
            except queue.Empty:
                pass
        else:
            break
    mem.close()
    assert dropped is not None, f"producer did not finish within {WAIT_S} s"
    assert dropped >= slots and counters, "the test must see both drops and deliveries"
    assert _gaps(counters, total) == dropped, f"received {len(counters)}, producer dropped {dropped}"


def test_on_buf_is_woken_by_a_shmring_producer_not_by_polling(tmp_path: Path, spawn: Spawn) -> None:
    mem = SharedMem.create(tmp_path / "smem_wake", 8, 4)
    got: queue.Queue[Buf] = queue.Queue()
    listener = mem.on_buf(got.put, poll_interval=60.0)  # a poll would take a minute
    request = SPAWN.Queue()
    spawn(kids.put_on_request, str(mem.path), request, 3)
    try:
        for k in (1, 2, 3):
            started = time.monotonic()
            request.put(k)
            buf = got.get(timeout=WAIT_S)
            assert buf.put_counter == k and buf.flags == k
            assert time.monotonic() - started < 10.0, "delivery waited for the poll interval"
    finally:
        listener.stop()
        mem.close()


def test_locker_held_by_a_killed_process_is_free(tmp_path: Path, spawn: Spawn, shm_dir: Path) -> None:
    held = SPAWN.Event()
    holder = spawn(kids.hold_locker, "killed.lock", str(shm_dir), held)
    assert held.wait(WAIT_S), f"holder never took the lock (exit code {holder.exitcode})"
    locker = Locker("killed.lock")
    with pytest.raises(WaitTimeout):
        locker.acquire(timeout=0.1)
    assert holder.pid is not None
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(WAIT_S)
    assert locker.acquire(timeout=5.0), "the kernel must release the lock of a killed holder"
    locker.close()


def test_send_answer_across_processes(tmp_path: Path, spawn: Spawn) -> None:
    path = tmp_path / "message"
    ready = SPAWN.Event()
    answerer = spawn(kids.answer_messages, str(path), 2, ready)
    assert ready.wait(WAIT_S), "answerer never started"
    assert send(path, "hello camera", timeout=WAIT_S) == "HELLO CAMERA"
    assert send(path, "ünïcode ok", timeout=WAIT_S) == "ÜNÏCODE OK"
    answerer.join(WAIT_S)
    assert answerer.exitcode == 0
    assert path.stat().st_size == 256
    assert path.read_bytes()[0] == 0, "byte 0 is back to 0 after the reply"


def test_send_times_out_clearly_when_nobody_answers(tmp_path: Path) -> None:
    path = tmp_path / "message"
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match="nobody answered .* within 0.2 s"):
        send(path, "anyone?", timeout=0.2)
    assert time.monotonic() - started < 5.0
    assert path.read_bytes()[0] == 0, "an unanswered message is withdrawn"


def test_answer_times_out_when_no_message(tmp_path: Path) -> None:
    with pytest.raises(WaitTimeout, match="no message arrived"):
        answer(tmp_path / "message", timeout=0.05)


def test_message_limit_is_255_bytes(tmp_path: Path) -> None:
    path = tmp_path / "message"
    with pytest.raises(FrameError, match="message is 256 bytes.*at most 255") as info:
        send(path, "x" * 256, timeout=0.1)
    assert (info.value.length, info.value.limit) == (256, 255)
    done = threading.Event()
    replies: list[str] = []

    def reply_once() -> None:
        replies.append(answer(path, transform=lambda text: text[::-1], timeout=WAIT_S))
        done.set()

    thread = threading.Thread(target=reply_once)
    thread.start()
    longest = "ab" * 127 + "c"
    assert send(path, longest, timeout=WAIT_S) == longest[::-1]
    thread.join(WAIT_S)
    assert done.is_set() and replies == [longest]


def test_a_file_of_another_size_is_not_a_message_file(tmp_path: Path) -> None:
    path = tmp_path / "message"
    path.write_bytes(bytes(300))
    with pytest.raises(ValueError, match="file size.*expected 256, found 300"):
        send(path, "x", timeout=0.1)


def test_original_style_answerer_reply_is_read_up_to_the_first_nul(tmp_path: Path) -> None:
    path = tmp_path / "message"
    path.write_bytes(bytes(256))
    stop = threading.Event()

    def original_answerer() -> None:
        # The original: poll byte 0, upper-case `length` bytes in place, clear byte 0. No lock, no wake.
        while not stop.is_set():
            with open(path, "r+b") as f:
                data = bytearray(f.read(256))
                if data[0]:
                    data[1 : 1 + data[0]] = bytes(data[1 : 1 + data[0]]).upper()
                    f.seek(1)
                    f.write(data[1 : 1 + data[0]])
                    f.flush()
                    f.seek(0)
                    f.write(b"\0")
                    return
            stop.wait(0.005)

    thread = threading.Thread(target=original_answerer)
    thread.start()
    try:
        assert send(path, "a much longer first message", timeout=WAIT_S) == "A MUCH LONGER FIRST MESSAGE"
    finally:
        stop.set()
        thread.join(WAIT_S)
    thread = threading.Thread(target=original_answerer)
    stop.clear()
    thread.start()
    try:
        assert send(path, "short", timeout=WAIT_S) == "SHORT", "leftovers of a longer message must not show"
    finally:
        stop.set()
        thread.join(WAIT_S)
