"""Byte-exact golden tests: put_buf/get_buf sequences against a layout built by hand from the spec."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from shmring.legacy import SharedMem

pytestmark = pytest.mark.usefixtures("shm_dir")  # Locker files go to a private directory

SIG = 0x11031973
ITEM_SIZE, ITEM_ALLOC = 8, 3
MEMSIZE = 32 + (20 + ITEM_SIZE) * ITEM_ALLOC


class HandModel:
    """The spec, written out with struct.pack: what the file must hold after each step."""

    def __init__(self) -> None:
        self.bytes = bytearray(MEMSIZE)
        self.head = self.tail = self.count = 0
        self.flush()

    def flush(self) -> None:
        struct.pack_into("<8I", self.bytes, 0, SIG, MEMSIZE, 0, ITEM_SIZE, ITEM_ALLOC,
                         self.head, self.tail, self.count)

    def put(self, counter: int, data: bytes, width: int, height: int, flags: int) -> None:
        n = min(len(data), ITEM_SIZE) or ITEM_SIZE
        payload = data[:n].ljust(n, b"\0")
        off = 32 + self.head * (20 + ITEM_SIZE)
        struct.pack_into("<5I", self.bytes, off, counter, n, width, height, flags)
        self.bytes[off + 20 : off + 20 + n] = payload
        self.head = (self.head + 1) % ITEM_ALLOC
        self.count += 1
        self.flush()

    def take(self) -> None:
        self.tail = (self.tail + 1) % ITEM_ALLOC
        self.count -= 1
        self.flush()


@pytest.fixture
def mem(tmp_path: Path) -> Iterator[SharedMem]:
    m = SharedMem.create(tmp_path / "smem_golden", ITEM_SIZE, ITEM_ALLOC)
    yield m
    m.close()


def _file(mem: SharedMem) -> bytes:
    return mem.path.read_bytes()


def test_new_file_is_header_then_zeros(mem: SharedMem) -> None:
    assert _file(mem) == bytes(HandModel().bytes)


def test_put_get_sequence_with_wrap_around_truncation_and_drops(mem: SharedMem) -> None:
    model = HandModel()
    # Fill: 5 bytes, exactly item_size, and 12 bytes (truncated to 8); the 4th put is dropped.
    for counter, data in ((1, b"AAAAA"), (2, b"BBBBBBBB"), (3, b"CCCCCCCCCCCC")):
        assert mem.put_buf(data, counter, 10 * counter, 0x100 + counter) is True
        model.put(counter, data, counter, 10 * counter, 0x100 + counter)
    assert mem.put_buf(b"DDDD", 4, 40, 0x104) is False, "a full queue must drop"
    assert _file(mem) == bytes(model.bytes), "after filling (head wrapped to 0)"

    assert mem.get_buf() == (b"AAAAA", 1, 1, 10, 0x101)
    assert mem.get_buf() == (b"BBBBBBBB", 2, 2, 20, 0x102)
    model.take()
    model.take()
    assert _file(mem) == bytes(model.bytes), "after two gets"

    # put_counter 5: empty data publishes item_size bytes; 6 is shorter than what slot 1 held,
    # so the old bytes beyond buf_len stay (the original writes only buf_len bytes); 7 dropped.
    assert mem.put_buf(b"") is True
    model.put(5, b"", 0, 0, 0)
    assert mem.put_buf(b"FF", 6, 60, 0x106) is True
    model.put(6, b"FF", 6, 60, 0x106)
    assert mem.put_buf(b"G", 7, 70, 0x107) is False
    assert mem.put_counter == 7
    assert _file(mem) == bytes(model.bytes), "after wrapping head past tail and dropping"

    assert [mem.get_buf() for _ in range(4)] == [
        (b"CCCCCCCC", 3, 3, 30, 0x103), (bytes(8), 5, 0, 0, 0), (b"FF", 6, 6, 60, 0x106), None]
    for _ in range(3):
        model.take()
    assert _file(mem) == bytes(model.bytes), "after draining (tail wrapped)"


def test_reads_a_file_built_by_hand_in_wrapped_state(tmp_path: Path) -> None:
    model = HandModel()
    model.head = model.tail = 2
    model.put(41, b"first", 7, 8, 1)  # slot 2, head wraps to 0
    model.put(42, b"second!!", 7, 8, 2)  # slot 0
    model.tail = 2
    model.flush()
    path = tmp_path / "smem_hand"
    path.write_bytes(model.bytes)
    with SharedMem.open(path) as mem:
        assert mem.get_buf() == (b"first", 41, 7, 8, 1)
        assert mem.get_buf() == (b"second!!", 42, 7, 8, 2)
        assert mem.get_buf() is None
        assert mem.header()[5:] == (1, 1, 0), "head, tail, count after draining"


def test_invalid_buf_len_at_tail_returns_none_and_keeps_the_queue(tmp_path: Path) -> None:
    model = HandModel()
    model.put(1, b"x", 1, 1, 0)
    struct.pack_into("<I", model.bytes, 32 + 4, ITEM_SIZE + 1)  # buf_len > item_size
    path = tmp_path / "smem_badlen"
    path.write_bytes(model.bytes)
    with SharedMem.open(path) as mem:
        assert mem.get_buf() is None
        assert mem.header().count == 1, "the original leaves such a slot queued"


def test_exist_ok_writes_the_header_only_where_the_signature_is_zero(tmp_path: Path) -> None:
    blank = tmp_path / "smem_blank"
    blank.write_bytes(bytes(MEMSIZE))
    with SharedMem.create(blank, ITEM_SIZE, ITEM_ALLOC, exist_ok=True):
        assert blank.read_bytes() == bytes(HandModel().bytes)

    model = HandModel()
    model.put(9, b"keep", 1, 1, 0)
    kept = tmp_path / "smem_kept"
    kept.write_bytes(model.bytes)
    with SharedMem.create(kept, ITEM_SIZE, ITEM_ALLOC, exist_ok=True) as mem:
        assert kept.read_bytes() == bytes(model.bytes), "an initialised header must not be rewritten"
        assert mem.get_buf() == (b"keep", 9, 1, 1, 0)
