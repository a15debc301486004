"""``Locker``: the robust named lock the original SharedMem only sketched.

A Locker is a 64-byte shmring segment (layout in :mod:`._format`)
holding the bytes that are OFD-locked and the futex words that let shmring
processes wake each other. The original C++/Python/MATLAB code never opens it,
so it lives apart from the legacy file, in the shmring segment directory
(``$SHMRING_DIR`` or /dev/shm), under a name derived from the legacy file's
absolute path: ``/tmp/smem_camera1`` -> ``smem_camera1.<8 hex>.lock``. Deleting
and re-creating the legacy file (as the C++ ``init()`` does) keeps the same
Locker, so shmring peers stay synchronised across a producer restart.

Every open Locker holds a shared lease on the file's attached byte, so
``shmring gc`` can tell a Locker file nobody has open (garbage: a free lock
with no sleepers carries no state) from one in use, and remove it safely.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from types import TracebackType
from typing import Union

from .._errors import SegmentExistsError, SegmentNotFoundError
from .._locks import Lease, RangeLock, WakeWord
from .._segment import Segment, list_segments
from . import _format as fmt

__all__ = ["Locker", "lock_files", "lock_name_for", "remove_unused_lock_file"]

NameOrPath = Union[str, "os.PathLike[str]"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def lock_name_for(path: str | os.PathLike[str]) -> str:
    """The Locker name of a legacy (or message) file: basename plus a hash of its absolute path."""
    absolute = os.path.abspath(os.fspath(path))
    stem = _UNSAFE.sub("_", os.path.basename(absolute)).lstrip(".")[:150] or "file"
    digest = hashlib.sha256(absolute.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{stem}.{digest}.lock"


def _init_lock_file(buf: object) -> None:
    buf[: len(fmt.LOCK_MAGIC)] = fmt.LOCK_MAGIC  # type: ignore[index]


def _open_or_create(name: NameOrPath, directory: str | os.PathLike[str] | None, mode: int) -> Segment:
    # Create is atomic (temp file + link), so whoever loses the race to create
    # simply opens the winner's fully initialised file.
    for _ in range(3):
        try:
            seg = Segment.open(name, directory=directory)
        except SegmentNotFoundError:
            try:
                return Segment.create(name, fmt.LOCK_SIZE, directory=directory, mode=mode,
                                      init=_init_lock_file)
            except SegmentExistsError:
                continue
        try:
            fmt.validate_lock_file(seg.mapping(), seg.size, seg.path)
        except BaseException:
            seg.close()
            raise
        return seg
    raise SegmentNotFoundError(f"lock file {name} keeps disappearing while being opened", name=str(name))


def _open_attached(name: NameOrPath, directory: str | os.PathLike[str] | None, mode: int) -> tuple[Segment, Lease]:
    """Open (or create) the lock file and hold its attached byte, on the file its name still names.

    ``shmring gc`` removes a lock file only while it holds the attached byte
    exclusively. Taking the byte shared waits out such a probe; if the name
    was removed meanwhile, this handle holds a file nobody else will find,
    so it lets go and opens the name anew. Two processes therefore never
    hold the "same" Locker on two different files.
    """
    for _ in range(_OPEN_ATTEMPTS):
        seg = _open_or_create(name, directory, mode)
        attached = Lease.take(seg.fd, fmt.ATTACHED_LOCK_BYTE, shared=True)
        if not seg.replaced():
            return seg, attached
        attached.release()
        seg.close()
    raise SegmentNotFoundError(f"lock file {name} keeps being removed while being opened", name=str(name))


_OPEN_ATTEMPTS = 10


def lock_files(directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """The Locker files in the segment directory (files that start with the lock magic), sorted."""
    found = []
    for path in list_segments(directory):
        try:
            with open(path, "rb") as f:
                if f.read(len(fmt.LOCK_MAGIC)) == fmt.LOCK_MAGIC:
                    found.append(path)
        except OSError:
            continue
    return sorted(found)


def remove_unused_lock_file(path: str | os.PathLike[str]) -> bool:
    """Remove the Locker file at ``path`` if no process has it open; whether it was removed.

    Safe against a process opening it at the same moment: the file is removed
    only while this call holds its attached byte exclusively, which no open
    handle allows, and an opener that got in after the removal notices that
    the name is gone and opens the name anew (see ``_open_attached``).

    Raises:
        LayoutError: ``path`` is not a Locker file.
        SegmentNotFoundError: nothing is there.
        SegmentPermissionError: we may not open it read-write.
    """
    seg = Segment.open(Path(path))
    try:
        fmt.validate_lock_file(seg.mapping(), seg.size, seg.path)
        probe = Lease.try_take(seg.fd, fmt.ATTACHED_LOCK_BYTE)
        if probe is None:
            return False
        try:
            # A holder of the update or exchange byte has the file open too (and
            # holds the attached byte, unless it runs an older shmring).
            if Lease.is_held(seg.fd, fmt.UPDATE_LOCK_BYTE) or Lease.is_held(seg.fd, fmt.EXCHANGE_LOCK_BYTE):
                return False
            if seg.replaced():
                return False
            os.unlink(seg.path)
            return True
        finally:
            probe.release()
    finally:
        seg.close()


class Locker:
    """A robust cross-process mutex with a name; the kernel frees it if the holder dies.

    Use as a context manager. The lock is an OFD lock on one byte of a small
    segment, so a process killed while holding it (SIGKILL included) leaves
    it free; waiting with a timeout sleeps on a futex that every release
    bumps. Threads of one process may share a Locker object.

    Args:
        name: lock name (``[A-Za-z0-9._-]``, in the shmring segment directory)
            or an explicit ``os.PathLike`` path. Created on first use.
        timeout: how long ``with locker:`` waits, in seconds; None waits forever.
        directory: where a bare name lives (default ``$SHMRING_DIR`` or /dev/shm).
        mode: permission bits if the lock file has to be created (0o600).

    Raises:
        LayoutError: a file of that name exists but is not a shmring lock file.
    """

    def __init__(
        self,
        name: NameOrPath,
        *,
        timeout: float | None = None,
        directory: str | os.PathLike[str] | None = None,
        mode: int = 0o600,
    ) -> None:
        self._seg, self._attached = _open_attached(name, directory, mode)
        buf = self._seg.mapping()
        wake = WakeWord(buf, fmt.LOCK_WAKE)
        self.timeout = timeout
        self._update = RangeLock(self._seg.fd, fmt.UPDATE_LOCK_BYTE, wake=wake, timeout=timeout)
        self._exchange = RangeLock(self._seg.fd, fmt.EXCHANGE_LOCK_BYTE, wake=wake)
        #: Bumped (and its sleepers woken) after every shmring put/write/send/answer.
        self.data_signal = WakeWord(buf, fmt.DATA_WAKE)

    @classmethod
    def for_file(cls, path: str | os.PathLike[str], *, timeout: float | None = None) -> Locker:
        """The Locker guarding the legacy or message file at ``path`` (see :func:`lock_name_for`)."""
        mode = 0o600
        try:
            mode = os.stat(path).st_mode & 0o666  # share the lock with whoever may share the file
        except OSError:
            pass
        return cls(lock_name_for(path), timeout=timeout, mode=mode)

    @property
    def path(self) -> Path:
        """The lock file."""
        return self._seg.path

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._update.held

    def acquire(self, timeout: float | None = None) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds (None: forever).

        Returns:
            True once held; False only for ``timeout=0`` when someone else holds it.

        Raises:
            WaitTimeout: still held elsewhere after ``timeout`` seconds.
        """
        return self._update.acquire(timeout)

    def release(self) -> None:
        """Release the lock (a no-op when not held)."""
        self._update.release()

    def locked(self) -> bool:
        """Whether another process (or another Locker object) holds the lock now."""
        return self._update.is_held_by_someone_else()

    def close(self) -> None:
        """Release if held and close this handle; the lock file stays for others."""
        if self._seg.closed:
            return
        self._update.close()
        self._exchange.close()
        self._attached.release()
        self._seg.close()

    def unlink(self) -> None:
        """Remove the lock file's name (only when no process uses it any more)."""
        self._seg.unlink()

    def __enter__(self) -> Locker:
        self._update.acquire(self.timeout)
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._update.release()

    def __repr__(self) -> str:
        return f"<Locker {str(self._seg.path)!r}{' held' if self.held else ''}>"
