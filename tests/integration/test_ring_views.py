"""Zero-copy read views cannot be made writable: their base buffer is a read-only mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import shmring


def test_view_cannot_be_made_writable_and_slot_stays_intact(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=64) as ring, ring.writer() as w, \
            ring.reader(start="oldest") as r:
        w.put(np.arange(8, dtype=np.uint8))
        frame = r.get(timeout=1.0, view=True)
        assert not frame.data.flags.writeable, "a view must be handed out read-only"
        with pytest.raises(ValueError, match="WRITEABLE"):
            frame.data.setflags(write=True)
        base = frame.data.base
        assert base is not None
        assert memoryview(base).readonly, "the view's base buffer must itself be read-only"
        frame.release()
        with ring.reader(start="oldest") as again:
            assert again.get(timeout=1.0).data.tolist() == list(range(8)), "the slot must be unchanged"


def test_ring_closes_while_a_view_is_still_alive(shm_dir: Path, unique_name: str) -> None:
    ring = shmring.Ring.create(unique_name, slots=2, slot_bytes=64)
    with ring.writer() as w, ring.reader(start="oldest") as r:
        w.put(np.full(4, 7, dtype=np.uint8))
        data = r.get(timeout=1.0, view=True).data
    ring.close()
    assert data.tolist() == [7, 7, 7, 7], "pages stay mapped while a numpy view holds them"


def test_a_reservation_array_kept_past_close_stays_readable(shm_dir: Path, unique_name: str) -> None:
    ring = shmring.Ring.create(unique_name, slots=2, slot_bytes=64)
    with ring.writer() as w, w.reserve((4,), np.uint8) as arr:
        arr[:] = 5
    ring.close()
    assert arr.tolist() == [5, 5, 5, 5], "closing the ring must not unmap pages an array still uses"
