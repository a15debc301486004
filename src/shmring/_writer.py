"""``Writer``: publishes frames into a ring, by copy (:meth:`put`) or in place (:meth:`reserve`).

A frame is written by the steps of docs/format.md, "Write frame": write
step 1 (room: ``block`` waits, ``drop`` gives up, ``overwrite`` goes on) is
policy and lives here; steps 2-7 are one call into the C fast path
(``Core.put``, or ``Core.open_slot`` then ``Core.commit`` for :meth:`reserve`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _format as F
from . import _meta, _sync
from ._attachment import Attachment, RingHandle
from ._errors import ClosedError, FrameError, ShmringError, WaitTimeout, WouldBlock
from ._locks import Lease, RangeLock, WakeWord
from ._reservation import Reservation
from ._room import Room

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

_MAX_FLAGS = (1 << 32) - 1
_U1_DTYPE = np.dtype(np.uint8)
_U1 = _U1_DTYPE.str.encode("ascii")


def _as_array(data: Any) -> np.ndarray[Any, Any]:
    """The frame as a C-contiguous array: arrays as they are, bytes-like as uint8."""
    if isinstance(data, np.ndarray):
        # (np.ascontiguousarray would turn a 0-d array into 1-d)
        return data if data.flags.c_contiguous else data.copy(order="C")
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"put() data must be a numpy array or a bytes-like object, got {type(data).__name__}") from None
    return np.frombuffer(view.cast("B") if view.ndim != 1 or view.format != "B" else view, dtype=np.uint8)


class Writer:
    """Writes frames into a ring. Make one with ``Ring.writer()``.

    Exclusive by default: the writer holds an exclusive lock on the ring's
    writer byte for its lifetime (the kernel drops it if the process dies).
    Writers made with ``shared=True`` hold it shared, coexist, and serialise
    each put on the ring's writer lock.
    """

    def __init__(self, ring: RingHandle, *, shared: bool) -> None:
        self._ring = ring
        m = ring._mapping()
        self._presence: Lease | None = Lease.try_take(m.seg.fd, F.LOCK_WRITER_PRESENCE, shared=shared)
        if self._presence is None:
            raise WouldBlock(
                f"ring {ring.name!r} already has a live writer; one writer at a time, or pass "
                "shared=True to every writer", name=ring.name)
        self.shared = shared
        self._put_lock = (RangeLock(m.seg.fd, F.LOCK_WRITER_PUT, wake=WakeWord(m.buf, F.OFF_WRITER_WAKE))
                          if shared else None)
        self._room = Room(ring.name)  # frames below room.until are known to have room
        # A sole writer under overwrite neither locks nor waits: put() is one C call.
        self._unguarded = not shared and m.layout.policy == "overwrite"
        # A sole writer under block or drop: one C call too while the ring has room
        # (Core.put_if_room knows how far that goes); it waits, or drops, only when not.
        self._sole = not shared and not self._unguarded
        m.core.forget_room()  # what an earlier writer of this mapping knew
        self._checked_dtype: np.dtype[Any] | None = None
        self._checked_shape: tuple[int, ...] | None = None
        self._checked_typestr = b""
        self._checked_len = -1  # the length of bytes messages known to fit
        self._fast_paths = (self._unguarded, self._sole)
        self._lent: int | None = None  # the seq of the frame a reservation holds open
        # The last reservation made without metadata, and the shape and dtype arguments it was
        # made from: a camera reserves the same frame type every time, and reuses it once idle.
        self._last_reservation: Reservation | None = None
        self._last_reserved: tuple[object, object] = (None, None)

    # -- publishing ------------------------------------------------------------

    def put(
        self,
        data: Any,
        meta: object = None,
        flags: int = 0,
        timeout: float | None = None,
    ) -> int | None:
        """Copy one frame into the ring and publish it.

        Args:
            data: a numpy array (any bool/int/float/complex dtype, up to 4 dims;
                copied to C order if needed) or a bytes-like object (sent as uint8).
            meta: the frame's metadata, read back as a :class:`Meta`: a dict of
                str to int/float/str/bool/None (numpy scalars accepted; a value may
                be a ``(value, comment)`` pair), an ``astropy.io.fits.Header``
                (every card kept: comments, COMMENT, HISTORY, HIERARCH keys), or a
                list of ``(keyword, value[, comment])`` cards.
            flags: 32-bit user flags (``BUFH_UYVY``, ``BUFH_MAT_RGB``, or your own).
            timeout: ``block`` policy: seconds to wait for room (None: forever).

        Returns:
            The frame's sequence number; None under the ``drop`` policy when full.

        Raises:
            FrameError: frame, metadata or schema do not fit the ring (nothing written).
            WaitTimeout: ``block`` policy and no room within ``timeout``.
        """
        # The per-frame path: checks are cached per frame type, metadata encoded only if given.
        if data.__class__ is bytes:  # a message: straight to C as uint8, no numpy array made
            arr: Any = data
            if len(data) != self._checked_len:
                self._check_message(len(data))
            typestr, shape = _U1, None
        else:
            arr = data if data.__class__ is np.ndarray and data.flags.c_contiguous else _as_array(data)
            shape, dtype = arr.shape, arr.dtype
            # identity: no dtype compare per frame, and no call when the frame type is the last one
            if dtype is self._checked_dtype and shape == self._checked_shape:
                typestr = self._checked_typestr
            else:
                typestr = self._typestr(shape, dtype)
        meta_raw = None if meta is None and flags == 0 else self._encode_meta(meta, flags)
        m = self._ring._mapping()
        if self._unguarded:  # a sole writer that never waits: straight to the fast path
            return m.core.put(None, arr, typestr, shape, flags, meta_raw)
        if self._sole:  # a sole writer with room now: the same single call
            seq = m.core.put_if_room(arr, typestr, shape, flags, meta_raw)
            if seq is not None:
                return seq
        seq = self._claim(m, timeout)
        if seq is None:
            return None
        try:
            return m.core.put(seq, arr, typestr, shape, flags, meta_raw)
        finally:
            self._unclaim()

    def put_many(
        self,
        items: Any,
        metas: Sequence[Mapping[str, Any] | None] | None = None,
        flags: int = 0,
        timeout: float | None = None,
    ) -> int:
        """Copy a batch of frames into the ring in one call, waking readers once.

        The same as ``put`` of each item in turn, at a fraction of the cost
        per frame: under ``block`` the batch waits for room slot by slot
        (``timeout`` is for the whole call); under ``drop`` it publishes the
        items that have room, in order, and stops at the first that has not.

        Args:
            items: a sequence of numpy arrays or bytes-like objects, each a
                frame as :meth:`put` takes it, or one array of at least 1 dim
                whose rows (``items[i]``) are the frames.
            metas: None, or one metadata dict (or None) per item.
            flags: 32-bit user flags of every frame.
            timeout: ``block`` policy: seconds to wait for room, for the whole batch.

        Returns:
            How many frames were published: ``len(items)``, or fewer under
            ``drop`` (the first ones; the rest were not written).

        Raises:
            FrameError: an item or its metadata does not fit the ring (nothing written).
            WaitTimeout: ``block`` policy and no room within ``timeout``;
                its ``published`` says how many of the batch went out first.
        """
        batch, count, typestr, shape = self._batch(items)
        metas_raw = self._encode_metas(metas, count, flags)
        m = self._ring._mapping()
        if count == 0:
            return 0
        if self._unguarded:  # a sole writer that never waits: the whole batch in one call
            m.core.put_many(None, batch, 0, count, typestr, shape, flags, metas_raw)
            return count
        return self._put_batch(m, (batch, typestr, shape, flags, metas_raw), count, timeout)

    def _put_batch(self, m: Attachment, args: tuple[Any, ...], count: int, timeout: float | None) -> int:
        """Write step 1 for a batch: publish runs of frames that have room, waiting between them."""
        batch, typestr, shape, flags, metas_raw = args
        deadline = None if timeout is None else time.monotonic() + timeout
        seq = self._claim(m, timeout)  # lets go of the put lock itself when it fails
        if seq is None:
            return 0
        published = 0
        try:
            while True:
                room = count - published if m.layout.policy == "overwrite" else self._room.until - seq
                n = min(count - published, room)
                m.core.put_many(seq, batch, published, n, typestr, shape, flags, metas_raw)
                published += n
                seq += n
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if published == count or not self._room.wait(m, seq, left):
                    break
        except WaitTimeout as e:
            e.published = published
            raise
        finally:
            self._unclaim()
        return published

    def _batch(self, items: Any) -> tuple[Any, int, Any, Any]:
        """(what C reads, count, typestr or one per item, shape or one per item or None), all checked."""
        if isinstance(items, np.ndarray):
            if items.ndim < 1:
                raise ValueError(f"put_many() takes an array of at least 1 dim (its rows are the frames), "
                                 f"got a {items.ndim}-d array")
            rows = items if items.flags.c_contiguous else np.ascontiguousarray(items)
            return rows, len(rows), self._typestr(rows.shape[1:], rows.dtype), rows.shape[1:]
        if not isinstance(items, (list, tuple)):
            items = list(items)
        if all(item.__class__ is bytes for item in items):  # messages: one shape rule, sizes checked at once
            self._check_messages(items)
            return items, len(items), _U1, None
        arrays = [_as_array(item) for item in items]
        typestrs = [self._typestr(a.shape, a.dtype) for a in arrays]
        return arrays, len(arrays), typestrs, [a.shape for a in arrays]

    def _check_messages(self, items: Sequence[bytes]) -> None:
        layout = self._ring._mapping().layout
        if layout.schema is not None:
            for n in set(map(len, items)):
                self._typestr((n,), _U1_DTYPE)
        elif items:
            self._typestr((max(map(len, items)),), _U1_DTYPE)

    def _encode_metas(self, metas: Sequence[Mapping[str, Any] | None] | None, count: int,
                      flags: int) -> list[bytes | None] | None:
        if metas is None:
            self._encode_meta(None, flags)  # checks flags
            return None
        if len(metas) != count:
            raise ValueError(f"put_many() got {len(metas)} metas for {count} items; give one per item or None")
        return [self._encode_meta(meta, flags) for meta in metas]

    def reserve(
        self,
        shape: tuple[int, ...] | int,
        dtype: DTypeLike = np.uint8,
        meta: object = None,
        flags: int = 0,
        timeout: float | None = None,
    ) -> Reservation:
        """Zero-copy put: ``with writer.reserve(shape, dtype) as arr:`` fills the slot in place.

        ``arr`` is a writable numpy view of the next slot. The frame is
        published when the ``with`` block ends normally and abandoned (never
        seen by readers; the slot is reused) when it raises. Under ``drop``
        with the ring full, entering raises :class:`WouldBlock`.

        Args and Raises: as :meth:`put`, with ``shape`` and ``dtype`` of the frame; and
        RuntimeError on entering while another reservation of this writer is open
        (``put``, ``put_many`` and ``skip`` refuse then too: they would write its slot).
        """
        last = self._last_reservation
        if (last is not None and meta is None and dtype is self._last_reserved[1] and last._seq is None
                and (shape is self._last_reserved[0] or (shape.__class__ is tuple and shape == last._dims))
                and flags == last._flags and timeout is last._timeout):
            return last  # the same frame type as the last time: checked then, nothing to redo
        dims = (shape,) if isinstance(shape, int) else tuple(shape)
        dt = np.dtype(dtype)
        res = Reservation(self, dims, dt, self._typestr(dims, dt), self._encode_meta(meta, flags), flags, timeout)
        # Kept only for arguments that cannot change under the same identity (not a list, say).
        if meta is None and isinstance(shape, (int, tuple)) and isinstance(dtype, (type, np.dtype, str)):
            self._last_reservation, self._last_reserved = res, (shape, dtype)
        return res

    def skip(self, frames: int, timeout: float | None = None) -> int:
        """Advance the ring's sequence by ``frames`` numbers that are never written.

        Readers count the skipped numbers as lost (``Frame.lost``), exactly as
        frames overwritten before they read them. A relay that mirrors another
        ring's sequence numbers (``shmring.bridge``) uses it to pass on the
        frames lost upstream. Nothing is written. Under ``block`` and ``drop``
        it first waits until no live reader would have a frame it has not read
        fall out of the ring's window (readers treat anything older than
        ``slots`` frames as overwritten); under ``overwrite`` it never waits, and
        a skip of more than ``slots`` numbers moves every reader's window past
        the frames still in the ring: they count as lost, exactly as if that many
        frames had been written over them.

        Args:
            frames: how many sequence numbers to skip (>= 0).
            timeout: ``block``/``drop``: seconds to wait for readers (None: forever).

        Returns:
            The sequence number the next frame will have.

        Raises:
            ValueError: ``frames`` is negative or not an int.
            ClosedError: the writer was closed.
            WaitTimeout: readers did not catch up within ``timeout``.
        """
        if not isinstance(frames, int) or isinstance(frames, bool) or frames < 0:
            raise ValueError(f"frames must be an int >= 0, got {frames!r}")
        if self._presence is None:
            raise ClosedError(f"writer of ring {self._ring.name!r} was closed")
        self._refuse_while_lent("skip frames")
        m = self._ring._mapping()
        if self._put_lock is not None:
            self._put_lock.acquire(timeout)
        try:
            seq = _sync.load64(m.buf, F.OFF_WRITE_SEQ)
            if m.layout.policy != "overwrite" and frames:
                self._room.await_readers(m, min(seq, seq + frames - m.layout.slots), timeout)
            # A seq whose slot never gets its 2*seq+2 mark reads as lost (docs/format.md, "Skip").
            self._room.forget()  # room is known per seq; re-check it for the jumped-to one
            m.core.forget_room()
            after = _sync.fetch_add64(m.buf, F.OFF_WRITE_SEQ, frames) + frames
            # Sleeping readers move their release past the skipped numbers only when they look:
            # wake them, so a writer under block waiting for that room is not held up.
            m.notify.wake_sleepers()
            return after
        finally:
            self._unclaim()

    # -- checks, cached per frame type -------------------------------------------------

    def _typestr(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> bytes:
        """The dtype's typestr once (shape, dtype) is known to fit; checked once per type."""
        if dtype is not self._checked_dtype or shape != self._checked_shape:  # identity: no dtype compare per frame
            self._check_frame(shape, dtype)
            self._checked_dtype, self._checked_shape = dtype, shape
            self._checked_typestr = dtype.str.encode("ascii")
        return self._checked_typestr

    def _check_message(self, n: int) -> None:
        """Check a bytes message of ``n`` bytes (a 1-D uint8 frame) once per length."""
        self._check_frame((n,), _U1_DTYPE)
        self._checked_len = n

    def _check_frame(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        ring = self._ring
        layout = ring._mapping().layout
        if dtype.kind not in F.ALLOWED_KINDS or dtype.fields is not None:
            raise FrameError(f"dtype {dtype} is not supported: use a bool, integer, float or complex type")
        if len(shape) > F.MAX_DIMS:
            raise FrameError(f"frames have at most {F.MAX_DIMS} dims, got shape {shape}")
        schema = layout.schema
        if schema is not None and (dtype.str, tuple(shape)) != (schema.typestr, schema.shape):
            raise FrameError(f"ring {ring.name!r} takes {schema.shape} {np.dtype(schema.typestr)} frames, "
                             f"got {tuple(shape)} {dtype}", expected=(schema.shape, schema.typestr),
                             found=(tuple(shape), dtype.str))
        nbytes = dtype.itemsize * math.prod(shape)
        if nbytes > layout.slot_bytes:
            raise FrameError(f"frame of {nbytes:,} bytes ({shape} {dtype}) does not fit ring {ring.name!r}: "
                             f"slot_bytes is {layout.slot_bytes:,}", size=nbytes, limit=layout.slot_bytes)

    def _encode_meta(self, meta: object, flags: int) -> bytes | None:
        if not 0 <= flags <= _MAX_FLAGS:
            raise ValueError(f"flags must fit in 32 bits (0..{_MAX_FLAGS}), got {flags}")
        if meta is None:
            return None
        return _meta.encode(meta, self._ring._mapping().layout.meta_bytes) or None

    def _claim(self, m: Attachment, timeout: float | None) -> int | None:
        """The seq to write next, holding the put lock if shared; None if dropped."""
        if self._presence is None:
            raise ClosedError(f"writer of ring {self._ring.name!r} was closed")
        self._refuse_while_lent("write another frame")
        if self._unguarded:
            return _sync.load64(m.buf, F.OFF_WRITE_SEQ)
        lock = self._put_lock
        if lock is not None:
            lock.acquire(timeout)
        try:
            seq = _sync.load64(m.buf, F.OFF_WRITE_SEQ)
            if self._room.wait(m, seq, timeout):
                return seq
        except BaseException:
            self._unclaim()
            raise
        self._unclaim()
        return None

    def _unclaim(self) -> None:
        if self._put_lock is not None:
            self._put_lock.release()

    def _lend(self, seq: int) -> None:
        """A reservation holds frame ``seq`` open: until it ends, writing any other frame would
        write that same slot. Turning off the fast paths sends put(), put_many() and reserve()
        through _claim(), which refuses; they cost nothing more on the common path."""
        self._lent = seq
        self._unguarded = self._sole = False

    def _unlend(self) -> None:
        """The reservation ended (committed or abandoned): the writer writes again."""
        self._lent = None
        if self._presence is not None:  # closed inside the with block: the fast paths stay off
            self._unguarded, self._sole = self._fast_paths
        if self._put_lock is not None:  # _unclaim(), inline: this runs once a frame
            self._put_lock.release()

    def _refuse_while_lent(self, what: str) -> None:
        if self._lent is not None:
            raise RuntimeError(
                f"writer of ring {self._ring.name!r} cannot {what} while frame {self._lent} is reserved: "
                "end that reserve() with block first (it commits the frame)")

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Detach this writer (the ring and its frames stay). Idempotent."""
        if self._put_lock is not None:
            self._put_lock.close()
            self._put_lock = None
        if self._presence is not None:
            self._presence.release()
            self._presence = None
            self._wake_readers()
        self._unguarded = self._sole = False

    def _wake_readers(self) -> None:
        # Readers waiting with writer_gone="raise" re-check the writer lease when
        # woken: tell them now rather than at the end of their re-check slice.
        if self._ring.closed or os.getpid() != self._ring._pid:
            return
        try:
            self._ring._mapping().notify.wake_all()
        except ShmringError:
            pass  # used after fork(): that handle is not ours to touch

    @property
    def closed(self) -> bool:
        return self._presence is None

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_presence", None) is not None:
            self.close()
