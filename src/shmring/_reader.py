"""``Reader``: takes frames out of a ring — every frame (broadcast) or a share of them (queue).

Reading frame ``k`` is lock-free (docs/format.md, "Protocol"): load the slot's
seqlock; it must read ``2k+2``; copy (or view) header, metadata and payload;
fence; load the seqlock again. Any change means the writer overwrote the slot
meanwhile: the copy is discarded and the frame counted as lost. A torn frame
is never returned.

Waiting is a futex sleep on the ring's notify word, never a sleep loop; the
sleep is cut into slices of ``RECHECK_S`` only to notice what no futex
announces (the ring's name re-created by someone else).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _format as F
from . import _meta, _sync
from ._errors import BrokenError, ClosedError, ShmringError, WaitTimeout
from ._frame import Frame
from ._ring import RECHECK_S
from ._subscription import Subscription, aiterate

if TYPE_CHECKING:
    from ._locks import Lease
    from ._ring import Ring, _Mapping

STARTS = ("next", "oldest", "latest")


class _Interrupted(ClosedError):
    """A blocking get was cut short by close() or a subscription's stop()."""


class Reader:
    """Reads frames from a ring. Make one with ``Ring.reader()``.

    A reader holds a lease on its entry of the ring's reader table for as
    long as it lives; the kernel drops it if the process dies, and writers
    under ``block`` then stop waiting for it.

    Attributes:
        queue: True for a queue reader (frames shared among queue readers).
        lost: frames this reader missed in all (overwritten or skipped).
        received: frames this reader got.
    """

    def __init__(self, ring: Ring, *, start: str, queue: bool, name: str) -> None:
        if start not in STARTS:
            raise ValueError(f"start must be one of {', '.join(STARTS)}; got {start!r}")
        self._ring = ring
        self.queue = queue
        self.name = name
        self.lost = 0
        self.received = 0
        self._pending_lost = 0
        self._held: set[int] = set()
        self._interrupt = False
        self._lease: Lease | None = None
        self._attach(ring._mapping(), start)

    def _attach(self, m: _Mapping, start: str) -> None:
        claimed = m.table.claim(m.seg.fd)
        if claimed is None:
            raise ShmringError(f"ring {self._ring.name!r} has {F.READER_ENTRIES} live readers already; "
                               "close one first", name=self._ring.name)
        self._index, self._lease = claimed
        write_seq = m.write_seq()
        self._cursor = {"next": write_seq, "latest": max(0, write_seq - 1),
                        "oldest": max(0, write_seq - m.layout.slots)}[start]
        state = F.STATE_QUEUE if self.queue else F.STATE_BROADCAST
        release = F.NO_PIN if self.queue else self._cursor
        m.table.init_entry(self._index, state=state, cursor=self._cursor, release=release, name=self.name)

    # -- reading --------------------------------------------------------------

    def get(self, timeout: float | None = None, *, view: bool = False, spin: float = 0.0,
            out: np.ndarray[Any, Any] | None = None) -> Frame:
        """Wait for the next frame and return it.

        Args:
            timeout: seconds to wait (None: forever).
            view: return a zero-copy read-only view of the slot instead of a
                copy; release it (``with`` or ``frame.release()``) when done.
            spin: seconds to busy-poll before sleeping, for the lowest latency
                when both sides are busy (costs a core while spinning).
            out: an array to copy the frame into (same dtype and shape), to
                avoid an allocation per frame.

        Raises:
            WaitTimeout: nothing arrived within ``timeout`` (also a TimeoutError).
            BrokenError: the ring's name was removed or re-created (see ``reattach``).
            ClosedError: the reader was closed, also from another thread.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        m = self._ring._mapping()
        frame = self._take(m, view, out)
        if frame is None and spin > 0:
            frame = self._spin(m, spin, view, out)
        while frame is None:
            frame = self._sleep_once(m, deadline, timeout, view, out)
            m = self._ring._mapping()
        return frame

    def try_get(self, *, view: bool = False, out: np.ndarray[Any, Any] | None = None) -> Frame | None:
        """The next frame if one is there now, else None (never waits)."""
        return self._take(self._ring._mapping(), view, out)

    def latest(self, timeout: float | None = None, *, view: bool = False) -> Frame:
        """The newest frame, skipping any backlog (skipped frames count as lost).

        Waits like :meth:`get` when nothing newer than the last frame read exists.
        """
        m = self._ring._mapping()
        if not self.queue:
            newest = m.write_seq() - 1
            if newest > self._cursor:
                self._skip(m, newest - self._cursor)
        return self.get(timeout, view=view)

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

    def aiter(self, *, view: bool = False) -> AsyncIterator[Frame]:
        """``async for frame in reader.aiter():`` — waits in a worker thread, not on the event loop."""
        return aiterate(self, view=view)

    # -- one attempt ------------------------------------------------------------

    def _take(self, m: _Mapping, view: bool, out: np.ndarray[Any, Any] | None) -> Frame | None:
        return self._take_queued(m, view, out) if self.queue else self._take_next(m, view, out)

    def _take_next(self, m: _Mapping, view: bool, out: np.ndarray[Any, Any] | None) -> Frame | None:
        slots = m.layout.slots
        while True:
            k = self._cursor
            write_seq = m.write_seq()
            if k >= write_seq:
                return None
            if write_seq - k > slots:  # overwritten before we got to it
                self._skip(m, write_seq - slots - k)
                continue
            frame = self._read_slot(m, k, view, out)
            if frame is not None:
                self._advance(m, k, view)
                return frame
            # The writer lapped us while we read: resume at the oldest frame
            # it cannot be overwriting right now.
            self._skip(m, max(k + 1, m.write_seq() - slots + 1) - k)

    def _take_queued(self, m: _Mapping, view: bool, out: np.ndarray[Any, Any] | None) -> Frame | None:
        slots = m.layout.slots
        while True:
            q, write_seq = m.queue_seq(), m.write_seq()
            if q >= write_seq:
                self._publish_release(m)  # drop a pin left by a lost claim race
                return None
            if write_seq - q > slots:
                if _sync.cas64(m.buf, F.OFF_QUEUE_SEQ, q, write_seq - slots) == q:
                    self._pending_lost += write_seq - slots - q
                continue
            # Pin before claiming, so a blocked writer cannot reuse the slot in between.
            m.table.store(self._index, F.R_RELEASE, q)
            if _sync.cas64(m.buf, F.OFF_QUEUE_SEQ, q, q + 1) != q:
                continue
            frame = self._read_slot(m, q, view, out)
            if frame is None:
                self._pending_lost += 1
                m.table.store(self._index, F.R_RELEASE, F.NO_PIN)
                continue
            self._cursor = q
            self._advance(m, q, view)
            return frame

    def _read_slot(self, m: _Mapping, k: int, view: bool, out: np.ndarray[Any, Any] | None) -> Frame | None:
        """Frame ``k`` from its slot, or None if the writer overwrote it meanwhile."""
        off = m.layout.slot_offset(k)
        mark = _sync.load64(m.buf, off + F.S_SEQLOCK)
        if mark != F.committed(k):
            return None
        h = F.unpack_slot(m.buf, off)
        problem = _slot_problem(h, k, m.layout)
        meta_raw = b"" if problem or not h.meta_len else bytes(m.buf[off + F.S_META: off + F.S_META + h.meta_len])
        data = None if problem else self._payload(m, off, h, view, out)
        _sync.fence()  # every read above completes before the second look at the mark
        if _sync.load64(m.buf, off + F.S_SEQLOCK) != mark:
            return None
        if problem or data is None:
            raise BrokenError(f"ring {self._ring.name!r}: slot of frame {k} is corrupt ({problem})")
        lost, self._pending_lost = self._pending_lost, 0
        if not view:
            return Frame(data, k, h.timestamp_ns, h.monotonic_ns, _meta.decode(meta_raw), h.flags, lost)
        return Frame(data, k, h.timestamp_ns, h.monotonic_ns, _meta.decode(meta_raw), h.flags, lost,
                     release=lambda: self._unpin(k),
                     valid=lambda: _sync.load64(m.buf, off + F.S_SEQLOCK) == mark)

    @staticmethod
    def _payload(m: _Mapping, off: int, h: F.SlotHeader, view: bool,
                 out: np.ndarray[Any, Any] | None) -> np.ndarray[Any, Any]:
        start = off + m.layout.payload_offset
        src = m.u8[start:start + h.payload_bytes].view(np.dtype(h.typestr)).reshape(h.shape)
        if view:
            src.flags.writeable = False
            return src
        if out is None:
            return src.copy()
        if out.shape != src.shape or out.dtype != src.dtype:
            raise ValueError(f"out must be {src.shape} {src.dtype} for frame of that type, "
                             f"got {out.shape} {out.dtype}")
        np.copyto(out, src)
        return out

    # -- bookkeeping ---------------------------------------------------------------

    def _advance(self, m: _Mapping, k: int, view: bool) -> None:
        self.received += 1
        if view:
            self._held.add(k)
        if not self.queue:
            self._cursor = k + 1
            m.table.store(self._index, F.R_CURSOR, k + 1)
        else:
            m.table.store(self._index, F.R_CURSOR, k + 1)
        self._publish_release(m)
        m.table.store(self._index, F.R_RECEIVED, self.received)
        m.table.store(self._index, F.R_ACTIVE_NS, time.time_ns())

    def _publish_release(self, m: _Mapping) -> None:
        if self._held:
            floor = min(self._held)
        else:
            floor = F.NO_PIN if self.queue else self._cursor
        m.table.store(self._index, F.R_RELEASE, floor)
        m.space.wake()  # a writer blocked on a full ring may go on

    def _unpin(self, k: int) -> None:
        self._held.discard(k)
        if self._lease is not None and not self._ring.closed:
            self._publish_release(self._ring._mapping())

    def _skip(self, m: _Mapping, n: int) -> None:
        self._pending_lost += n
        self.lost += n
        self._cursor += n
        m.table.store(self._index, F.R_CURSOR, self._cursor)
        m.table.store(self._index, F.R_LOST, self.lost)
        if not self._held:
            m.table.store(self._index, F.R_RELEASE, self._cursor)

    # -- waiting -------------------------------------------------------------------

    def _spin(self, m: _Mapping, seconds: float, view: bool, out: np.ndarray[Any, Any] | None) -> Frame | None:
        until = time.perf_counter() + seconds
        position = self._cursor
        word = F.OFF_QUEUE_SEQ if self.queue else F.OFF_WRITE_SEQ
        while time.perf_counter() < until:
            if _sync.load64(m.buf, F.OFF_WRITE_SEQ) > (_sync.load64(m.buf, word) if self.queue else position):
                return self._take(m, view, out)
        return None

    def _sleep_once(self, m: _Mapping, deadline: float | None, timeout: float | None, view: bool,
                    out: np.ndarray[Any, Any] | None) -> Frame | None:
        seen = m.notify.value()
        m.notify.register()
        try:
            frame = self._take(m, view, out)  # re-check after registering: no lost wake-up
            if frame is not None:
                return frame
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise WaitTimeout(self._timeout_message(m, timeout), timeout=timeout, name=self._ring.name)
            m.notify.sleep(seen, RECHECK_S if remaining is None else min(remaining, RECHECK_S))
        finally:
            m.notify.unregister()
        if self._interrupt:
            self._interrupt = False
            raise _Interrupted(f"reader of ring {self._ring.name!r} was closed or stopped while waiting")
        frame = self._take(m, view, out)
        if frame is None and self._ring._check_replaced():
            self._attach(self._ring._mapping(), "oldest")
        return frame

    def _timeout_message(self, m: _Mapping, timeout: float | None) -> str:
        alive = "alive" if m.writer_alive() else "not attached"
        return (f"no frame on ring {self._ring.name!r} within {timeout} s "
                f"(last frame {m.write_seq() - 1}, writer {alive})")

    def interrupt(self) -> None:
        """Make a ``get`` blocked in another thread return with ClosedError."""
        self._interrupt = True
        if not self._ring.closed:
            self._ring._mapping().notify.wake_all()

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Leave the reader table (views already taken stay readable until released). Idempotent."""
        if self._lease is None:
            return
        if not self._ring.closed:
            m = self._ring._mapping()
            m.table.free(self._index)
            m.space.wake()
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


def _slot_problem(h: F.SlotHeader, k: int, layout: F.Layout) -> str:
    """Why a committed slot header cannot be frame ``k`` of this ring ('' if it can)."""
    if h.seq != k:
        return f"sequence {h.seq}, expected {k}"
    if h.payload_bytes > layout.slot_bytes or h.meta_len > layout.meta_bytes:
        return f"{h.payload_bytes} payload / {h.meta_len} metadata bytes exceed the ring's sizes"
    if not F.is_valid_typestr(h.typestr):
        return f"dtype {h.typestr!r}"
    if np.dtype(h.typestr).itemsize * int(np.prod(h.shape, dtype=np.int64)) != h.payload_bytes:
        return f"shape {h.shape} of {h.typestr} does not make {h.payload_bytes} bytes"
    return ""
