"""The native layout: offsets, header round trip, and refusal of anything else."""

from __future__ import annotations

import struct

import pytest

from shmring import LayoutError
from shmring import _format as F


def _layout(**kw: object) -> F.Layout:
    args: dict[str, object] = {"slots": 4, "slot_bytes": 1000, "meta_bytes": 100, "policy": "block",
                               "created_ns": 123}
    args.update(kw)
    return F.Layout(**args)  # type: ignore[arg-type]


def _header(layout: F.Layout) -> bytearray:
    buf = bytearray(F.HEADER_BYTES)
    F.write_header(buf, layout)
    return buf


def test_slots_are_page_aligned_and_payloads_cache_line_aligned() -> None:
    for meta in (0, 1, 63, 64, 4096, 5000):
        lay = _layout(meta_bytes=meta, slot_bytes=12345)
        assert lay.payload_offset % 64 == 0
        assert lay.payload_offset >= F.SLOT_HEADER + meta
        assert lay.slot_stride % 4096 == 0
        assert lay.slot_stride >= lay.payload_offset + 12345
        assert all(lay.slot_offset(seq) % 4096 == 0 for seq in range(9))
        assert lay.slot_offset(5) == lay.slot_offset(1)  # frame seq lives in slot seq mod slots


def test_hot_words_each_have_their_own_cache_line() -> None:
    lines = [off // 64 for off in (F.OFF_WRITE_SEQ, F.OFF_NOTIFY, F.OFF_QUEUE_SEQ, F.OFF_SPACE, F.OFF_WRITER_WAKE)]
    assert len(set(lines)) == len(lines)
    assert F.reader_offset(0) == 1024 and F.reader_offset(F.READER_ENTRIES) == F.HEADER_BYTES


def test_header_round_trips_with_schema() -> None:
    lay = _layout(slot_bytes=480 * 640 * 2, schema=F.Schema("<u2", (480, 640)))
    assert F.read_header(_header(lay), lay.total_bytes, "x") == lay


def test_header_bytes_match_the_spec() -> None:
    lay = _layout()
    buf = _header(lay)
    assert buf[:8] == b"SHMRING\x00"
    assert struct.unpack_from("<IIQIIQQIIQ", buf, 8) == (
        1, 4096, lay.total_bytes, 4, 1, lay.slot_stride, 1000, 100, 48, 123)


def test_slot_header_round_trips() -> None:
    buf = bytearray(256)
    h = F.SlotHeader(7, 24, 1, 2, 0x12345678, 10, "<f4", (2, 3))
    F.pack_slot(buf, 0, h)
    assert F.unpack_slot(buf, 0) == h
    assert struct.unpack_from("<Q", buf, 64) == (2,)  # shape starts at slot offset 64


@pytest.mark.parametrize(("offset", "value", "field"), [
    (0, b"NOTARING", "magic"),
    (8, struct.pack("<I", 2), "version"),
    (12, struct.pack("<I", 8192), "header bytes"),
    (16, struct.pack("<Q", 1), "total bytes"),
    (24, struct.pack("<I", 1), "sizes"),
    (28, struct.pack("<I", 9), "policy"),
    (32, struct.pack("<Q", 8192), "slot stride"),
    (52, struct.pack("<I", 64), "reader entries"),
    (68, struct.pack("<I", 9), None),  # ndim only matters with has_schema
])
def test_corrupt_fields_are_named(offset: int, value: bytes, field: str | None) -> None:
    lay = _layout()
    buf = _header(lay)
    buf[offset:offset + len(value)] = value
    if field is None:
        F.read_header(buf, lay.total_bytes, "x")
        return
    with pytest.raises(LayoutError) as info:
        F.read_header(buf, lay.total_bytes, "cam0")
    assert info.value.field == field
    assert "cam0" in str(info.value) and field in str(info.value)


def test_legacy_file_is_named_as_such() -> None:
    buf = bytearray(F.HEADER_BYTES)
    struct.pack_into("<8I", buf, 0, 0x11031973, 4096, 0, 100, 4, 0, 0, 0)
    with pytest.raises(LayoutError, match="legacy SharedMem"):
        F.read_header(buf, 4096, "x")


def test_file_size_must_equal_total_bytes() -> None:
    lay = _layout()
    with pytest.raises(LayoutError, match="file size") as info:
        F.read_header(_header(lay), lay.total_bytes - 4096, "x")
    assert info.value.expected == lay.total_bytes
    with pytest.raises(LayoutError, match="truncated"):
        F.read_header(bytes(100), 100, "x")


@pytest.mark.parametrize(("kw", "message"), [
    ({"slots": 1}, "slots must be"),
    ({"slot_bytes": 0}, "slot_bytes must be"),
    ({"meta_bytes": -1}, "meta_bytes must be"),
    ({"policy": "wait"}, "policy must be one of overwrite, block, drop"),
])
def test_size_checks_name_the_parameter(kw: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"slots": 4, "slot_bytes": 10, "meta_bytes": 0, "policy": "block"}
    args.update(kw)
    with pytest.raises(ValueError, match=message):
        F.check_sizes(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "ok"), [("<u2", True), ("|u1", True), ("<c16", True), (">f8", True),
                                          ("<U4", False), ("|O8", False), ("u2", False), ("<V", False),
                                          # found by fuzzing: well-formed, but no numpy type
                                          ("|c1", False), ("<f3", False), ("<i16", False), ("<b2", False)])
def test_typestr_rule(text: str, ok: bool) -> None:
    assert F.is_valid_typestr(text) is ok


def test_a_schema_larger_than_a_slot_is_refused() -> None:
    # Found by fuzzing: such a header opened, and the ring's own dtype/shape
    # then made a numpy array of petabytes (MemoryError) or too many dims.
    lay = _layout(slot_bytes=1000, schema=F.Schema("<u2", (2**31, 8)))
    with pytest.raises(LayoutError) as info:
        F.read_header(_header(lay), lay.total_bytes, "cam0")
    assert info.value.field == "schema size"
    assert info.value.found == 2**31 * 8 * 2 and "cam0" in str(info.value)
