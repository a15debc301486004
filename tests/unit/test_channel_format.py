"""The channel layout and message encoding, without shared memory or processes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shmring import LayoutError
from shmring import _channel_codec as codec
from shmring import _channel_format as CF


def test_header_round_trips_and_sizes_follow_the_documented_formulas() -> None:
    layout = CF.Layout(slots=3, slot_bytes=100, meta_bytes=200, created_ns=123)
    buf = bytearray(layout.total_bytes)
    CF.write_header(buf, layout)
    assert buf[:8] == b"SHMRCHAN"
    assert layout.payload_offset == 384  # round_up(128 + 200, 64)
    assert layout.slot_stride == 4096
    assert layout.total_bytes == 4096 + 3 * 4096
    assert CF.read_header(buf, len(buf), "x") == layout


@pytest.mark.parametrize(("offset", "value", "field"), [
    (8, (2).to_bytes(4, "little"), "version"),
    (12, (1024).to_bytes(4, "little"), "header bytes"),
    (24, (0).to_bytes(4, "little"), "sizes"),
    (32, (8192).to_bytes(8, "little"), "slot stride"),
    (16, (1).to_bytes(8, "little"), "total bytes"),
])
def test_a_header_field_out_of_place_is_named(offset: int, value: bytes, field: str) -> None:
    layout = CF.Layout(slots=2, slot_bytes=64, meta_bytes=0)
    buf = bytearray(layout.total_bytes)
    CF.write_header(buf, layout)
    buf[offset:offset + len(value)] = value
    with pytest.raises(LayoutError) as info:
        CF.read_header(buf, len(buf), "x")
    assert info.value.field == field


def test_a_file_of_the_wrong_size_is_refused() -> None:
    layout = CF.Layout(slots=2, slot_bytes=64, meta_bytes=0)
    buf = bytearray(layout.total_bytes + 4096)
    CF.write_header(buf, layout)
    with pytest.raises(LayoutError, match="file size is 16384, expected 12288"):
        CF.read_header(buf, len(buf), "x")


def test_state_words_carry_ticket_and_phase_and_the_ticket_wraps() -> None:
    word = CF.state_word(5, CF.REPLY)
    assert (CF.ticket(word), CF.phase(word)) == (5, CF.REPLY)
    claimed = CF.next_claim(word)
    assert (CF.ticket(claimed), CF.phase(claimed)) == (6, CF.CLAIMED)
    last = CF.state_word(CF.TICKET_MASK, CF.FREE)
    assert CF.next_claim(last) == CF.state_word(0, CF.CLAIMED)
    assert CF.next_claim(last) < 1 << 32


def test_slot_headers_round_trip_and_impossible_ones_are_refused() -> None:
    layout = CF.Layout(slots=2, slot_bytes=64, meta_bytes=16)
    buf = bytearray(layout.total_bytes)
    header = CF.SlotHeader(7, 48, CF.KIND_ARRAY, 3, "<f8", (2, 3), 99, 5)
    CF.pack_slot(buf, layout, 1, header)
    assert CF.unpack_slot(buf, layout, 1) == header
    for bad, field in ((CF.SlotHeader(1, 65, 0, 0), "slot payload bytes"),
                       (CF.SlotHeader(1, 0, 0, 17), "slot meta length"),
                       (CF.SlotHeader(1, 0, 9, 0), "slot kind")):
        with pytest.raises(LayoutError) as info:
            CF.check_slot(layout, bad, "x")
        assert info.value.field == field


def test_an_array_whose_declared_size_disagrees_with_its_payload_is_refused() -> None:
    buf = memoryview(bytearray(64))
    with pytest.raises(LayoutError, match="declares a"):
        codec.decode(buf, CF.SlotHeader(1, 40, CF.KIND_ARRAY, 0, "<f8", (2, 3)), 0)
    with pytest.raises(LayoutError, match="declares a"):
        codec.decode(buf, CF.SlotHeader(1, 8, CF.KIND_ARRAY, 0, "<O8", (1,)), 0)
    got = codec.decode(buf, CF.SlotHeader(1, 48, CF.KIND_ARRAY, 0, "<f8", (2, 3)), 0)
    assert isinstance(got, np.ndarray) and got.shape == (2, 3)


def test_an_error_reply_is_cut_to_fit_and_still_reads_as_an_error() -> None:
    _, body = codec.encode_error(ValueError("x" * 500), 120)
    assert len(body) <= 120
    fields = codec.decode_error(body)
    assert fields["type"] == "ValueError" and fields["message"].endswith("...")
    assert json.loads(body)["broken"] is False
    _, nothing = codec.encode_error(ValueError("x"), 10)
    assert nothing == b""
    assert "too small" in codec.decode_error(nothing)["message"]
