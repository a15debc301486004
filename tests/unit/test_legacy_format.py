"""The legacy layout's rules, names and conversions, without touching shared memory."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from shmring import FrameError, LayoutError
from shmring.legacy import _format as fmt
from shmring.legacy import legacy_path
from shmring.legacy._buffers import as_payload, convert, infer_dims
from shmring.legacy._locker import lock_name_for


def _header(**fields: int) -> fmt.MemHeader:
    base = fmt.MemHeader(fmt.SIGNATURE, 32 + 28 * 3, 0, 8, 3, 0, 0, 0)
    return base._replace(**fields)


def test_offsets_and_sizes_match_the_spec() -> None:
    assert (fmt.MEM_HEADER.size, fmt.BUF_HEADER.size) == (32, 20)
    assert fmt.memsize(320 * 240, 8) == 32 + (20 + 76800) * 8
    assert [fmt.slot_offset(100, i) for i in range(3)] == [32, 152, 272]
    assert fmt.new_header(8, 3) == struct.pack("<8I", 0x11031973, 116, 0, 8, 3, 0, 0, 0)
    assert (fmt.OFF_HEAD, fmt.OFF_TAIL, fmt.OFF_COUNT) == (20, 24, 28)
    assert (fmt.MSG_FILE_SIZE, fmt.MSG_MAX_TEXT) == (256, 255)


def test_the_signature_is_recognised_from_a_files_first_bytes() -> None:
    assert fmt.is_legacy_header(fmt.new_header(8, 3))
    assert fmt.is_legacy_header(b"\x73\x19\x03\x11")  # 0x11031973 little-endian, nothing after it
    assert not fmt.is_legacy_header(b"SHMRING\x00")  # the native ring's magic
    assert not fmt.is_legacy_header(b"\x73\x19\x03")  # a file shorter than the signature
    assert not fmt.is_legacy_header(bytes(32))  # zero-filled: not initialised yet


def test_round_trip_of_the_header() -> None:
    raw = struct.pack("<8I", *_header(head=2, tail=1, count=1))
    assert fmt.read_header(raw) == _header(head=2, tail=1, count=1)


def test_a_consistent_header_passes() -> None:
    fmt.validate_header(_header(head=2, tail=2, count=3), 116, "f")
    fmt.validate_header(_header(), 4096, "f")  # a longer file is accepted


@pytest.mark.parametrize(
    ("fields", "size", "field", "expected", "found"),
    [
        ({"signature": 1}, 116, "signature", "0x11031973", "0x00000001"),
        ({"memsize": 117}, 117, "memsize", 116, 117),
        ({}, 115, "memsize", "<= file size 115", 116),
        ({"head": 3}, 116, "head", "< item_alloc 3", 3),
        ({"count": 9}, 116, "count", "<= item_alloc 3", 9),
    ],
)
def test_refusals_carry_field_expected_found(
    fields: dict[str, int], size: int, field: str, expected: object, found: object
) -> None:
    with pytest.raises(LayoutError) as info:
        fmt.validate_header(_header(**fields), size, "/tmp/smem_x")
    err = info.value
    assert (err.field, err.expected, err.found) == (field, expected, found)
    assert "/tmp/smem_x" in str(err) and str(found) in str(err)


def test_geometry_limits() -> None:
    assert fmt.check_geometry(8, 3) == 116
    with pytest.raises(ValueError, match="item_size must be an int >= 1, got 0"):
        fmt.check_geometry(0, 3)
    with pytest.raises(ValueError, match="fit in 32 bits"):
        fmt.check_geometry(1 << 31, 2)


def test_names_map_to_the_original_location() -> None:
    assert legacy_path("camera1") == Path("/tmp/smem_camera1")
    assert legacy_path("camera1", directory="/run/x") == Path("/run/x/smem_camera1")
    assert legacy_path("./rel/file") == Path("rel/file")
    assert legacy_path(Path("plain")) == Path("plain")
    with pytest.raises(ValueError, match="segment name must be"):
        legacy_path("bad name")


def test_lock_names_are_valid_readable_and_distinct_per_path() -> None:
    a, b = lock_name_for("/tmp/smem_camera1"), lock_name_for("/var/tmp/smem_camera1")
    assert a.startswith("smem_camera1.") and a.endswith(".lock") and a != b
    assert lock_name_for(Path("/tmp/smem_camera1")) == a
    assert lock_name_for("/tmp/wéird name").startswith("w_ird_name.")


def test_payload_views_and_dims() -> None:
    assert bytes(as_payload(b"abc")) == b"abc"
    strided = np.arange(10, dtype=np.uint8)[::2]
    assert bytes(as_payload(strided)) == bytes([0, 2, 4, 6, 8])
    assert infer_dims(np.zeros((3, 5)), 0, 0) == (5, 3)
    assert infer_dims(np.zeros((3, 5)), 7, 1) == (7, 1)
    with pytest.raises(TypeError, match="bytes-like or a numpy array, got str"):
        as_payload("text")


def test_conversion_to_arrays() -> None:
    assert convert(b"ab", None, None, 0, 0) == b"ab"
    image = convert(bytes(range(12)), np.uint16, None, 3, 2)
    assert image.shape == (2, 3) and image.dtype == np.uint16 and image.flags.writeable
    assert convert(bytes(12), np.uint8, None, 2, 2).shape == (2, 2, 3)
    assert convert(bytes(5), np.uint8, None, 2, 2).shape == (5,)
    with pytest.raises(FrameError, match="5 bytes is not a whole number of uint16"):
        convert(bytes(5), np.uint16, None, 0, 0)
