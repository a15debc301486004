"""``Reservation``: a slot lent for in-place writing (``Writer.reserve``), docs/format.md write steps 2-7."""

from __future__ import annotations

import math
from types import TracebackType
from typing import Any, Protocol

import numpy as np

from ._attachment import Attachment, RingHandle
from ._errors import ClosedError, WouldBlock


class SlotLender(Protocol):
    """What a reservation needs of its writer."""

    _ring: RingHandle
    _sole: bool  # a sole writer under block or drop: room is asked of C (Core.open_slot_if_room) first

    def _claim(self, m: Attachment, timeout: float | None) -> int | None: ...
    def _unclaim(self) -> None: ...
    def _lend(self, seq: int) -> None: ...
    def _unlend(self) -> None: ...
    def _encode_meta(self, meta: object, flags: int) -> bytes | None: ...


class Reservation:
    """The context manager :meth:`Writer.reserve` returns: a slot lent for in-place writing."""

    __slots__ = ("_dims", "_dtype", "_flags", "_m", "_meta", "_nbytes", "_seq", "_timeout", "_typestr", "_writer")

    def __init__(self, writer: SlotLender, dims: tuple[int, ...], dtype: np.dtype[Any], typestr: bytes,
                 meta: bytes | None, flags: int, timeout: float | None) -> None:
        self._writer = writer
        self._dims, self._dtype, self._typestr = dims, dtype, typestr
        self._nbytes = dtype.itemsize * math.prod(dims)
        self._meta, self._flags, self._timeout = meta, flags, timeout
        self._seq: int | None = None  # the frame's seq while the with block runs

    def __enter__(self) -> np.ndarray[Any, Any]:
        w = self._writer
        m = self._m = w._ring._mapping()
        if w._sole:  # room now: one call, no lock to take
            opened = m.core.open_slot_if_room(self._nbytes, self._typestr, self._dims, self._flags, self._meta)
            if opened is not None:
                self._seq, start = opened
                w._lend(self._seq)
                return np.ndarray(self._dims, self._dtype, m.buf, start)
        seq = w._claim(m, self._timeout)  # refuses while another reservation of this writer is open
        if seq is None:
            raise WouldBlock(f"ring {w._ring.name!r} is full (drop policy)")
        try:
            self._seq, start = m.core.open_slot(seq, self._nbytes, self._typestr, self._dims, self._flags,
                                                self._meta)
        except BaseException:
            w._unclaim()
            raise
        w._lend(self._seq)
        return np.ndarray(self._dims, self._dtype, m.buf, start)

    def set_meta(self, meta: object) -> None:
        """Replace the frame's metadata before it is committed (e.g. a checksum of the pixels).

        Use the reservation object itself: ``res = w.reserve(...)``, ``with res as arr:``,
        then ``res.set_meta({...})`` inside the block.

        Raises:
            FrameError: the metadata does not fit ``meta_bytes``.
            ClosedError: outside the ``with`` block.
        """
        if self._seq is None:
            raise ClosedError("set_meta() works only inside the reservation's with block")
        self._m.core.set_meta(self._seq, self._writer._encode_meta(meta, self._flags))

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        seq, self._seq = self._seq, None
        try:
            if et is None:  # an exception abandons the frame: its slot stays odd, unpublished
                self._m.core.commit(seq)  # type: ignore[arg-type]
        finally:
            self._writer._unlend()
