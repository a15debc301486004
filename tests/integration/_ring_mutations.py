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
from shmring import _format as F


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
            f.seek(lib.layout_offsets()[f"SHMRING_OFF_{field}"])
            f.write(struct.pack("<" + fmt, value))
    return apply


def _poke_at(offset: int, fmt: str, *values: int | bytes) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(struct.pack("<" + fmt, *values))
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
    _poke_at(F.OFF_WRITE_SEQ, "Q", 3)(path)
    _poke_at(F.OFF_QUEUE_SEQ, "Q", 4)(path)


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("legacy signature", _poke_at(0, "I", 0x11031973), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("other magic", _poke("8s", "MAGIC", b"NOTARING"), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("zero magic", _poke("8s", "MAGIC", bytes(8)), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("version 2", _poke("I", "VERSION", 2), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("header bytes", _poke("I", "HEADER_BYTES", 8192), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("reader entries", _poke("I", "READER_ENTRIES", 64), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("policy 3", _poke("I", "POLICY", 3), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("one slot", _poke("I", "SLOTS", 1), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("too many slots", _poke("I", "SLOTS", F.MAX_SLOTS + 1), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("zero slot bytes", _poke("Q", "SLOT_BYTES", 0), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("meta bytes too large", _poke("I", "META_BYTES", (1 << 20) + 1), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("slot bytes disagree", _poke("Q", "SLOT_BYTES", 5000), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("stride", _poke("Q", "SLOT_STRIDE", 8192), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("total bytes", _poke("Q", "TOTAL_BYTES", 4096 + 4 * 4096 + 1), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("schema ndim 0", _poke_at(F.OFF_SCHEMA, "II", 1, 0), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("schema ndim 5", _poke_at(F.OFF_SCHEMA, "II", 1, 5), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("schema dtype", _poke_at(F.OFF_SCHEMA, "II8s", 1, 1, b"<x2"), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("queue ahead of writes", _write_seq_behind_queue, LayoutError, "SHMRING_ELAYOUT"),
    Mutation("reader state 3", _poke_at(F.reader_offset(5) + F.R_STATE, "I", 3), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("extended", _resize(delta=4096), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("truncated to a slot", _resize(delta=-4096), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("shorter than a header", _resize(size=4095), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("empty", _resize(size=0), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("symlink", _replace_with("symlink"), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("directory", _replace_with("directory"), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("fifo", _replace_with("fifo"), LayoutError, "SHMRING_ELAYOUT"),
    Mutation("missing", _replace_with("missing"), SegmentNotFoundError, "SHMRING_ENOTFOUND"),
    Mutation("no permission", _chmod(0o000), SegmentPermissionError, "SHMRING_EPERM", needs_non_root=True),
)
