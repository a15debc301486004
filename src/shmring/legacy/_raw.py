"""Raw byte access to a legacy file (the seed's header-less read/write self-test), shared by SharedMem."""

from __future__ import annotations

import time
from pathlib import Path

from .._errors import SegmentPermissionError
from .._segment import Segment
from ._buffers import as_payload
from ._checks import index
from ._locker import Locker

__all__ = ["RawAccess"]


class RawAccess:
    """``read``/``write`` at any offset of the mapped file, bounds-checked; the base of SharedMem."""

    _seg: Segment
    _locker: Locker | None

    @property
    def path(self) -> Path:
        """The legacy file."""
        return self._seg.path

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return self._seg.size

    @property
    def writable(self) -> bool:
        """Whether this handle may change the file."""
        return self._seg.writable

    def read(self, pos: int, n: int) -> bytes:
        """Return ``n`` raw bytes at offset ``pos`` (no lock, no header needed).

        Raises:
            TypeError: ``pos`` or ``n`` is not an int.
            ValueError: the range leaves the file (message names pos, n and the size).
        """
        pos, n = self._check_range(pos, n)
        return bytes(self._seg.mapping()[pos : pos + n])

    def write(self, pos: int, data: bytes | bytearray | memoryview) -> None:
        """Write raw bytes at offset ``pos`` and wake shmring readers waiting on this file.

        Raises:
            TypeError: ``pos`` is not an int, or ``data`` is not bytes-like.
            ValueError: the range leaves the file.
        """
        self._require_writable("write")
        payload = as_payload(data)
        pos, _ = self._check_range(pos, len(payload))
        self._seg.mapping()[pos : pos + len(payload)] = payload
        self._require_locker("write").data_signal.announce()

    def wait_write(self, seen: int, timeout: float) -> int:
        """Sleep up to ``timeout`` s until a shmring :meth:`write`/put after ``seen``; return the new mark.

        ``seen`` is a previous return value (or :meth:`write_mark`). Original
        writers never signal, so callers must still look every ``timeout`` seconds.
        """
        if self._locker is None:
            # A read-only handle without the lock file hears no one: it can only
            # look again later, exactly as with an original writer.
            time.sleep(timeout)
            return seen
        self._locker.data_signal.sleep(seen, timeout)
        return self._locker.data_signal.snapshot()

    def write_mark(self) -> int:
        """The current value of the write signal, for :meth:`wait_write`."""
        return 0 if self._locker is None else self._locker.data_signal.snapshot()

    def _check_range(self, pos: int, n: int) -> tuple[int, int]:
        pos, n, size = index("pos", pos), index("n", n), self._seg.size
        if pos < 0 or n < 0 or pos + n > size:
            raise ValueError(f"range pos={pos} n={n} leaves {self.path} ({size} bytes): "
                             f"need 0 <= pos and pos + n <= {size}")
        return pos, n

    def _require_locker(self, what: str) -> Locker:
        if self._locker is None:
            raise SegmentPermissionError(
                f"{what} needs the lock file of {self.path}, which this user may not use "
                "(the file was opened read-only)", path=str(self.path))
        return self._locker

    def _require_writable(self, what: str) -> None:
        self._seg.mapping()
        if not self._seg.writable:
            raise SegmentPermissionError(f"{what} needs write access; {self.path} was opened read-only",
                                         path=str(self.path))
