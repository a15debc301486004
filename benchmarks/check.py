"""Stamp every message with its sequence number and a checksum; verify on receipt.

A message of ``n`` bytes carries three little-endian 64-bit words: the sequence
number at offset 0, ``mix(seq)`` at the middle (8-aligned) and ``mix(seq) ^ n`` at
the end. A lost, reordered, duplicated or torn message fails the check; the
bytes in between are not read, so a zero-copy reader stays zero-copy.
"""

from __future__ import annotations

import struct
from typing import Any

_WORD = struct.Struct("<Q")
_MASK = (1 << 64) - 1
_MIX = 0x9E3779B97F4A7C15
MIN_BYTES = 24


class DataError(Exception):
    """The transport delivered a message that is missing, out of order or corrupt."""


def _offsets(nbytes: int) -> tuple[int, int]:
    return (nbytes // 2) & ~7, nbytes - 8


def mix(seq: int) -> int:
    return (seq * _MIX) & _MASK


def stamp(buf: Any, seq: int, nbytes: int) -> None:
    """Write the stamp of message ``seq`` into the writable byte buffer ``buf``."""
    mid, end = _offsets(nbytes)
    m = mix(seq)
    _WORD.pack_into(buf, 0, seq)
    _WORD.pack_into(buf, mid, m)
    _WORD.pack_into(buf, end, m ^ nbytes)


def verify(buf: Any, expected: int, nbytes: int) -> None:
    """Raise DataError unless ``buf`` is message ``expected`` of ``nbytes`` bytes, intact."""
    mv = memoryview(buf)
    if mv.nbytes != nbytes:
        raise DataError(f"message {expected}: {mv.nbytes} bytes, expected {nbytes}")
    if mv.ndim != 1 or mv.format != "B":
        mv = mv.cast("B")
    seq = _WORD.unpack_from(mv, 0)[0]
    if seq != expected:
        raise DataError(f"expected message {expected}, got {seq} (lost or reordered)")
    mid, end = _offsets(nbytes)
    m = mix(seq)
    if _WORD.unpack_from(mv, mid)[0] != m or _WORD.unpack_from(mv, end)[0] != m ^ nbytes:
        raise DataError(f"message {seq}: checksum mismatch (torn or corrupt)")


def seq_of(buf: Any) -> int:
    """The sequence number of a stamped message (for echo without a full check)."""
    mv = memoryview(buf)
    if mv.ndim != 1 or mv.format != "B":
        mv = mv.cast("B")
    return int(_WORD.unpack_from(mv, 0)[0])
