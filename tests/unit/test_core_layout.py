"""The C fast path knows the layout only from ``_format``: offsets, seqlock encoding, dtype rules.

Each Core here works on private anonymous memory: no segment, no other process.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import numpy as np
import pytest

from shmring import BrokenError, _sync
from shmring import _format as F
from shmring._core import MODE_COPY, MODE_INTO, MODE_VIEW, Core, FrameRead

LAYOUT = F.Layout(slots=4, slot_bytes=4096, meta_bytes=64, policy="overwrite")
NO_PIN = F.NO_PIN


@pytest.fixture
def buf() -> Iterator[mmap.mmap]:
    memory = mmap.mmap(-1, LAYOUT.total_bytes)
    yield memory
    memory.close()


def _core(buf: mmap.mmap, **changes: object) -> Core:
    return Core(buf, {**F.core_layout(LAYOUT), **changes}, "cam0")


def _put(core: Core, typestr: str = "<u2", shape: tuple[int, ...] = (4, 8)) -> int:
    data = np.zeros(shape, np.dtype(typestr))
    return core.put(None, data, typestr.encode(), shape, 0, b'{"k": 1}')


def _seqlock(buf: mmap.mmap, seq: int) -> int:
    return _sync.load64(buf, LAYOUT.slot_offset(seq) + F.S_SEQLOCK)


def test_c_marks_slots_with_the_seqlock_values_format_defines(buf: mmap.mmap) -> None:
    core = _core(buf)
    assert _put(core) == 0
    assert _seqlock(buf, 0) == F.committed(0)
    seq, _ = core.open_slot(None, 8, b"<u2", (4,), 0, None)
    assert (seq, _seqlock(buf, 1)) == (1, F.writing(1))
    assert not core.still_committed(1), "an open frame must not count as committed"
    core.commit(1)
    assert _seqlock(buf, 1) == F.committed(1) and core.still_committed(1)


def test_c_takes_the_seqlock_encoding_from_the_layout_it_is_given(buf: mmap.mmap) -> None:
    other = _core(buf, seqlock_stride=4, seqlock_writing=1, seqlock_committed=3)
    _put(other)
    assert _seqlock(buf, 0) == 3, "C wrote a seqlock value of its own instead of the one handed to it"
    got = other.read(0, 0, MODE_COPY, None, NO_PIN)
    assert isinstance(got, FrameRead) and got.seq == 0
    standard = _core(buf)
    assert not standard.still_committed(0)
    assert standard.read(1, 0, MODE_COPY, None, NO_PIN) == 1, "a mark of another encoding is not a frame"


def test_c_takes_the_dtype_kinds_from_the_layout_it_is_given(buf: mmap.mmap) -> None:
    _put(_core(buf), typestr="<f4", shape=(2,))
    got = _core(buf).read(0, 0, MODE_COPY, None, NO_PIN)
    assert isinstance(got, FrameRead) and got.typestr == b"<f4"
    with pytest.raises(BrokenError, match=r"ring 'cam0': slot of frame 0 is corrupt: its dtype") as err:
        _core(buf, typestr_kinds="u", typestr_size_masks=(0x116,)).read(1, 0, MODE_COPY, None, NO_PIN)
    assert vars(err.value)["name"] == "cam0", "the error must carry the ring name"


def test_c_takes_each_kinds_item_sizes_from_the_layout_it_is_given(buf: mmap.mmap) -> None:
    _put(_core(buf), typestr="<u4", shape=(2,))
    assert _core(buf).read(0, 0, MODE_COPY, None, NO_PIN).typestr == b"<u4"
    masks = list(F.typestr_size_masks())
    masks[F.ALLOWED_KINDS.index("u")] &= ~(1 << 4)  # a rule where unsigned ints have no 4-byte size
    with pytest.raises(BrokenError, match="its dtype"):
        _core(buf, typestr_size_masks=tuple(masks)).read(1, 0, MODE_COPY, None, NO_PIN)
    with pytest.raises(ValueError, match="one mask per kind"):
        _core(buf, typestr_size_masks=(0x2,))


def test_format_checks_typestrs_by_the_rules_it_hands_to_c() -> None:
    handed = F.core_layout(LAYOUT)
    assert handed["typestr_kinds"] == F.ALLOWED_KINDS
    assert handed["typestr_byteorders"] == F.TYPESTR_BYTEORDERS
    assert F.committed(7) == handed["seqlock_stride"] * 7 + handed["seqlock_committed"]  # type: ignore[operator]
    assert F.writing(7) == handed["seqlock_stride"] * 7 + handed["seqlock_writing"]  # type: ignore[operator]
    assert F.is_valid_typestr(f"<c{F.MAX_ITEMSIZE}") and not F.is_valid_typestr(f"<c{2 * F.MAX_ITEMSIZE}")
    for kind, mask in zip(F.ALLOWED_KINDS, handed["typestr_size_masks"], strict=True):  # type: ignore[call-overload]
        assert [s for s in range(64) if mask >> s & 1] == list(F.ITEM_SIZES[kind])


def test_a_frame_read_has_named_fields(buf: mmap.mmap) -> None:
    core = _core(buf)
    _put(core)
    copy = core.read(0, 0, MODE_COPY, None, NO_PIN)
    assert isinstance(copy, FrameRead)
    assert (copy.seq, copy.lost, copy.typestr, copy.shape, copy.meta) == (0, 0, b"<u2", (4, 8), b'{"k": 1}')
    assert isinstance(copy.payload, bytearray) and len(copy.payload) == 64
    view = core.read(1, 0, MODE_VIEW, None, NO_PIN)
    assert isinstance(view, FrameRead)
    assert view.payload == LAYOUT.slot_offset(0) + LAYOUT.payload_offset
    assert core.read(0, 1, MODE_COPY, None, NO_PIN) is None, "nothing new must read as None"


def test_an_out_buffer_too_small_is_a_value_error_and_the_frame_stays(buf: mmap.mmap) -> None:
    core = _core(buf)
    _put(core, shape=(500,))
    small = np.zeros(100, np.uint16)
    with pytest.raises(ValueError, match="out holds 200 bytes, the frame needs 1,000; the frame stays unread"):
        core.read(0, 0, MODE_INTO, small, NO_PIN)
    assert isinstance(core.read(0, 0, MODE_COPY, None, NO_PIN), FrameRead)


def test_a_queued_frame_too_large_for_out_stays_queued(buf: mmap.mmap) -> None:
    core = _core(buf)
    _put(core, shape=(500,))
    small = np.zeros(100, np.uint16)
    with pytest.raises(ValueError, match="out holds 200 bytes, the frame needs 1,000; the frame stays unread"):
        core.read_queued(0, MODE_INTO, small, NO_PIN)
    assert _sync.load64(buf, F.OFF_QUEUE_SEQ) == 0, "the refused frame must not be claimed"
    got = core.read_queued(1, MODE_COPY, None, NO_PIN)
    assert isinstance(got, FrameRead) and (got.seq, got.lost) == (0, 0), "another queue reader gets it, none lost"


def test_the_room_check_follows_the_state_the_layout_names_for_queue_readers(buf: mmap.mmap) -> None:
    core = _core(buf)
    for _ in range(3):
        _put(core)
    table = F.OFF_READERS
    _sync.store64(buf, table + F.R_RELEASE, NO_PIN)  # entry 0: a reader that pins nothing
    _sync.store32(buf, table + F.R_STATE, F.STATE_QUEUE)
    assert core.pin_floor(-1, False) == 0, "a queue reader is attached: the unclaimed frames 0.. count"
    assert core.room_until(3, -1, False) == LAYOUT.slots
    assert _core(buf, state_queue=7).pin_floor(-1, False) == NO_PIN, "C took the queue state from the layout"


def test_a_layout_lacking_a_rule_is_refused_by_name(buf: mmap.mmap) -> None:
    handed = F.core_layout(LAYOUT)
    del handed["typestr_kinds"]
    with pytest.raises(KeyError, match="typestr_kinds"):
        Core(buf, handed, "cam0")
    with pytest.raises(ValueError, match="seqlock stride"):
        _core(buf, seqlock_stride=1)
