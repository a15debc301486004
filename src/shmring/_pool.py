"""Frame-sized buffers that copies of large frames reuse once nothing refers to them.

A fresh 32 MiB allocation is a fresh mmap from the C library (its reuse
threshold stops at 32 MiB), so every copied frame would pay a page fault per
4 KiB page before the copy even starts: 1.3 GB/s instead of 8 here. Reusing a
buffer whose pages are already mapped keeps a copy at memory speed.

A buffer is lent to exactly one numpy array; it is free again when that
array — and so every view of it, which keeps it alive — is gone.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

#: Frames at least this large (bytes) are copied into pooled buffers.
POOL_FROM_BYTES = 1 << 20

_Entry = list[Any]  # [bytearray, weakref to the array it is lent to, or None]


class BufferPool:
    """Up to ``limit`` buffers of ``size`` bytes, lent to one array at a time."""

    def __init__(self, size: int, limit: int = 4) -> None:
        self.size = size
        self.limit = limit
        self._entries: list[_Entry] = []

    def take(self) -> bytearray | None:
        """A buffer no live array uses; None when all ``limit`` are lent.

        None lets the caller copy into a fresh allocation only once a frame is
        really there, so polling an empty ring never allocates.
        """
        for entry in self._entries:
            if entry[1] is None or entry[1]() is None:
                entry[1] = None
                return entry[0]  # type: ignore[no-any-return]
        if len(self._entries) == self.limit:
            return None
        buf = bytearray(self.size)
        self._entries.append([buf, None])
        return buf

    def lend(self, buf: bytearray, array: np.ndarray[Any, Any]) -> None:
        """Mark ``buf`` as in use for as long as ``array`` lives."""
        for entry in self._entries:
            if entry[0] is buf:
                entry[1] = weakref.ref(array)
                return
