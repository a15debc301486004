"""``SharedMem``: a handle on one legacy file, its queue (put/get/listen) and its lifecycle."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .._errors import LayoutError, SegmentExistsError, ShmringError
from .._segment import Segment
from . import _format as fmt
from ._buffers import as_payload, infer_dims
from ._checks import poll_seconds, uint32, wait_seconds
from ._files import (
    LOCK_TIMEOUT,
    NameOrPath,
    adopt,
    checked_header,
    create_queue,
    legacy_path,
    locker_for,
    open_segment,
    reopen_if_replaced,
)
from ._format import MemHeader
from ._listener import BufListener
from ._locker import Locker
from ._queue import Buf, live_header, put_slot, take_slot
from ._raw import RawAccess

__all__ = ["DEFAULT_POLL_INTERVAL", "SharedMem"]

# The package's name, not this module's: the documented logger is "shmring.legacy".
log = logging.getLogger("shmring.legacy")

#: Seconds between looks at the queue when waiting for a producer that cannot signal (an original).
DEFAULT_POLL_INTERVAL = 0.01


class SharedMem(RawAccess):
    """A legacy SharedMem file: a FIFO queue of image buffers, or raw bytes.

    Build one with :meth:`create`, :meth:`open`, :meth:`create_raw` or
    :meth:`open_raw`. Every header update is made under the file's
    :class:`Locker`; the originals never lock, so shmring also orders its
    stores for them (payload and BufHeader, then head, then count).
    """

    def __init__(self, seg: Segment, header: MemHeader | None, locker: Locker | None) -> None:
        """Wrap an opened segment; use the factories."""
        self._seg = seg
        self._header = header
        self._locker = locker
        self._put_counter = 0
        self._listeners: list[BufListener] = []
        #: How many times this handle re-attached to a re-created file.
        self.reattached = 0
        self._pid = os.getpid()

    # -- lifecycle -------------------------------------------------------

    @classmethod
    def create(cls, name_or_path: NameOrPath, item_size: int, item_alloc: int, *, mode: int = 0o600,
               exist_ok: bool = False, directory: str | os.PathLike[str] | None = None) -> SharedMem:
        """Create a legacy queue file of ``item_alloc`` slots of ``item_size`` bytes.

        The file is zero-filled and its header written before its name
        appears. With ``exist_ok``, an existing file is opened instead, and a
        zero-filled one (signature 0) of sufficient size gets its header
        written, as the original did.

        Args:
            name_or_path: bare name (-> ``<directory>/smem_<name>``) or a path.
            item_size: payload bytes per slot (>= 1).
            item_alloc: number of slots (>= 1).
            mode: permission bits (0o600; 0o666 to share with other users as the originals did).
            exist_ok: open an existing file of the same geometry instead of failing.
            directory: where a bare name lives (default /tmp).

        Raises:
            SegmentExistsError: the file exists and ``exist_ok`` is False.
            LayoutError: ``exist_ok`` found a file of another layout or geometry.
            TypeError: a size that is not an int.
            ValueError: sizes out of range (memsize must fit in 32 bits).
        """
        path = legacy_path(name_or_path, directory)
        try:
            seg = create_queue(path, item_size, item_alloc, mode)
        except SegmentExistsError:
            if not exist_ok:
                raise
            locker = Locker.for_file(path, timeout=LOCK_TIMEOUT)
            try:
                seg, header = adopt(path, item_size, item_alloc, locker)
            except BaseException:
                locker.close()
                raise
            return cls(seg, header, locker)
        return cls(seg, fmt.read_header(seg.mapping()), Locker.for_file(path, timeout=LOCK_TIMEOUT))

    @classmethod
    def open(cls, name_or_path: NameOrPath, *, writable: bool | None = None,
             directory: str | os.PathLike[str] | None = None) -> SharedMem:
        """Open an existing legacy queue file, refusing anything that is not one.

        Args:
            name_or_path: bare name (-> ``/tmp/smem_<name>``) or a path.
            writable: None opens read-write, or read-only if the file's mode
                refuses writing (then only :meth:`read` and :meth:`header` work).
            directory: where a bare name lives (default /tmp).

        Raises:
            SegmentNotFoundError: no such file.
            LayoutError: wrong signature, memsize disagreeing with the formula
                or the file size, head/tail/count out of range, truncated file.
        """
        path = legacy_path(name_or_path, directory)
        seg = open_segment(path, writable, fmt.MEM_HEADER.size)
        try:
            header = checked_header(seg)
            locker = locker_for(seg)
        except BaseException:
            seg.close()
            raise
        return cls(seg, header, locker)

    @classmethod
    def create_raw(cls, name_or_path: NameOrPath, size: int, *, mode: int = 0o600, exist_ok: bool = False,
                   directory: str | os.PathLike[str] | None = None) -> SharedMem:
        """Create a zero-filled file of ``size`` bytes with no header, for :meth:`read`/:meth:`write`.

        Raises:
            SegmentExistsError: the file exists and ``exist_ok`` is False.
        """
        path = legacy_path(name_or_path, directory)
        try:
            seg = Segment.create(path, size, mode=mode)
        except SegmentExistsError:
            if not exist_ok:
                raise
            return cls.open_raw(path)
        return cls(seg, None, Locker.for_file(path, timeout=LOCK_TIMEOUT))

    @classmethod
    def open_raw(cls, name_or_path: NameOrPath, *, writable: bool | None = None,
                 directory: str | os.PathLike[str] | None = None) -> SharedMem:
        """Open any regular file for raw :meth:`read`/:meth:`write` (the seed's header-less self-test)."""
        path = legacy_path(name_or_path, directory)
        seg = open_segment(path, writable, 1)
        try:
            return cls(seg, None, locker_for(seg))
        except BaseException:
            seg.close()
            raise

    def close(self) -> None:
        """Stop this handle's listeners and unmap the file; other processes are unaffected. Idempotent."""
        for listener in list(self._listeners):
            listener.stop()
        if not self._seg.closed:
            self._seg.close()
            if self._locker is not None:
                self._locker.close()

    def __del__(self) -> None:
        # A handle dropped without close() kept its two descriptors for the life of the
        # process (found by the soak). Not in a fork() child: its locks are its parent's.
        if getattr(self, "_pid", None) == os.getpid() and not self._seg.closed:
            try:
                self.close()
            except (ShmringError, OSError):
                pass

    def delete(self) -> None:
        """Remove the file (if its name still names the file this handle mapped) and close this handle."""
        self._seg.unlink()
        self.close()

    def __enter__(self) -> SharedMem:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- facts -----------------------------------------------------------

    @property
    def raw(self) -> bool:
        """True for a handle from :meth:`create_raw`/:meth:`open_raw` (no queue)."""
        return self._header is None

    @property
    def locker(self) -> Locker:
        """The :class:`Locker` every header update of this file goes through.

        Raises:
            SegmentPermissionError: a read-only handle that may not use the lock file.
        """
        return self._require_locker("the Locker")

    @property
    def item_size(self) -> int:
        """Payload bytes per slot."""
        return self._queue_header().item_size

    @property
    def item_alloc(self) -> int:
        """Number of slots."""
        return self._queue_header().item_alloc

    @property
    def put_counter(self) -> int:
        """This handle's put attempts so far (modulo 2**32); the last BufHeader it wrote carries it."""
        return self._put_counter

    def header(self) -> MemHeader:
        """A snapshot of the MemHeader as it is now (unlocked, for display)."""
        self._queue_header()
        return fmt.read_header(self._seg.mapping())

    # -- the queue -------------------------------------------------------

    def put_buf(self, data: Any, width: int = 0, height: int = 0, flags: int = 0) -> bool:
        """Append a buffer, or drop it when the queue is full (original semantics).

        Every call increments this handle's put_counter, stored or not, so a
        reader sees a gap for each dropped buffer. An empty ``data`` publishes
        ``item_size`` zero bytes (buf_len 0 means item_size); longer data is
        truncated to ``item_size`` bytes. Width/height default to a 2-D+ numpy
        array's shape.

        Args:
            data: bytes-like or numpy array (copied).
            width: image width, pixels (uint32).
            height: image height, pixels (uint32).
            flags: BUFH_* flags (uint32).

        Returns:
            True if stored, False if dropped because all ``item_alloc`` slots are full.

        Raises:
            LayoutError: the header was corrupted since open.
            WaitTimeout: the Locker stayed held by a stuck process for 10 s.
            TypeError: ``data`` is not bytes-like, or width/height/flags not an int.
            ValueError: width/height/flags outside 0..2**32-1 (nothing was counted).
        """
        self._require_writable("put_buf")
        payload = as_payload(data)
        width, height = infer_dims(data, width, height)
        # Checked before anything is counted or written: a bad value costs no put_counter.
        width, height, flags = uint32("width", width), uint32("height", height), uint32("flags", flags)
        self._put_counter = (self._put_counter + 1) & fmt.UINT32_MAX
        record = (self._put_counter, width, height, flags)
        with self._require_locker("put_buf"):
            stored = self._put_locked(payload, record)
            # Full may mean nobody drains this file any more: a restarted C++
            # consumer re-created it. Move to the new file if so.
            if not stored and self._reattach_if_replaced():
                stored = self._put_locked(payload, record)
        if stored:
            self._require_locker("put_buf").data_signal.announce()
        return stored

    def _put_locked(self, payload: memoryview, record: tuple[int, int, int, int]) -> bool:
        buf = self._seg.mapping()
        h = live_header(buf, self._queue_header(), self.path)
        if h.signature != fmt.SIGNATURE:
            fmt.validate_header(h, self._seg.size, self.path)  # raises, naming the signature
        return put_slot(buf, h, payload, record)

    def get_buf(self, *, dtype: Any = None, shape: tuple[int, ...] | None = None, timeout: float | None = 0.0,
                poll_interval: float = DEFAULT_POLL_INTERVAL) -> Buf | None:
        """Take the oldest buffer from the queue (FIFO), or None if there is none.

        Args:
            dtype: numpy dtype to view the bytes as; ``data`` is then a writable
                array of shape ``shape``, else (height, width[, channels]) when
                the sizes agree, else 1-D.
            shape: numpy shape (implies dtype uint8 when dtype is None).
            timeout: seconds to wait for a buffer; 0 (default, as the original)
                returns at once, None waits forever.
            poll_interval: longest sleep, seconds, between looks at the queue.
                shmring producers wake the waiter at once; originals cannot, so
                a buffer of theirs is seen within this interval.

        Returns:
            ``Buf(data, put_counter, width, height, flags)``, or None: the queue
            is empty, or the slot at tail is not a valid buffer (buf_len 0 or
            larger than item_size), as in the original.

        Raises:
            FrameError: the buffer does not fit ``dtype``/``shape`` (it stays queued).
            LayoutError: the header was corrupted since open.
            ValueError: ``timeout`` < 0 or ``poll_interval`` <= 0.
        """
        self._require_writable("get_buf")
        wait_seconds("timeout", timeout)
        poll_seconds("poll_interval", poll_interval)
        deadline = None if timeout is None else time.monotonic() + timeout
        signal = self._require_locker("get_buf").data_signal
        while True:
            seen = signal.snapshot()  # before looking, so a put after the look still wakes us
            got = self._get_once(dtype, shape)
            if got is not None or timeout == 0:
                return got
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            signal.sleep(seen, poll_interval if remaining is None else min(poll_interval, remaining))

    def _get_once(self, dtype: Any, shape: tuple[int, ...] | None) -> Buf | None:
        with self._require_locker("get_buf"):
            got = self._get_locked(dtype, shape)
            # Empty may mean the producer re-created the file (the C++ init()
            # deletes and re-creates it): follow it to the new file.
            if got is None and self._reattach_if_replaced():
                got = self._get_locked(dtype, shape)
            return got

    def _get_locked(self, dtype: Any, shape: tuple[int, ...] | None) -> Buf | None:
        buf = self._seg.mapping()
        return take_slot(buf, live_header(buf, self._queue_header(), self.path), dtype, shape)

    def _reattach_if_replaced(self) -> bool:
        fresh = reopen_if_replaced(self._seg)
        if fresh is None:
            return False
        old = self._seg
        self._seg, self._header = fresh
        old.close()
        self.reattached += 1
        log.info("%s was re-created (item_size %d, item_alloc %d); re-attached", self.path,
                 self._header.item_size, self._header.item_alloc)
        return True

    def on_buf(self, callback: Callable[[Buf], object], *, poll_interval: float = DEFAULT_POLL_INTERVAL,
               dtype: Any = None, shape: tuple[int, ...] | None = None) -> BufListener:
        """Deliver every buffer to ``callback`` from a background thread until stopped.

        A shmring producer wakes the thread through a futex at once; an
        original producer cannot signal, so its buffers are found by looking
        every ``poll_interval`` seconds (the only way to see them).

        Args:
            callback: called with each :class:`Buf`, in order, on the listener thread.
            poll_interval: longest sleep between looks, seconds (> 0).
            dtype: as for :meth:`get_buf`.
            shape: as for :meth:`get_buf`.

        Returns:
            A :class:`BufListener`; call its ``stop()``. If ``callback`` raises,
            the listener stops and ``stop()`` re-raises the exception.
        """
        poll_seconds("poll_interval", poll_interval)
        self._require_writable("on_buf")
        listener = BufListener(lambda: self._get_once(dtype, shape), self.locker.data_signal, callback,
                               poll_interval, name=self.path.name, on_stop=self._forget)
        self._listeners.append(listener)
        listener.start()
        return listener

    def _queue_header(self) -> MemHeader:
        self._seg.mapping()  # ClosedError after close()
        if self._header is None:
            raise LayoutError(f"{self.path} was opened raw (no MemHeader): use SharedMem.open for the queue",
                              path=str(self.path), field="header", expected="MemHeader", found="raw file")
        return self._header

    def _forget(self, listener: BufListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def __repr__(self) -> str:
        kind = "raw" if self._header is None else f"{self._header.item_alloc}x{self._header.item_size}"
        return f"<SharedMem {str(self._seg.path)!r} {kind}{' closed' if self._seg.closed else ''}>"
