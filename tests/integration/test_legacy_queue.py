"""SharedMem behaviour a user sees in one process: names, numpy, re-creation, on_buf, Locker."""

from __future__ import annotations

import os
import secrets
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from shmring import FrameError, Locker, SharedMem, WaitTimeout
from shmring.legacy import BUFH_MAT_RGB, BUFH_UYVY, Buf

pytestmark = pytest.mark.usefixtures("shm_dir")

WAIT_S = 10.0


def test_bare_name_lives_where_the_original_put_it() -> None:
    name = f"shmring-test-{secrets.token_hex(4)}"
    mem = SharedMem.create(name, 16, 2)
    try:
        assert mem.path == Path(f"/tmp/smem_{name}")
        with SharedMem.open(name) as other:
            assert other.put_buf(b"hi")
        assert mem.get_buf() == (b"hi", 1, 0, 0, 0)
    finally:
        mem.delete()
    assert not Path(f"/tmp/smem_{name}").exists()


def test_flag_constants_keep_their_meaning() -> None:
    assert (BUFH_UYVY, BUFH_MAT_RGB) == (1, 2)


def test_numpy_in_and_out(tmp_path: Path) -> None:
    image = np.arange(12, dtype=np.uint16).reshape(3, 4)
    with SharedMem.create(tmp_path / "smem_np", image.nbytes, 2) as mem:
        assert mem.put_buf(image, flags=BUFH_UYVY)
        got = mem.get_buf(dtype=np.uint16)
        assert got is not None and (got.width, got.height) == (4, 3)
        np.testing.assert_array_equal(got.data, image)
        got.data[0, 0] = 7  # a private, writable copy

        mem.put_buf(image)
        with pytest.raises(FrameError, match=r"12 uint16 items cannot take shape \(5, 5\)"):
            mem.get_buf(dtype=np.uint16, shape=(5, 5))
        assert mem.header().count == 1, "a buffer that does not fit dtype/shape stays queued"
        flat = mem.get_buf(shape=(24,))
        assert flat is not None and flat.data.dtype == np.uint8 and flat.data.shape == (24,)

        rgb = np.zeros((2, 2, 3), np.uint8)
        mem.put_buf(rgb, flags=BUFH_MAT_RGB)
        got = mem.get_buf(dtype=np.uint8)
        assert got is not None and got.data.shape == (2, 2, 3)


def test_get_buf_waits_up_to_timeout_and_returns_none(tmp_path: Path) -> None:
    with SharedMem.create(tmp_path / "smem_wait", 8, 2) as mem:
        assert mem.get_buf(timeout=0.05) is None
        with pytest.raises(ValueError, match="timeout must be >= 0"):
            mem.get_buf(timeout=-1)


def test_consumer_follows_a_file_deleted_and_recreated_by_its_producer(tmp_path: Path) -> None:
    path = tmp_path / "smem_restart"
    producer = SharedMem.create(path, 8, 4)
    consumer = SharedMem.open(path)
    producer.put_buf(b"old")
    assert consumer.get_buf() == (b"old", 1, 0, 0, 0)
    producer.delete()  # what the C++ init() does on every start
    restarted = SharedMem.create(path, 32, 2)  # a new file, other geometry
    try:
        assert restarted.put_buf(b"new", 1, 1, 0)
        got = consumer.get_buf()
        assert got == (b"new", 1, 1, 1, 0), "the consumer must pick up the re-created file"
        assert consumer.reattached == 1 and consumer.item_size == 32
    finally:
        consumer.close()
        restarted.close()


def test_producer_follows_a_file_recreated_by_a_restarted_consumer(tmp_path: Path) -> None:
    path = tmp_path / "smem_restart2"
    producer = SharedMem.create(path, 8, 1)
    assert producer.put_buf(b"1")
    os.unlink(path)
    fresh = SharedMem.create(path, 8, 1)
    try:
        assert producer.put_buf(b"2"), "full old file + new file under the path: put goes to the new one"
        assert fresh.get_buf() == (b"2", 2, 0, 0, 0)
    finally:
        producer.close()
        fresh.close()


def _put_like_the_original(path: Path, data: bytes) -> None:
    """Append one buffer with plain file writes and no lock or signal, as the originals do."""
    with open(path, "r+b") as f:
        header = list(struct.unpack("<8I", f.read(32)))
        item_size, item_alloc, head = header[3], header[4], header[5]
        f.seek(32 + head * (20 + item_size))
        f.write(struct.pack("<5I", 77, len(data), 0, 0, 0) + data)
        header[5], header[7] = (head + 1) % item_alloc, header[7] + 1
        f.seek(0)
        f.write(struct.pack("<8I", *header))


def test_on_buf_sees_a_producer_that_cannot_signal_within_the_poll_interval(tmp_path: Path) -> None:
    got: list[Buf] = []
    arrived = threading.Event()
    with SharedMem.create(tmp_path / "smem_poll", 8, 4) as mem:
        listener = mem.on_buf(lambda buf: (got.append(buf), arrived.set()), poll_interval=0.02)
        _put_like_the_original(mem.path, b"legacy")
        assert arrived.wait(WAIT_S), "on_buf never delivered a buffer put by a non-signalling producer"
        listener.stop()
        assert not listener.running
    assert got == [(b"legacy", 77, 0, 0, 0)]


def test_on_buf_callback_error_stops_the_listener_and_is_raised_by_stop(tmp_path: Path) -> None:
    failed = threading.Event()

    def boom(buf: Buf) -> None:
        failed.set()
        raise RuntimeError(f"cannot handle {buf.put_counter}")

    with SharedMem.create(tmp_path / "smem_boom", 8, 4) as mem:
        listener = mem.on_buf(boom, poll_interval=5.0)
        mem.put_buf(b"x")
        assert failed.wait(WAIT_S), "callback never ran"
        with pytest.raises(RuntimeError, match="cannot handle 1"):
            listener.stop()


def test_locker_excludes_a_second_holder_and_times_out() -> None:
    first, second = Locker("cam.lock"), Locker("cam.lock")
    with first:
        assert second.locked()
        assert second.acquire(timeout=0) is False
        with pytest.raises(WaitTimeout, match="still held"):
            second.acquire(timeout=0.05)
    assert second.acquire(timeout=1.0)
    assert first.locked()
    second.release()
    first.close()
    second.close()


def test_a_handle_dropped_without_close_gives_back_its_descriptors(shm_dir: Path, tmp_path: Path) -> None:
    # Found by the soak: every SharedMem.open() dropped unclosed kept two descriptors for good.
    path = tmp_path / "smem_cam"
    SharedMem.create(path, 8, 2).close()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        mem = SharedMem.open(path)
        mem.put_buf(b"x")
        del mem
    assert len(os.listdir("/proc/self/fd")) == before, "dropped SharedMem handles kept their descriptors"
