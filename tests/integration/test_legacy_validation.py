"""Files that are not a legacy SharedMem queue are refused clearly, before any slot is read."""

from __future__ import annotations

import multiprocessing as mp
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from shmring import LayoutError, Locker, SegmentExistsError, SegmentNotFoundError, SharedMem
from shmring.legacy._locker import lock_name_for

pytestmark = pytest.mark.usefixtures("shm_dir")

SIG = 0x11031973


def _header(item_size: int = 8, item_alloc: int = 3, **fields: int) -> dict[str, int]:
    values = {"signature": SIG, "memsize": 32 + (20 + item_size) * item_alloc, "flags": 0,
              "item_size": item_size, "item_alloc": item_alloc, "head": 0, "tail": 0, "count": 0}
    values.update(fields)
    return values


def _write(path: Path, header: dict[str, int], size: int | None = None) -> Path:
    data = bytearray(size if size is not None else max(header["memsize"], 32))
    struct.pack_into("<8I", data, 0, *header.values())
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("fields", "field", "numbers"),
    [
        ({"signature": 0xDEADBEEF}, "signature", ["0x11031973", "0xdeadbeef"]),
        ({"signature": 0}, "signature", ["0x11031973", "0x00000000"]),
        ({"memsize": 100}, "memsize", ["116", "100"]),
        ({"item_alloc": 0, "memsize": 32}, "item_alloc", ["0"]),
        ({"item_size": 0, "memsize": 92}, "item_size", ["0"]),
        ({"head": 3}, "head", ["3"]),
        ({"tail": 7}, "tail", ["7"]),
        ({"count": 4}, "count", ["4", "item_alloc 3"]),
    ],
)
def test_bad_header_is_refused_naming_field_and_numbers(
    tmp_path: Path, fields: dict[str, int], field: str, numbers: list[str]
) -> None:
    path = _write(tmp_path / "smem_bad", _header(**fields), size=116)
    with pytest.raises(LayoutError) as info:
        SharedMem.open(path)
    assert info.value.field == field
    message = str(info.value)
    assert field in message and str(path) in message
    for number in numbers:
        assert number in message, f"{number!r} missing from {message!r}"


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "smem_short", _header(item_size=1000, item_alloc=4), size=500)
    with pytest.raises(LayoutError, match=r"memsize.*4112.*500|500.*4112") as info:
        SharedMem.open(path)
    assert (info.value.field, info.value.found) == ("memsize", 4112)


def test_file_shorter_than_a_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "smem_tiny"
    path.write_bytes(b"\x73\x19\x03\x11")
    with pytest.raises(LayoutError, match="truncated") as info:
        SharedMem.open(path)
    assert info.value.field == "file size"


def test_foreign_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "picture.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(LayoutError, match="signature"):
        SharedMem.open(path)


def test_directory_and_symlink_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="directory"):
        SharedMem.open(tmp_path)
    real = SharedMem.create(tmp_path / "smem_real", 8, 2)
    real.close()
    link = tmp_path / "smem_link"
    link.symlink_to(tmp_path / "smem_real")
    with pytest.raises(LayoutError, match="symbolic link"):
        SharedMem.open(link)


def test_missing_and_existing(tmp_path: Path) -> None:
    with pytest.raises(SegmentNotFoundError):
        SharedMem.open(tmp_path / "smem_none")
    SharedMem.create(tmp_path / "smem_once", 8, 2).close()
    with pytest.raises(SegmentExistsError):
        SharedMem.create(tmp_path / "smem_once", 8, 2)
    with pytest.raises(LayoutError, match="item_alloc 2, not 5"):
        SharedMem.create(tmp_path / "smem_once", 8, 5, exist_ok=True)


def test_header_corrupted_after_open_is_an_error_not_a_wrong_read(tmp_path: Path) -> None:
    with SharedMem.create(tmp_path / "smem_live", 8, 3) as mem:
        mem.put_buf(b"abc")
        with open(mem.path, "r+b") as f:
            f.seek(24)
            f.write(struct.pack("<I", 1000))  # tail far outside the slots
        with pytest.raises(LayoutError, match="tail") as info:
            mem.get_buf()
        assert (info.value.expected, info.value.found) == ("< item_alloc 3", 1000)
        with pytest.raises(LayoutError, match="tail"):
            mem.put_buf(b"x")
        with open(mem.path, "r+b") as f:
            f.seek(12)
            f.write(struct.pack("<I", 1 << 20))  # item_size grown in place
        with pytest.raises(LayoutError, match="item_size is 1048576, was 8"):
            mem.get_buf()


def test_geometry_that_does_not_fit_32_bits_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="memsize.*32 bits"):
        SharedMem.create(tmp_path / "smem_huge", 1 << 30, 8)
    with pytest.raises(ValueError, match="item_alloc must be an int >= 1, got 0"):
        SharedMem.create(tmp_path / "smem_zero", 8, 0)


def test_a_foreign_file_in_place_of_the_lock_file_is_refused(tmp_path: Path, shm_dir: Path) -> None:
    path = tmp_path / "smem_locked"
    (shm_dir / lock_name_for(path)).write_bytes(b"not a lock file, but 64 bytes long".ljust(64, b"."))
    with pytest.raises(LayoutError, match="magic"):
        SharedMem.create(path, 8, 2)
    (shm_dir / "tiny.lock").write_bytes(b"x")
    with pytest.raises(LayoutError, match="file size"):
        Locker("tiny.lock")


def test_raw_access_is_bounds_checked(tmp_path: Path) -> None:
    with SharedMem.create_raw(tmp_path / "smem_raw", 64) as mem:
        mem.write(60, b"abcd")
        assert mem.read(60, 4) == b"abcd"
        with pytest.raises(ValueError, match=r"pos=61 n=4 .*64 bytes"):
            mem.write(61, b"abcd")
        with pytest.raises(ValueError, match=r"pos=-1 n=1"):
            mem.read(-1, 1)
        with pytest.raises(LayoutError, match="opened raw"):
            mem.get_buf()


def test_read_only_handle_reads_but_does_not_take(tmp_path: Path) -> None:
    path = tmp_path / "smem_ro"
    with SharedMem.create(path, 8, 2) as writer:
        writer.put_buf(b"data")
    with SharedMem.open(path, writable=False) as mem:
        assert not mem.writable
        assert mem.read(0, 4) == struct.pack("<I", SIG)
        assert mem.header().count == 1
        with pytest.raises(PermissionError, match="get_buf needs write access.*read-only"):
            mem.get_buf()
        with pytest.raises(PermissionError, match="put_buf"):
            mem.put_buf(b"x")


def test_another_user_with_read_access_reads_without_the_lock(shm_dir: Path, spawn: Any) -> None:
    from _legacy_children import read_as_nobody

    if os.geteuid() != 0:
        pytest.skip("needs root to run the reader as another user")
    shm_dir.chmod(0o755)  # others may look in (the lock file lives here too), not write
    path = shm_dir / "smem_shared"
    with SharedMem.create(path, item_size=16, item_alloc=4, mode=0o644) as mem:
        assert mem.put_buf(b"frame")
        report = mp.get_context("spawn").Queue()
        spawn(read_as_nobody, str(path), report)
        outcome = report.get(timeout=60)
    assert outcome["writable"] is False and outcome["count"] == 1
    assert outcome["head_bytes"] == (0x11031973).to_bytes(4, "little")
    assert "get_buf needs write access" in outcome["get_buf"]
