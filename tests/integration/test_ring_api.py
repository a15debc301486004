"""The Ring / Writer / Reader API in one process: what a user sees."""

from __future__ import annotations

import asyncio
import os
import stat
import struct
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shmring
from shmring import _format as F


@pytest.fixture
def ring(shm_dir: Path, unique_name: str) -> Any:
    r = shmring.Ring.create(unique_name, slots=4, slot_bytes=1 << 16, meta_bytes=512)
    yield r
    r.close()


def test_create_open_list_and_unlink(shm_dir: Path, unique_name: str) -> None:
    ring = shmring.Ring.create(unique_name, slots=3, slot_bytes=100, policy="drop")
    assert (ring.name, ring.slots, ring.slot_bytes, ring.policy) == (unique_name, 3, 100, "drop")
    assert ring.path == shm_dir / unique_name
    assert stat.S_IMODE(os.stat(ring.path).st_mode) == 0o600
    (shm_dir / "not-a-ring").write_bytes(b"hello")
    assert shmring.Ring.names() == [unique_name]
    with shmring.Ring.open(unique_name) as again:
        assert again.info().total_bytes == os.path.getsize(ring.path)
    with pytest.raises(shmring.SegmentExistsError):
        shmring.Ring.create(unique_name, slots=3, slot_bytes=100)
    ring.unlink()
    assert shmring.Ring.names() == []
    ring.close()
    with pytest.raises(shmring.SegmentNotFoundError):
        shmring.Ring.open(unique_name)


@pytest.mark.parametrize("dtype", ["uint8", "<u2", "int32", "float32", ">f8", "complex64", "bool"])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 2), ()])
def test_put_get_preserves_dtype_shape_and_values(ring: Any, dtype: str, shape: tuple[int, ...]) -> None:
    data = (np.arange(int(np.prod(shape))) % 2 == 1 if dtype == "bool"
            else np.arange(int(np.prod(shape))).astype(dtype)).reshape(shape)
    with ring.writer() as w, ring.reader() as r:
        w.put(data)
        frame = r.get(timeout=1)
    assert frame.data.dtype == np.dtype(dtype) and frame.data.shape == shape
    assert np.array_equal(frame.data, data)


def test_bytes_meta_flags_and_non_contiguous_arrays(ring: Any) -> None:
    with ring.writer() as w, ring.reader() as r:
        seq = w.put(b"hello", meta={"EXPTIME": 1.5, "OBJECT": "M31", "SIMPLE": True}, flags=2)
        frame = r.get(timeout=1)
        assert (seq, frame.seq, bytes(frame.data), frame.flags) == (0, 0, b"hello", 2)
        assert frame.meta == {"EXPTIME": 1.5, "OBJECT": "M31", "SIMPLE": True}
        assert frame.timestamp_ns > 0 and frame.monotonic_ns > 0
        image = np.arange(48, dtype=np.uint16).reshape(6, 8)[:, ::2]  # not C-contiguous
        w.put(image)
        frame = r.get(timeout=1)
        assert np.array_equal(frame.data, image) and (frame.width, frame.height) == (4, 6)


def test_frame_too_large_names_both_numbers_and_writes_nothing(ring: Any) -> None:
    with ring.writer() as w, ring.reader() as r:
        with pytest.raises(shmring.FrameError, match=r"frame of 65,537 bytes .* slot_bytes is 65,536"):
            w.put(np.zeros(65537, np.uint8))
        with pytest.raises(shmring.FrameError, match="ring allows 512"):
            w.put(b"x", meta={"K": "v" * 600})
        with pytest.raises(shmring.FrameError, match="not supported"):
            w.put(np.array(["a"]))
        with pytest.raises(shmring.FrameError, match="at most 4 dims"):
            w.put(np.zeros((1, 1, 1, 1, 2)))
        with pytest.raises(TypeError, match="numpy array or a bytes-like"):
            w.put(12)
        assert r.try_get() is None
        assert ring.info().write_seq == 0


def test_fixed_schema_is_enforced(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=2, dtype="uint16", shape=(4, 6)) as ring:
        assert ring.slot_bytes == 48 and ring.dtype == np.uint16 and ring.shape == (4, 6)
        with ring.writer() as w:
            w.put(np.zeros((4, 6), np.uint16))
            with pytest.raises(shmring.FrameError, match=r"takes \(4, 6\) uint16 frames, got \(4, 6\) float32"):
                w.put(np.zeros((4, 6), np.float32))
            with pytest.raises(shmring.FrameError, match=r"got \(6, 4\) uint16"):
                w.put(np.zeros((6, 4), np.uint16))
    with pytest.raises(ValueError, match="needs both dtype and shape"):
        shmring.Ring.create(unique_name + "x", dtype="uint16")
    with pytest.raises(ValueError, match="more than slot_bytes=10"):
        shmring.Ring.create(unique_name + "y", slot_bytes=10, dtype="uint16", shape=(4, 6))


def test_a_ring_is_unlinked_by_name_from_the_class_and_a_foreign_file_is_refused(shm_dir: Path,
                                                                                 unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=8) as ring, ring.writer() as w:
        w.put(b"kept")
        shmring.Ring.unlink(unique_name)
        assert shmring.Ring.names() == [] and w.put(b"still") == 1, "mapped handles keep working"
    with pytest.raises(shmring.SegmentNotFoundError, match=unique_name):
        shmring.Ring.unlink(unique_name)
    (shm_dir / "foreign").write_bytes(b"not a ring" * 1000)
    with pytest.raises(shmring.LayoutError, match="foreign"):
        shmring.Ring.unlink("foreign")
    assert (shm_dir / "foreign").exists(), "a file that is not a ring is refused, not removed"


def test_reserve_commits_on_exit_and_abandons_on_error(ring: Any) -> None:
    with ring.writer() as w, ring.reader() as r:
        with w.reserve((2, 3), np.float32, meta={"n": 1}) as arr:
            arr[:] = 4.0
        frame = r.get(timeout=1)
        assert frame.data.tolist() == [[4.0] * 3] * 2 and frame.meta == {"n": 1}
        with pytest.raises(RuntimeError), w.reserve(5) as arr:
            arr[:] = 9
            raise RuntimeError("camera failed")
        assert r.try_get() is None, "an abandoned reservation is never published"
        assert w.put(b"next") == 1, "the abandoned slot is reused"


@pytest.mark.parametrize("policy", ["overwrite", "block", "drop"])
@pytest.mark.parametrize("shared", [False, True])
def test_a_writer_with_a_frame_reserved_refuses_to_write_another(shm_dir: Path, unique_name: str, policy: str,
                                                                 shared: bool) -> None:
    # Each of these would have written the reserved frame's own slot: two frames in one, one lost.
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=64, policy=policy) as ring, \
            ring.writer(shared=shared) as w, ring.reader() as r:
        with w.reserve(8) as arr:
            arr[:] = 1
            for attempt in (lambda: w.reserve(8).__enter__(), lambda: w.put(b"x"),
                            lambda: w.put_many([b"y", b"z"]), lambda: w.skip(1)):
                with pytest.raises(RuntimeError, match=f"ring {unique_name!r} cannot .* while frame 0 is reserved"):
                    attempt()
        assert w.put(b"after") == 1, "once the reservation ends the writer writes again"
        frames = r.get_many(8, timeout=1)
    assert [(f.seq, bytes(f.data)) for f in frames] == [(0, bytes([1] * 8)), (1, b"after")]
    assert frames[1].lost == 0, "nothing was lost to the refused writes"


def test_reserving_again_and_again_gives_each_frame_its_own_type_and_metadata(shm_dir: Path,
                                                                             unique_name: str) -> None:
    # reserve() reuses the last reservation for the same frame type: a change of any argument must show.
    shape = (2, 3)
    with shmring.Ring.create(unique_name, slots=8, slot_bytes=64) as ring, ring.writer() as w, \
            ring.reader() as r:
        for i in range(3):
            with w.reserve(shape, np.float32) as arr:
                arr[:] = i
        with w.reserve(shape, np.int16, meta={"k": 1}) as arr:
            arr[:] = 7
        with w.reserve([3, 2], np.int16, flags=5) as arr:
            arr[:] = 8
        with pytest.raises(shmring.FrameError, match="not supported"):
            w.reserve(shape, "V8")
        with w.reserve(shape, np.float32) as arr:
            arr[:] = 9
        frames = r.get_many(8, timeout=1)
    seen = [(f.data.dtype.str, f.data.shape, f.data.flat[0], f.meta, f.flags) for f in frames]
    assert seen == [("<f4", (2, 3), 0, {}, 0), ("<f4", (2, 3), 1, {}, 0), ("<f4", (2, 3), 2, {}, 0),
                    ("<i2", (2, 3), 7, {"k": 1}, 0), ("<i2", (3, 2), 8, {}, 5), ("<f4", (2, 3), 9, {}, 0)]


def test_a_closed_writer_refuses_a_reservation_it_made_before(ring: Any) -> None:
    w = ring.writer()
    with w.reserve(4) as arr:
        arr[:] = 1
    w.close()
    with pytest.raises(shmring.ClosedError, match="closed"), w.reserve(4):
        pass


def test_reserve_can_set_metadata_from_the_pixels_and_is_stamped_at_commit(ring: Any) -> None:
    with ring.writer() as w, ring.reader() as r:
        res = w.reserve((4, 4), np.uint16, meta={"stage": "filling"})
        with res as arr:
            arr[:] = 3
            filled_ns = time.time_ns()
            res.set_meta({"SUM": int(arr.sum())})
        with pytest.raises(shmring.ClosedError, match="inside the reservation"):
            res.set_meta({"late": True})
        frame = r.get(timeout=1)
    assert frame.meta == {"SUM": 48}
    assert frame.timestamp_ns >= filled_ns, "the time stamp is taken when the frame is published"


def test_drop_policy_returns_none_when_full(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=8, policy="drop") as ring:
        w, r = ring.writer(), ring.reader()
        assert [w.put(b"a"), w.put(b"b"), w.put(b"c")] == [0, 1, None]
        assert bytes(r.get().data) == b"a"
        assert w.put(b"d") == 2
        assert [bytes(r.get().data) for _ in range(2)] == [b"b", b"d"]
        with pytest.raises(shmring.WouldBlock):
            w.put(b"e"), w.put(b"f")
            with w.reserve(1):
                pass


@pytest.mark.parametrize("how", ["put", "reserve"])
def test_a_block_writer_goes_exactly_as_far_as_the_slowest_reader_lets_it(shm_dir: Path, unique_name: str,
                                                                           how: str) -> None:
    def publish(w: Any, i: int) -> None:
        if how == "put":
            w.put(np.array([i], np.uint8), timeout=0)
        else:
            with w.reserve(1, timeout=0) as arr:
                arr[0] = i

    with shmring.Ring.create(unique_name, slots=4, slot_bytes=8, policy="block") as ring:
        slow, fast = ring.reader(), ring.reader()
        w = ring.writer()
        for i in range(4):
            publish(w, i)
            assert fast.get(timeout=1).data[0] == i
        with pytest.raises(shmring.WaitTimeout, match="frame 4 waits for readers to release frame 0"):
            publish(w, 4)
        assert slow.get(timeout=1).data[0] == 0  # one frame read: room for exactly one more
        publish(w, 4)
        with pytest.raises(shmring.WaitTimeout):
            publish(w, 5)
        w.close()
        slow.close()  # the slowest reader leaves: a new writer sees the room it left at once
        w = ring.writer()
        publish(w, 5)
        assert [int(fast.get(timeout=1).data[0]) for _ in range(2)] == [4, 5]
        w.close()


def test_try_get_latest_and_lost_counts(ring: Any) -> None:
    with ring.writer() as w, ring.reader() as r:
        assert r.try_get() is None
        for i in range(10):
            w.put(np.array([i]))
        frame = r.get()
        assert (frame.seq, frame.lost, r.lost) == (6, 6, 6)
        newest = r.latest()
        assert (newest.seq, newest.lost, r.lost) == (9, 2, 8)


def test_start_positions(ring: Any) -> None:
    with ring.writer() as w:
        for i in range(6):
            w.put(np.array([i]))
        assert ring.reader(start="oldest").get().seq == 2
        assert ring.reader(start="latest").get().seq == 5
        nxt = ring.reader(start="next")
        assert nxt.try_get() is None
    with pytest.raises(ValueError, match="start must be one of next, oldest, latest"):
        ring.reader(start="first")


def test_out_buffer_is_filled_in_place(ring: Any) -> None:
    with ring.writer() as w, ring.reader() as r:
        w.put(np.arange(6, dtype=np.int16).reshape(2, 3))
        out = np.empty((2, 3), np.int16)
        assert r.get(out=out).data is out and out.tolist() == [[0, 1, 2], [3, 4, 5]]
        w.put(np.arange(6, dtype=np.int16))
        with pytest.raises(ValueError, match=r"out must be \(6,\) int16"):
            r.get(out=out)
        w.put(np.arange(8, dtype=np.int16))
        small = np.empty(2, np.int16)
        with pytest.raises(ValueError, match="out holds 4 bytes, the frame needs 16; the frame stays unread"):
            r.get(out=small)
        assert r.get(timeout=1).data.tolist() == list(range(8))


def test_iteration_subscribe_and_aiter(ring: Any) -> None:
    got: list[int] = []
    done = threading.Event()

    def on_frame(frame: shmring.Frame) -> None:
        got.append(frame.seq)
        if len(got) == 3:
            done.set()

    with ring.writer() as w:
        sub = ring.reader().subscribe(on_frame)
        it = iter(ring.reader())
        for i in range(3):
            w.put(np.array([i]))
        assert [next(it).seq for _ in range(3)] == [0, 1, 2]
        assert done.wait(5), f"callback saw {got}"
        sub.stop()
        assert got == [0, 1, 2] and not sub.running

        async def first_two() -> list[int]:
            out = []
            async for frame in reader.aiter():
                out.append(frame.seq)
                if len(out) == 2:
                    return out
            return out

        reader = ring.reader()
        w.put(np.array([3]))
        threading.Timer(0.05, lambda: w.put(np.array([4]))).start()
        assert asyncio.run(asyncio.wait_for(first_two(), 5)) == [3, 4]


def test_subscription_error_is_reraised_by_stop(ring: Any) -> None:
    def broken(frame: shmring.Frame) -> None:
        raise KeyError("bad callback")

    with ring.writer() as w:
        sub = ring.reader().subscribe(broken)
        w.put(b"x")
        sub._thread.join(5)
        with pytest.raises(KeyError, match="bad callback"):
            sub.stop()


def test_close_from_another_thread_interrupts_a_blocked_get(ring: Any) -> None:
    reader = ring.reader()
    threading.Timer(0.1, reader.interrupt).start()
    with pytest.raises(shmring.ClosedError, match="closed or stopped while waiting"):
        reader.get(timeout=10)


def test_closing_the_ring_ends_a_subscription_and_a_blocked_get_cleanly(ring: Any) -> None:
    sub = ring.reader().subscribe(lambda frame: None)
    blocked = ring.reader()
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            blocked.get(timeout=30)
        except BaseException as err:  # noqa: BLE001 -- the test inspects what the thread saw
            outcome.append(err)

    waiter = threading.Thread(target=wait)
    waiter.start()
    deadline = time.monotonic() + 5
    # Nothing announces "asleep in the kernel": re-check briefly, bounded.
    while not (sub._reader._sleeping and blocked._sleeping):
        assert time.monotonic() < deadline, "the two readers never went to sleep"
        threading.Event().wait(0.01)
    ring.close()
    waiter.join(5)
    sub.stop()
    assert not waiter.is_alive() and not sub.running
    assert len(outcome) == 1 and isinstance(outcome[0], shmring.ClosedError)
    with pytest.raises(shmring.ClosedError, match="closed"):
        blocked.try_get()


def test_closing_a_ring_under_a_writer_thread_copying_large_frames_is_an_error_not_a_crash(
        shm_dir: Path, unique_name: str) -> None:
    ring = shmring.Ring.create(unique_name, slots=4, slot_bytes=8 << 20, meta_bytes=0)
    writer, frame = ring.writer(), np.ones(2 << 20, np.uint32)  # copied with the GIL released
    writing, ended = threading.Event(), []

    def write_forever() -> None:
        try:
            while True:
                writer.put(frame)
                writing.set()
        except shmring.ShmringError as err:
            ended.append(err)

    thread = threading.Thread(target=write_forever)
    thread.start()
    assert writing.wait(10), "the writer thread never wrote"
    ring.close()  # waits for a copy in flight instead of unmapping under it
    thread.join(10)
    assert not thread.is_alive() and len(ended) == 1 and isinstance(ended[0], shmring.ClosedError)


def test_reader_table_full_is_a_clear_error(ring: Any) -> None:
    readers = [ring.reader() for _ in range(F.READER_ENTRIES)]
    with pytest.raises(shmring.ReaderTableFullError, match="48 live readers") as caught:
        ring.reader()
    assert (caught.value.name, caught.value.entries) == (ring.name, F.READER_ENTRIES)
    assert isinstance(caught.value, shmring.ShmringError)
    readers[0].close()
    ring.reader().close()


def test_stats_list_readers_with_cursor_lag_and_lost(ring: Any) -> None:
    with ring.writer() as w:
        r = ring.reader(name="viewer")
        for i in range(6):
            w.put(np.array([i]))
        r.get()
        stats = ring.stats()
    (row,) = stats.readers
    assert (row.name, row.mode, row.alive, row.cursor, row.lag, row.lost) == (
        "viewer", "broadcast", True, 3, 3, 2)
    assert stats.write_seq == 6 and stats.rate_hz > 0


def test_closed_handles_raise_closed_error(ring: Any) -> None:
    w, r = ring.writer(), ring.reader()
    w.close()
    with pytest.raises(shmring.ClosedError):
        w.put(b"x")
    ring.close()
    with pytest.raises(shmring.ClosedError):
        r.get(timeout=0)
    ring.close()  # idempotent


def test_recreated_ring_is_detected_or_reattached(shm_dir: Path, unique_name: str) -> None:
    old = shmring.Ring.create(unique_name, slots=2, slot_bytes=8)
    strict = shmring.Ring.open(unique_name).reader()
    follower_ring = shmring.Ring.open(unique_name, reattach=True)
    follower = follower_ring.reader()
    old.unlink()
    old.close()
    new = shmring.Ring.create(unique_name, slots=2, slot_bytes=32)
    with pytest.raises(shmring.BrokenError, match="removed or re-created"):
        strict.get(timeout=2)
    with new.writer() as w:
        w.put(b"from the new ring")
    assert bytes(follower.get(timeout=5).data) == b"from the new ring"
    assert follower_ring.slot_bytes == 32
    new.close()
    follower_ring.close()


# fork() in a threaded test process warns on newer Pythons; these children only touch the ring.
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_use_after_fork_is_refused(ring: Any) -> None:
    reader = ring.reader()
    pid = os.fork()
    if pid == 0:
        try:
            reader.try_get()
        except shmring.BrokenError as err:
            os._exit(0 if "must Ring.open() anew" in str(err) else 1)
        os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _corrupt(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.mark.parametrize(("offset", "data", "message"), [
    (0, b"XXXXXXXX", "magic"),
    (8, struct.pack("<I", 7), "version is 7, expected 1"),
    (24, struct.pack("<I", 3), "total bytes is 20480, expected 28672"),
    (32, struct.pack("<Q", 12288), "slot stride is 12288, expected 8192"),
    (16, struct.pack("<Q", 10**12), "total bytes"),
    (F.OFF_QUEUE_SEQ, struct.pack("<Q", 5), "queue sequence 5 is ahead of write sequence 0"),
    (F.reader_offset(3) + F.R_STATE, struct.pack("<I", 77), "reader entry 3 has state 77"),
])
def test_corrupt_header_is_refused_clearly(shm_dir: Path, unique_name: str, offset: int, data: bytes,
                                           message: str) -> None:
    shmring.Ring.create(unique_name, slots=2, slot_bytes=100).close()
    _corrupt(shm_dir / unique_name, offset, data)
    with pytest.raises(shmring.LayoutError, match=message):
        shmring.Ring.open(unique_name)


def test_truncated_random_and_legacy_files_are_refused(shm_dir: Path, unique_name: str) -> None:
    shmring.Ring.create(unique_name, slots=2, slot_bytes=100).close()
    os.truncate(shm_dir / unique_name, 5000)
    with pytest.raises(shmring.LayoutError, match="file size is 5000"):
        shmring.Ring.open(unique_name)
    (shm_dir / "random").write_bytes(np.random.default_rng(1).bytes(9000))
    with pytest.raises(shmring.LayoutError, match="magic"):
        shmring.Ring.open("random")
    (shm_dir / "tiny").write_bytes(b"SHMRING\x00")
    with pytest.raises(shmring.LayoutError, match="truncated"):
        shmring.Ring.open("tiny")
    (shm_dir / "legacy").write_bytes(struct.pack("<8I", 0x11031973, 4096, 0, 100, 4, 0, 0, 0) + bytes(4064))
    with pytest.raises(shmring.LayoutError, match="legacy SharedMem"):
        shmring.Ring.open("legacy")


def test_corrupt_slot_header_is_an_error_not_a_crash(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=100) as ring:
        w, r = ring.writer(), ring.reader()
        w.put(np.zeros(10, np.uint8))
        slot = ring._mapping().layout.slot_offset(0)
        _corrupt(shm_dir / unique_name, slot + 64, struct.pack("<Q", 10**9))  # shape[0]
        with pytest.raises(shmring.BrokenError, match="slot of frame 0 is corrupt"):
            r.get(timeout=1)


def test_a_slot_dtype_numpy_has_no_type_for_is_a_broken_ring(shm_dir: Path, unique_name: str) -> None:
    # Found by fuzzing: "|c1" passed the slot check and numpy raised TypeError from get(); the C
    # read step refuses it now, with the sizes each kind has from _format.
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=100) as ring:
        w, r = ring.writer(), ring.reader()
        w.put(np.zeros(10, np.uint8))
        slot = ring._mapping().layout.slot_offset(0)
        _corrupt(shm_dir / unique_name, slot + 48, b"|c1\x00")  # the slot's dtype typestr
        named = r"its dtype is no numpy typestr.*\(dtype b'\|c1', ndim 1, 10 payload bytes\)"
        with pytest.raises(shmring.BrokenError, match=named):
            r.get(timeout=1)


def test_numpy_only_reader_example_reads_the_latest_frame(shm_dir: Path, unique_name: str) -> None:
    import runpy

    example = runpy.run_path(str(Path(__file__).parents[2] / "examples" / "numpy_only_reader.py"))
    with shmring.Ring.create(unique_name, slots=3, slot_bytes=1 << 12) as ring, ring.writer() as w:
        for i in range(5):
            w.put(np.full((8, 9), i, np.int32), meta={"EXPTIME": i / 2})
        seq, data, meta = example["read_latest"](str(shm_dir / unique_name))
    assert seq == 4 and data.dtype == np.int32 and data.shape == (8, 9) and (data == 4).all()
    assert meta == {"EXPTIME": 2.0}


def test_a_frame_written_from_the_spec_alone_is_read_back(shm_dir: Path, unique_name: str) -> None:
    """A foreign writer that follows docs/format.md by hand, read by shmring's C fast path."""
    from shmring import _sync

    with shmring.Ring.create(unique_name, slots=2, slot_bytes=64, meta_bytes=64) as ring:
        reader = ring.reader()
        buf = ring._mapping().buf
        slot = 4096  # frame 0 lives in slot 0, right after the header page
        _sync.store64(buf, slot, 1)  # seqlock odd: being written
        struct.pack_into("<QQQQII8sI4x4Q", buf, slot + 8, 0, 12, 111, 222, 5, 9, b"<i2", 2, 2, 3, 0, 0)
        buf[slot + 128: slot + 137] = b'{"K": 1} '[:9]
        payload = slot + ring._mapping().layout.payload_offset
        buf[payload: payload + 12] = np.arange(6, dtype="<i2").tobytes()
        _sync.store64(buf, slot, 2)  # seqlock 2*0+2: committed
        _sync.fetch_add64(buf, 128, 1)  # write_seq
        frame = reader.get(timeout=1)
    assert (frame.seq, frame.timestamp_ns, frame.monotonic_ns, frame.flags) == (0, 111, 222, 5)
    assert frame.data.tolist() == [[0, 1, 2], [3, 4, 5]] and frame.meta == {"K": 1}


def test_large_copies_reuse_a_buffer_only_once_its_frame_is_gone(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=2 << 20, meta_bytes=0) as ring:
        w, r = ring.writer(), ring.reader()
        for value in range(4):
            w.put(np.full(1 << 20, value, np.uint16))
        kept = r.get(timeout=1)
        second = r.get(timeout=1)
        assert not np.shares_memory(kept.data, second.data), "a frame still held is never reused"
        address = second.data.ctypes.data
        del second
        third = r.get(timeout=1)
        assert third.data.ctypes.data == address, "the buffer of a dropped frame is reused"
        view_of_third = third.data[::2]
        del third
        fourth = r.get(timeout=1)
        assert not np.shares_memory(view_of_third, fourth.data), "a view keeps its frame's buffer"
        assert (kept.data == 0).all() and (view_of_third == 2).all() and (fourth.data == 3).all()
        assert fourth.data.flags.writeable


def test_frames_held_beyond_the_pool_are_plain_copies(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=8, slot_bytes=1 << 20, meta_bytes=0) as ring:
        w, r = ring.writer(), ring.reader()
        for value in range(6):
            w.put(np.full(1 << 19, value, np.uint16))
        held = [r.get(timeout=1) for _ in range(6)]  # more than the reader's four pooled buffers
        assert r.try_get() is None
        for i, frame in enumerate(held):
            assert (frame.data == i).all()
            assert not any(np.shares_memory(frame.data, other.data) for other in held[i + 1:])


def test_info_and_stats_are_frozen_dataclasses_with_a_json_form(shm_dir: Path, unique_name: str) -> None:
    import dataclasses
    import json

    with shmring.Ring.create(unique_name, slots=4, dtype="<u2", shape=(3, 5)) as ring, ring.writer() as w:
        r = ring.reader(name="cam")
        w.put(np.zeros((3, 5), "<u2"))
        info, stats = ring.info(), ring.stats()
        r.close()
    assert isinstance(info, shmring.RingInfo) and isinstance(stats, shmring.RingStats)
    assert (info.slots, info.slot_bytes, info.dtype, info.shape, info.write_seq, info.writer_alive) == (
        4, 30, "<u2", (3, 5), 1, True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.slots = 5  # type: ignore[misc]
    (row,) = stats.readers
    assert isinstance(row, shmring.ReaderInfo) and (row.name, row.mode) == ("cam", "broadcast")
    as_dict = stats.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict, "to_dict() is not plain JSON data"
    assert as_dict["shape"] == [3, 5] and as_dict["readers"][0]["name"] == "cam"
    assert {k: as_dict[k] for k in info.to_dict()} == info.to_dict(), "stats() does not extend info()"
    assert set(as_dict) == set(info.to_dict()) | {"rate_hz", "last_write_ns", "readers"}


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_ring_dropped_without_close_gives_back_its_descriptors_and_lease(shm_dir: Path, unique_name: str) -> None:
    # Found by the soak: each Ring.open() whose handle was dropped unclosed kept two
    # descriptors (and its "attached" lease, so `shmring gc` saw the ring as held) for good.
    shmring.Ring.create(unique_name, slots=2, slot_bytes=64).close()
    before = _open_fds()
    for _ in range(20):
        ring = shmring.Ring.open(unique_name)
        ring.writer().put(b"x")
        ring.reader().try_get()
        del ring
    assert _open_fds() == before, "dropped Ring handles kept their descriptors"
    with shmring.Ring.open(unique_name) as probe:
        held = shmring.Lease.is_held(probe._mapping().probe_fd, F.LOCK_ATTACHED)
        probe._mapping().attached.release()  # type: ignore[union-attr]
        assert not shmring.Lease.is_held(probe._mapping().probe_fd, F.LOCK_ATTACHED), (
            f"a dropped handle still holds the ring's attached lease (held before releasing ours: {held})")
