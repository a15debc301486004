"""Writer.skip: sequence numbers that are never written reach readers as lost frames."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import shmring


@pytest.mark.parametrize("policy", ["overwrite", "block"])
@pytest.mark.parametrize("gap", [1, 3, 7])
def test_skipped_numbers_are_counted_lost(shm_dir: Path, unique_name: str, policy: str, gap: int) -> None:
    with shmring.Ring.create(unique_name, slots=8, slot_bytes=64, policy=policy) as ring:
        reader = ring.reader()
        with ring.writer() as w:
            w.put(np.arange(4, dtype=np.uint8))
            first = reader.get(timeout=1.0)  # under block, room for frame 1 + gap needs frame 0 read
            assert w.skip(gap) == 1 + gap
            assert w.put(np.arange(4, dtype=np.uint8) + 1) == 1 + gap
        second = reader.get(timeout=1.0)
        assert (first.seq, first.lost) == (0, 0)
        assert (second.seq, second.lost) == (1 + gap, gap), f"skip({gap}) must read as {gap} lost frames"
        assert second.data.tolist() == [1, 2, 3, 4]
        assert reader.lost == gap


def test_skip_on_a_fresh_ring_counts_from_zero(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=16) as ring:
        reader = ring.reader()
        with ring.writer() as w:
            w.skip(5)
            w.put(b"x")
        f = reader.get(timeout=1.0)
        assert (f.seq, f.lost) == (5, 5)


def test_skip_refuses_a_negative_count(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=16) as ring, ring.writer() as w:
        with pytest.raises(ValueError, match="frames must be an int >= 0, got -1"):
            w.skip(-1)
        assert ring.info().write_seq == 0


def test_a_long_skip_under_overwrite_counts_every_number(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=16) as ring:
        reader = ring.reader()
        with ring.writer() as w:
            w.skip(100)
            w.put(b"x")
        f = reader.get(timeout=1.0)
        assert (f.seq, f.lost, reader.lost) == (100, 100, 100)


def test_a_skip_past_the_window_under_overwrite_counts_unread_frames_lost(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=16) as ring:
        reader = ring.reader()
        with ring.writer() as w:
            w.put(b"a")
            w.put(b"b")  # two frames written, none read yet
            w.skip(10)
            w.put(b"c")
        f = reader.get(timeout=1.0)
        assert (f.seq, bytes(f.data), f.lost) == (12, b"c", 12), "the unread frames count as lost with the skip"
        assert reader.received + reader.lost == 13, "every number is received or lost, exactly"


def test_a_skip_under_block_waits_for_readers_and_loses_no_written_frame(
        shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=16, policy="block") as ring:
        reader = ring.reader()
        with ring.writer() as w:
            w.put(b"a")
            with pytest.raises(shmring.WaitTimeout, match="did not read up to frame 1"):
                w.skip(50, timeout=0.2)
            assert reader.get(timeout=1.0).seq == 0
            assert w.skip(50, timeout=1.0) == 51
            got: list[shmring.Frame] = []
            # The put waits for room until the reader has looked past the skipped numbers.
            t = threading.Thread(target=lambda: got.append(reader.get(timeout=5.0)))
            t.start()
            w.put(b"b", timeout=5.0)
            t.join(5.0)
        assert got, "the reader got no frame after the skip"
        f = got[0]
        assert (f.seq, f.lost, f.data.tobytes()) == (51, 50, b"b")
