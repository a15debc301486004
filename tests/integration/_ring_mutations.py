"""Corrupted and foreign ring files: one table that both Python's and C's open must refuse.

Each case turns a valid ring file (4 slots of 1000 bytes, 100 metadata bytes)
into something no open may accept, and names the Python exception and the
C error code (``SHMRING_E*``) that refuse it.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import _libshmring as lib

from shmring import LayoutError, SegmentNotFoundError, SegmentPermissionError, ShmringError

_L = lib.layout_offsets()  # generated from shmring's layout module: the one definition of every offset


_SCHEMA = _L["SHMRING_OFF_SCHEMA_HAS_SCHEMA"]


def _reader_state(index: int) -> int:
    return _L["SHMRING_OFF_READERS"] + index * _L["SHMRING_READER_ENTRY"] + _L["SHMRING_R_STATE"]


@dataclass(frozen=True)
class Mutation:
    """One way to spoil a ring file."""

    id: str
    apply: Callable[[Path], None]
    python_error: type[ShmringError]
    c_code: str
    needs_non_root: bool = False


def _poke(fmt: str, field: str, value: int | bytes) -> Callable[[Path], None]:
    """Overwrite the header field SHMRING_OFF_<field> with ``value``."""
    def apply(path: Path) -> None:
        with open(path, "r+b") as f:
            f.seek(_L[f"SHMRING_OFF_{field}"])
            f.write(struct.pack("<" + fmt, value))
    return apply


def _poke_at(offset: int, fmt: str, *values: int | bytes) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(struct.pack("<" + fmt, *values))
    return apply


def _poke_keywords(keywords_len: int, header_bytes: int) -> Callable[[Path], None]:
    """keywords_len and header_bytes that agree with each other, not with the sizes after them."""
    def apply(path: Path) -> None:
        _poke("I", "KEYWORDS_LEN", keywords_len)(path)
        _poke("I", "HEADER_BYTES", header_bytes)(path)
    return apply


def _resize(delta: int | None = None, size: int | None = None) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        os.truncate(path, size if size is not None else path.stat().st_size + (delta or 0))
    return apply


def _replace_with(kind: str) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        target = path.with_name(path.name + ".real")
        os.rename(path, target)
        if kind == "symlink":
            os.symlink(target, path)
        elif kind == "directory":
            path.mkdir()
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "missing":
            pass
    return apply


def _chmod(mode: int) -> Callable[[Path], None]:
    return lambda path: os.chmod(path, mode)


def _write_seq_behind_queue(path: Path) -> None:
    _poke_at(_L["SHMRING_OFF_WRITE_SEQ"], "Q", 3)(path)
    _poke_at(_L["SHMRING_OFF_QUEUE_SEQ"], "Q", 4)(path)


def _not_a_ring(case: str, apply: Callable[[Path], None]) -> Mutation:
    """A file that is not a valid v1 ring: LayoutError in Python, SHMRING_ELAYOUT in C."""
    return Mutation(case, apply, LayoutError, "SHMRING_ELAYOUT")


MUTATIONS: tuple[Mutation, ...] = (
    _not_a_ring("legacy signature", _poke_at(0, "I", 0x11031973)),
    _not_a_ring("other magic", _poke("8s", "MAGIC", b"NOTARING")),
    _not_a_ring("zero magic", _poke("8s", "MAGIC", bytes(8))),
    _not_a_ring("version 2", _poke("I", "VERSION", 2)),
    _not_a_ring("header bytes", _poke("I", "HEADER_BYTES", 8192)),
    _not_a_ring("keywords length absurd", _poke("I", "KEYWORDS_LEN", _L["SHMRING_MAX_KEYWORDS_BYTES"] + 1)),
    _not_a_ring("keywords length absurd, header bytes to match", _poke_keywords(1 << 31, 4096 + (1 << 31))),
    _not_a_ring("keywords without their page", _poke("I", "KEYWORDS_LEN", 1)),
    _not_a_ring("keywords pages the file lacks", _poke_keywords(100, 8192)),
    _not_a_ring("reader entries", _poke("I", "READER_ENTRIES", 64)),
    _not_a_ring("policy 3", _poke("I", "POLICY", 3)),
    _not_a_ring("one slot", _poke("I", "SLOTS", 1)),
    _not_a_ring("too many slots", _poke("I", "SLOTS", _L["SHMRING_MAX_SLOTS"] + 1)),
    _not_a_ring("zero slot bytes", _poke("Q", "SLOT_BYTES", 0)),
    _not_a_ring("meta bytes too large", _poke("I", "META_BYTES", _L["SHMRING_MAX_META_BYTES"] + 1)),
    _not_a_ring("slot bytes disagree", _poke("Q", "SLOT_BYTES", 5000)),
    _not_a_ring("stride", _poke("Q", "SLOT_STRIDE", 8192)),
    _not_a_ring("total bytes", _poke("Q", "TOTAL_BYTES", 4096 + 4 * 4096 + 1)),
    _not_a_ring("schema ndim 0", _poke_at(_SCHEMA, "II", 1, 0)),
    _not_a_ring("schema ndim 5", _poke_at(_SCHEMA, "II", 1, 5)),
    _not_a_ring("schema dtype", _poke_at(_SCHEMA, "II8s", 1, 1, b"<x2")),
    _not_a_ring("schema dtype no numpy dtype", _poke_at(_SCHEMA, "II8s", 1, 1, b"<u3")),
    _not_a_ring("schema dtype padded with other than NULs", _poke_at(_SCHEMA, "II8s", 1, 1, b"<u2\0\0\0\0X")),
    _not_a_ring("schema larger than a slot", _poke_at(_SCHEMA, "II8sQ", 1, 1, b"<u2", 501)),
    _not_a_ring("schema size past 64 bits", _poke_at(_SCHEMA, "II8sQQ", 1, 2, b"<u8", 1 << 62, 1 << 62)),
    _not_a_ring("queue ahead of writes", _write_seq_behind_queue),
    _not_a_ring("reader state 3", _poke_at(_reader_state(5), "I", 3)),
    _not_a_ring("extended", _resize(delta=4096)),
    _not_a_ring("truncated to a slot", _resize(delta=-4096)),
    _not_a_ring("shorter than a header", _resize(size=4095)),
    _not_a_ring("empty", _resize(size=0)),
    _not_a_ring("symlink", _replace_with("symlink")),
    _not_a_ring("directory", _replace_with("directory")),
    _not_a_ring("fifo", _replace_with("fifo")),
    Mutation("missing", _replace_with("missing"), SegmentNotFoundError, "SHMRING_ENOTFOUND"),
    Mutation("no permission", _chmod(0o000), SegmentPermissionError, "SHMRING_EPERM", needs_non_root=True),
)
