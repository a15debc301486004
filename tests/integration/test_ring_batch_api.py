"""put_many, get_many and get_bytes in one process: the same frames as put and get, and bad input refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shmring


def _ring(name: str, policy: str = "overwrite", slots: int = 8, **kw: Any) -> shmring.Ring:
    return shmring.Ring.create(name, slots=slots, slot_bytes=256, meta_bytes=128, policy=policy, **kw)


def _seen(frames: list[shmring.Frame]) -> list[tuple[Any, ...]]:
    return [(f.seq, f.data.dtype.str, f.data.shape, f.data.tobytes(), f.meta, f.flags, f.lost) for f in frames]


ITEMS: list[Any] = [b"abc", bytearray(b"de"), np.arange(6, dtype=np.float32).reshape(2, 3),
                    np.array(7, dtype=np.int64), np.arange(10, dtype=np.uint16)[::2], memoryview(b"xyz")]


def test_put_many_publishes_what_repeated_put_publishes(shm_dir: Path, unique_name: str) -> None:
    metas = [{"i": i} if i % 2 else None for i in range(len(ITEMS))]
    with _ring(unique_name + "a") as one, _ring(unique_name + "b") as many:
        by_one, by_many = one.reader(), many.reader()
        with one.writer() as w:
            for item, meta in zip(ITEMS, metas, strict=True):
                w.put(item, meta=meta, flags=5)
        with many.writer() as w:
            assert w.put_many(ITEMS, metas=metas, flags=5) == len(ITEMS)
        singles = [by_one.get(timeout=0) for _ in ITEMS]
        assert _seen(by_many.get_many(100, timeout=0)) == _seen(singles)


def test_rows_of_an_array_are_frames(shm_dir: Path, unique_name: str) -> None:
    block = np.arange(5 * 2 * 3, dtype=np.int16).reshape(5, 2, 3)
    with _ring(unique_name) as ring, ring.writer() as w:
        r = ring.reader()
        assert w.put_many(block[:, :, ::-1]) == 5  # not C-contiguous: copied first, as put() does
        frames = r.get_many(3, timeout=0) + r.get_many(3, timeout=0)
        assert [f.seq for f in frames] == [0, 1, 2, 3, 4]
        for f, row in zip(frames, block[:, :, ::-1], strict=True):
            np.testing.assert_array_equal(f.data, row)


def test_get_many_counts_frames_lost_exactly(shm_dir: Path, unique_name: str) -> None:
    with _ring(unique_name) as ring, ring.writer() as w:
        r = ring.reader()
        w.put_many([bytes([i]) for i in range(20)])  # 8 slots: frames 0..11 are overwritten
        frames = r.get_many(5, timeout=0)
        assert [(f.seq, f.lost) for f in frames] == [(12, 12), (13, 0), (14, 0), (15, 0), (16, 0)]
        assert r.lost == 12 and r.received == 5
        w.put_many([bytes([i]) for i in range(10)])  # frames 20..29: 17..21 overwritten
        assert [(f.seq, f.lost) for f in r.get_many(1, timeout=0)] == [(22, 5)]
        assert r.lost == 17


def test_get_bytes_returns_payloads_and_counts_losses(shm_dir: Path, unique_name: str) -> None:
    with _ring(unique_name) as ring, ring.writer() as w:
        r, q = ring.reader(), ring.reader(queue=True)
        w.put(np.array([1, 2], dtype=np.uint16), meta={"skipped": True})
        assert r.get_bytes(timeout=0) == np.array([1, 2], dtype=np.uint16).tobytes()
        assert q.get_bytes(timeout=0) == np.array([1, 2], dtype=np.uint16).tobytes()
        w.put_many([b"m%d" % i for i in range(10)])
        assert r.get_bytes(timeout=0) == b"m2" and r.lost == 2
        assert [r.get_bytes(timeout=0) for _ in range(7)] == [b"m%d" % i for i in range(3, 10)]
        with pytest.raises(shmring.WaitTimeout, match="no frame on ring"):
            r.get_bytes(timeout=0.01)
        assert r.received == 9


def test_queue_get_many_shares_frames_with_other_queue_readers(shm_dir: Path, unique_name: str) -> None:
    with _ring(unique_name, "block", slots=16) as ring, ring.writer() as w:
        a, b = ring.reader(queue=True), ring.reader(queue=True)
        w.put_many([b"%d" % i for i in range(12)])
        first, second, rest = a.get_many(5, timeout=0), b.get_many(4, timeout=0), a.get_many(100, timeout=0)
        assert [f.seq for f in first + second + rest] == list(range(12))
        with pytest.raises(shmring.WaitTimeout):
            b.get_many(1, timeout=0)


def test_block_batch_waits_slot_by_slot_and_times_out_for_the_whole_call(shm_dir: Path, unique_name: str) -> None:
    with _ring(unique_name, "block", slots=4) as ring, ring.writer() as w:
        r = ring.reader()
        with pytest.raises(shmring.WaitTimeout, match="stayed full") as raised:
            w.put_many([b"%d" % i for i in range(10)], timeout=0.05)
        assert raised.value.published == 4, "the batch filled the ring before it waited"
        assert [bytes(f.data) for f in r.get_many(10, timeout=0)] == [b"0", b"1", b"2", b"3"]
        assert w.put_many([b"4", b"5"], timeout=0) == 2


def test_drop_batch_publishes_the_items_that_have_room(shm_dir: Path, unique_name: str) -> None:
    with _ring(unique_name, "drop", slots=4) as ring, ring.writer() as w:
        r = ring.reader()
        assert w.put_many([b"a", b"b", b"c"]) == 3
        assert w.put_many([b"d", b"e", b"f"]) == 1, "one slot was left"
        assert [bytes(f.data) for f in r.get_many(10, timeout=0)] == [b"a", b"b", b"c", b"d"]
        assert w.put_many([b"e"]) == 1


def test_bad_batches_are_refused_with_nothing_written(shm_dir: Path, unique_name: str) -> None:
    with _ring(unique_name, dtype=None) as ring, ring.writer() as w:
        r = ring.reader()
        with pytest.raises(shmring.FrameError, match="300 bytes .* slot_bytes is 256"):
            w.put_many([b"ok", bytes(300)])
        with pytest.raises(shmring.FrameError, match="300 bytes"):
            w.put_many([np.zeros(3), np.zeros(300, np.uint8)])
        with pytest.raises(shmring.FrameError, match="meta"):
            w.put_many([b"a", b"b"], metas=[None, {"k": "x" * 500}])
        with pytest.raises(ValueError, match="got 1 metas for 2 items"):
            w.put_many([b"a", b"b"], metas=[None])
        with pytest.raises(ValueError, match="at least 1 dim"):
            w.put_many(np.array(3))
        with pytest.raises(ValueError, match="flags must fit in 32 bits"):
            w.put_many([b"a"], flags=1 << 32)
        with pytest.raises(TypeError, match="numpy array or a bytes-like object, got int"):
            w.put_many([b"a", 3])
        assert w.put_many([]) == 0
        assert ring.stats().write_seq == 0, "a refused batch wrote frames"
        with pytest.raises(ValueError, match="max_n must be an int >= 1, got 0"):
            r.get_many(0, timeout=0)


def test_schema_ring_refuses_a_batch_item_of_another_shape(shm_dir: Path, unique_name: str) -> None:
    with _ring(unique_name, dtype=np.uint8, shape=(4,)) as ring, ring.writer() as w:
        with pytest.raises(shmring.FrameError, match=r"takes \(4,\) uint8 frames, got \(3,\) uint8"):
            w.put_many([b"abcd", b"abc"])
        assert w.put_many([b"abcd", b"efgh"]) == 2
        assert ring.stats().write_seq == 2


def test_shared_writers_batches_stay_contiguous(shm_dir: Path, unique_name: str) -> None:
    with _ring(unique_name, "block", slots=16) as ring:
        r = ring.reader()
        with ring.writer(shared=True) as a, ring.writer(shared=True) as b:
            assert a.put_many([b"a1", b"a2"]) == 2 and b.put_many([b"b1", b"b2"]) == 2
        assert [bytes(f.data) for f in r.get_many(10, timeout=0)] == [b"a1", b"a2", b"b1", b"b2"]


def test_get_bytes_many_returns_payloads_and_counts_losses(shm_dir: Path, unique_name: str) -> None:
    with _ring(unique_name) as ring, ring.writer() as w:
        r, q = ring.reader(), ring.reader(queue=True)
        w.put_many([b"m%d" % i for i in range(20)])  # 8 slots: 0..11 overwritten
        assert r.get_bytes_many(3, timeout=0) == [b"m12", b"m13", b"m14"]
        assert (r.lost, r.received) == (12, 3)
        assert q.get_bytes_many(100, timeout=0) == [b"m%d" % i for i in range(12, 20)] and q.lost == 12
        w.put_many([b"n%d" % i for i in range(10)])  # frames 20..29: 15..21 overwritten for r
        assert r.get_bytes_many(100, timeout=0) == [b"n%d" % i for i in range(2, 10)]
        assert r.lost == 12 + 7
        with pytest.raises(shmring.WaitTimeout, match="no frame on ring"):
            r.get_bytes_many(5, timeout=0.01)
        w.put(b"last")
        assert [f.seq for f in r.get_many(5, timeout=0)] == [30], "the cursor moved past every payload taken"
