"""``Reader``: takes frames out of a ring — every frame (broadcast) or a share of them (queue).

Reading is lock-free and follows docs/format.md, "Read frame k" (read steps 1-6)
and "Queue readers" (queue steps): the C core runs those steps; this module keeps
the policy (where to start, how long to wait, copies or views). A torn frame is
never returned.

How a reader waits (a futex sleep, never a sleep loop) is in ``_reader_wait``;
batch reads (``get_many``, ``get_bytes_many``) are in ``_reader_batch``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any

import numpy as np

from . import _format as F
from . import _meta
from ._attachment import Attachment, RingHandle
from ._core import MODE_COPY, MODE_INTO, MODE_VIEW, FrameRead
from ._errors import BrokenError, ClosedError, ReaderTableFullError, ShmringError
from ._frame import Frame
from ._locks import Lease
from ._pool import POOL_FROM_BYTES, BufferPool
from ._reader_batch import Batches
from ._reader_wait import Waiting
from ._readyfd import ReadyFd
from ._spin import AdaptiveSpin
from ._subscription import Subscription, aiterate

STARTS = ("next", "oldest", "latest")
WRITER_GONE = ("wait", "raise")


class Reader(Batches, Waiting):
    """Reads frames from a ring. Make one with ``Ring.reader()``.

    A reader holds a lease on its entry of the ring's reader table for as
    long as it lives; the kernel drops it if the process dies, and writers
    under ``block`` then stop waiting for it.

    Attributes:
        queue: True for a queue reader (frames shared among queue readers).
        lost: frames this reader missed in all (overwritten or skipped).
        received: frames this reader got.
    """

    def __init__(self, ring: RingHandle, *, start: str, queue: bool, name: str) -> None:
        if start not in STARTS:
            raise ValueError(f"start must be one of {', '.join(STARTS)}; got {start!r}")
        self._ring = ring
        self.queue = queue
        self.name = name
        self.lost = 0
        self.received = 0
        self._pending_lost = 0
        self._writer_seen = False  # writer_gone="raise": a writer was attached while we waited
        self._held: set[int] = set()
        self._pending_error: Exception | None = None  # a batch's problem, raised by the next get_many
        self._interrupt = False
        self._sleeping = 0  # threads inside _sleep_once; close() waits for them to leave
        self._sleep_cv = threading.Condition()
        self._spinning = AdaptiveSpin()
        slot_bytes = ring._mapping().layout.slot_bytes
        self._pool = BufferPool(slot_bytes) if slot_bytes >= POOL_FROM_BYTES else None
        self._lease: Lease | None = None
        self._ready: ReadyFd | None = None
        self._attach(ring._mapping(), start)

    def _attach(self, m: Attachment, start: str) -> None:
        claimed = m.table.claim(m.seg.fd)
        if claimed is None:
            raise ReaderTableFullError(f"ring {self._ring.name!r} has {F.READER_ENTRIES} live readers already; "
                                       "close one first", name=self._ring.name, entries=F.READER_ENTRIES)
        self._index, self._lease = claimed
        write_seq = m.write_seq()
        self._cursor = {"next": write_seq, "latest": max(0, write_seq - 1),
                        "oldest": max(0, write_seq - m.layout.slots)}[start]
        state = F.STATE_QUEUE if self.queue else F.STATE_BROADCAST
        release = F.NO_PIN if self.queue else self._cursor
        m.table.init_entry(self._index, state=state, cursor=self._cursor, release=release, name=self.name)
        if self._ready is not None:  # re-attached: the event loop's descriptor follows the new ring
            self._ready.follow(m.notify, self._has_frame)

    # -- reading --------------------------------------------------------------

    def get(self, timeout: float | None = None, *, view: bool = False, spin: float | None = None,
            out: np.ndarray[Any, Any] | None = None, writer_gone: str = "wait") -> Frame:
        """Wait for the next frame and return it.

        Args:
            timeout: seconds to wait (None: forever).
            view: return a zero-copy read-only view of the slot instead of a
                copy; release it (``with`` or ``frame.release()``) when done.
            spin: seconds to busy-poll (GIL released) before sleeping; None (the
                default) learns how long from the last waits, up to 50 µs, and
                stops spinning when frames come rarely; 0 never spins
                (docs/ring.md, "Spinning").
            out: an array to copy the frame into (same dtype and shape), to
                avoid an allocation per frame.
            writer_gone: what to do when nothing is left to read and the ring's
                writer is gone (it wrote frames, or this reader saw it attached,
                and no writer holds the presence lease now). ``"wait"`` (the
                default) keeps waiting: a new writer may attach, and the timeout
                ends the wait. ``"raise"`` raises BrokenError at once: within
                0.5 s of a crash, at once after a clean ``Writer.close()``.
                Frames still unread are returned first either way.

        Raises:
            WaitTimeout: nothing arrived within ``timeout`` (also a TimeoutError).
            BrokenError: the ring's name was removed or re-created (see ``reattach``),
                or, with ``writer_gone="raise"``, its writer is gone.
            ClosedError: the reader was closed, also from another thread.
            ValueError: ``writer_gone`` is neither ``"wait"`` nor ``"raise"``.
        """
        if writer_gone not in WRITER_GONE:
            raise ValueError(f"writer_gone must be one of {', '.join(WRITER_GONE)}; got {writer_gone!r}")
        if self._lease is None:  # _open_mapping(), inline: the per-frame path
            raise ClosedError(f"reader of ring {self._ring.name!r} was closed")
        m = self._ring._mapping()
        frame = self._take(m, view, out)
        if frame is None:
            frame = self._wait(m, timeout, spin, lambda a: self._take(a, view, out), writer_gone == "raise")
        return frame

    def get_bytes(self, timeout: float | None = None, *, spin: float | None = None) -> bytes:
        """The next frame's payload as bytes, for small messages: no array, metadata or Frame is made.

        Waits as :meth:`get`; ``reader.lost`` counts frames missed. The payload
        is the frame's bytes whatever its dtype; its metadata and flags are not read.
        """
        # The per-message hot path, flat on purpose: for the frame the cursor names,
        # with nothing lost or pinned, one Python frame (and the ring's guard) and one C call.
        if self._lease is None:
            raise ClosedError(f"reader of ring {self._ring.name!r} was closed")
        m = self._ring._mapping()
        if not self.queue and not self._held and not self._pending_lost:
            got = m.core.read_bytes(self._index, self._cursor, _NO_PIN)
            if type(got) is bytes:  # the common case: that frame, none lost
                self._cursor += 1
                self.received += 1
                return got
            data = self._took_bytes(got)
        else:
            data = self._take_bytes(m)
        if data is None:
            data = self._wait(m, timeout, spin, self._take_bytes)
        return data

    def try_get(self, *, view: bool = False, out: np.ndarray[Any, Any] | None = None) -> Frame | None:
        """The next frame if one is there now, else None (never waits).

        A reader with a :meth:`fileno` also checks, when there is nothing, whether
        the ring's name was removed or re-created (the descriptor says so): it
        raises BrokenError then, or re-attaches for a ring opened with ``reattach=True``.
        """
        frame = self._take(self._open_mapping(), view, out)
        if frame is None and self._ready is not None and self._ring._check_replaced():
            self._attach(self._ring._mapping(), "oldest")
            frame = self._take(self._ring._mapping(), view, out)
        return frame

    def latest(self, timeout: float | None = None, *, view: bool = False, writer_gone: str = "wait") -> Frame:
        """The newest frame, skipping any backlog (skipped frames count as lost).

        Waits like :meth:`get` (``writer_gone`` as there) when nothing newer than
        the last frame read exists.
        """
        m = self._open_mapping()
        if not self.queue:
            newest = m.write_seq() - 1
            if newest > self._cursor:
                self._skip(m, newest - self._cursor)
        return self.get(timeout, view=view, writer_gone=writer_gone)

    def __iter__(self) -> Iterator[Frame]:
        """Blocking iteration: yields every frame as it arrives, forever."""
        while True:
            yield self.get()

    def subscribe(self, callback: Callable[[Frame], Any], *, view: bool = False) -> Subscription:
        """Call ``callback(frame)`` for every frame from a background thread.

        The reader belongs to the subscription until ``sub.stop()``; an
        exception in the callback ends it and is re-raised by ``stop()``.
        """
        return Subscription(self, callback, view=view)

    def fileno(self) -> int:
        """A descriptor readable when a frame may be waiting (docs/ring.md, "Event loops").

        ``os.read(fd, 8)`` clears it; then take frames with ``try_get()`` until None.
        """
        if self._ready is None:
            self._ready = ReadyFd(self._open_mapping().notify, self._has_frame, self.name or self._ring.name,
                                  moved=self._ring._name_moved)
        return self._ready.fileno()

    def _has_frame(self) -> bool:
        m = self._ring._mapping()
        return m.write_seq() > (m.queue_seq() if self.queue else self._cursor)

    def aiter(self, *, view: bool = False) -> AsyncIterator[Frame]:
        """``async for frame in reader.aiter():`` — waits in a worker thread, not on the event loop."""
        return aiterate(self, view=view)

    # -- one attempt ------------------------------------------------------------

    def _take_bytes(self, m: Attachment) -> bytes | None:
        pin = min(self._held) if self._held else _NO_PIN
        return self._took_bytes(m.core.read_bytes(self._index, None if self.queue else self._cursor, pin))

    def _took_bytes(self, got: bytes | tuple[int, int, bytes] | int | None) -> bytes | None:
        """What ``Core.read_bytes`` returned, taken into the reader's counts: the payload, or None."""
        if isinstance(got, bytes):  # frame `cursor` itself, none lost: the common case
            self._cursor += 1
            self.received += 1
            if self._pending_lost:
                self._take_lost(0)
            return got
        if not isinstance(got, tuple):  # None, or frames skipped as lost with nothing to read yet
            if got:
                self._skipped(got)
            return None
        seq, lost, data = got
        self._cursor = seq + 1
        self.received += 1
        if lost or self._pending_lost:
            self._take_lost(lost)
        return data

    def _copied(self, got: FrameRead) -> Frame:
        """A Frame of a copy the C core made."""
        seq, lost, ts, mono, flags, typestr, shape, meta_raw, payload = got
        self.received += 1
        if lost or self._pending_lost:
            lost = self._take_lost(lost)
        dtype = _DTYPES.get(typestr) or _dtype(typestr)
        meta = _meta.decode(meta_raw) if meta_raw else {}
        return Frame(np.ndarray(shape, dtype, payload), seq, ts, mono, meta, flags, lost)

    def _take(self, m: Attachment, view: bool, out: np.ndarray[Any, Any] | None) -> Frame | None:
        """The next frame if one is there (one call into the C fast path), else None.

        This is the per-frame hot path: it stays flat on purpose.
        """
        mode = MODE_VIEW if view else (MODE_COPY if out is None else MODE_INTO)
        pin = min(self._held) if self._held else _NO_PIN
        into: Any = out  # the buffer C copies into: the caller's, a pooled one, or none
        if mode == MODE_COPY and self._pool is not None:  # large frames: copy into a reused buffer
            into = self._pool.take()
        c_mode = MODE_INTO if into is not None else mode
        if self.queue:
            got = m.core.read_queued(self._index, c_mode, into, pin)
        else:
            got = m.core.read(self._index, self._cursor, c_mode, into, pin)
        if not isinstance(got, FrameRead):  # None, or frames skipped as lost with nothing to read yet
            if got:
                self._skipped(got)
            return None
        seq, lost, ts, mono, flags, typestr, shape, meta_raw, payload = got
        self._cursor = seq + 1
        self.received += 1
        if lost or self._pending_lost:
            lost = self._take_lost(lost)
        dtype = _DTYPES.get(typestr) or _dtype(typestr)
        meta = _meta.decode(meta_raw) if meta_raw else {}
        if mode == MODE_COPY:
            if into is None:
                return Frame(np.ndarray(shape, dtype, payload), seq, ts, mono, meta, flags, lost)
            data = np.ndarray(shape, dtype, into)
            self._pool.lend(into, data)  # type: ignore[union-attr]
            return Frame(data, seq, ts, mono, meta, flags, lost)
        if view:
            self._held.add(seq)  # pins the slot under block until the frame is released
            return Frame(np.ndarray(shape, dtype, m.readonly, payload), seq, ts, mono, meta, flags, lost, self)
        if out.dtype != dtype or out.shape != shape:  # type: ignore[union-attr]
            raise ValueError(f"out must be {shape} {dtype} for frame {seq}, got {out.shape} {out.dtype}; "  # type: ignore[union-attr]
                             "the frame is lost to this reader")
        return Frame(out, seq, ts, mono, meta, flags, lost)  # type: ignore[arg-type]

    def _skipped(self, n: int) -> None:
        """Count ``n`` frames the fast path skipped as lost while there is nothing to read yet."""
        self._note_lost(n)
        if not self.queue:
            self._cursor += n

    def _take_lost(self, lost: int) -> int:
        """Frames lost just before the one being returned (including earlier skips)."""
        self._note_lost(lost)
        lost, self._pending_lost = self._pending_lost, 0
        return lost

    # -- bookkeeping ---------------------------------------------------------------

    def _note_lost(self, n: int) -> None:
        self.lost += n
        self._pending_lost += n

    def _unpin(self, k: int) -> None:
        self._held.discard(k)
        if self._lease is None or self._ring._m is None:  # closed (the ring's `closed`, without a call)
            return
        floor = min(self._held) if self._held else (F.NO_PIN if self.queue else self._cursor)
        self._ring._mapping().core.set_release(self._index, floor)

    def _still_committed(self, seq: int) -> bool:
        return not self._ring.closed and self._ring._mapping().core.still_committed(seq)

    def _skip(self, m: Attachment, n: int) -> None:
        """Jump ``n`` frames ahead (``latest()``), counting them lost."""
        self._note_lost(n)
        self._cursor += n
        m.table.store(self._index, F.R_CURSOR, self._cursor)
        m.table.store(self._index, F.R_LOST, self.lost)
        if not self._held:
            m.table.store(self._index, F.R_RELEASE, self._cursor)

    def _open_mapping(self) -> Attachment:
        if self._lease is None:
            raise ClosedError(f"reader of ring {self._ring.name!r} was closed")
        return self._ring._mapping()

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Leave the reader table (views already taken stay readable until released). Idempotent.

        A ``get`` blocked in another thread returns with ClosedError first.
        """
        if self._lease is None:
            return
        if self._ready is not None:
            self._ready.close()
            self._ready = None
        if self._sleeping:
            self.interrupt()
            with self._sleep_cv:  # let the sleeper leave before the mapping may go
                self._sleep_cv.wait_for(lambda: self._sleeping == 0, timeout=2.0)
        if not self._ring.closed:
            m = self._ring._mapping()
            m.table.free(self._index)
            m.space.wake_sleepers()
        self._lease.release()
        self._lease = None
        self._held.clear()

    @property
    def closed(self) -> bool:
        return self._lease is None

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_lease", None) is not None and os.getpid() == self._ring._pid:
            try:
                self.close()
            except ShmringError:
                pass


_NO_PIN = F.NO_PIN
_DTYPES: dict[bytes, np.dtype[Any]] = {}


def _dtype(typestr: bytes) -> np.dtype[Any]:
    """The dtype of a typestr, cached; BrokenError for a well-formed one numpy has no type for.

    The C side checks the form (order, kind, size up to 32), which lets
    through sizes no numpy kind has (``|c1``, ``<f3``): only a corrupt slot
    holds those.
    """
    text = typestr.decode("ascii", "replace")
    if not F.is_valid_typestr(text):
        raise BrokenError(f"a frame's slot holds dtype {text!r}, which is no numpy type: the ring is corrupt")
    dtype = _DTYPES[typestr] = np.dtype(text)
    return dtype
