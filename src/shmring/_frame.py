"""``Frame``: one frame handed to a reader — a copy, or a zero-copy view of its slot."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any, Protocol

import numpy as np

from . import _meta
from ._errors import ClosedError
from ._fits import FRAME_KEYWORDS, frame_cards


class ViewOwner(Protocol):
    """What a view frame reports back to: the reader that pinned its slot."""

    def _unpin(self, seq: int) -> None: ...

    def _still_committed(self, seq: int) -> bool: ...


class Frame:
    """A frame read from a ring.

    Attributes:
        seq: the frame's sequence number (0, 1, 2, ... per ring).
        timestamp_ns: when the writer published it (CLOCK_REALTIME, ns).
        monotonic_ns: the same moment on the writer's CLOCK_MONOTONIC (ns).
        meta: the metadata the writer attached: a dict of keyword to value (a
            :class:`Meta`, whose ``cards`` keep comments, COMMENT and HISTORY).
        flags: the writer's 32-bit user flags.
        lost: frames this reader missed just before this one.
        is_view: True when ``data`` is a read-only view of the slot.
    """

    #: The keywords :meth:`fits_header` adds for the frame itself.
    FITS_KEYWORDS = FRAME_KEYWORDS

    __slots__ = ("_data", "_owner", "flags", "is_view", "lost", "meta", "monotonic_ns", "seq", "timestamp_ns")

    def __init__(self, data: np.ndarray[Any, Any], seq: int, timestamp_ns: int, monotonic_ns: int,
                 meta: dict[str, Any], flags: int, lost: int, owner: ViewOwner | None = None) -> None:
        self._data: np.ndarray[Any, Any] | None = data
        self.seq = seq
        self.timestamp_ns = timestamp_ns
        self.monotonic_ns = monotonic_ns
        self.meta = meta
        self.flags = flags
        self.lost = lost
        self.is_view = owner is not None
        self._owner = owner

    @property
    def data(self) -> np.ndarray[Any, Any]:
        """The frame as a numpy array of the dtype and shape written (read-only for a view)."""
        if self._data is None:
            raise ClosedError(f"frame {self.seq} was released; its view is no longer valid")
        return self._data

    @property
    def width(self) -> int:
        """Last dimension (image columns); 1 for a 0-d frame."""
        shape = self.data.shape
        return int(shape[-1]) if shape else 1

    @property
    def height(self) -> int:
        """Second-to-last dimension (image rows); 1 for a 1-d frame."""
        shape = self.data.shape
        return int(shape[-2]) if len(shape) >= 2 else 1

    @property
    def cards(self) -> tuple[_meta.Card, ...]:
        """Every metadata card in stored order (keyword, value, comment), commentary included."""
        return _meta.cards_of(self.meta)

    def fits_header(self, keywords: Iterable[_meta.Card] = ()) -> Any:
        """An ``astropy.io.fits.Header`` for this frame (needs the ``[fits]`` extra).

        Holds ``keywords`` first (pass ``ring.keywords``, the stream's), then the
        frame's metadata cards, then shmring's own: ``SHMSEQ`` (seq), ``SHMTIME``
        (timestamp, ns since the epoch, UTC), ``SHMDATE`` (the same as ISO 8601),
        ``SHMMONO`` (the writer's monotonic ns), ``SHMFLAGS`` and ``SHMLOST``.

        Raises:
            ImportError: astropy is not installed.
        """
        cards = _meta.to_cards(list(keywords)) + (_meta.to_cards(self.meta) if self.meta else [])
        own = frame_cards(self.seq, self.timestamp_ns, self.monotonic_ns, self.flags, self.lost)
        return _meta.Meta(cards).to_fits_header_with(own)

    def valid(self) -> bool:
        """Whether the data still is frame ``seq`` (a view under ``overwrite`` can be overwritten)."""
        if self._data is None:
            return False
        return self._owner._still_committed(self.seq) if self._owner is not None else True

    def release(self) -> None:
        """End a view: unpins its slot (``block`` policy). A no-op for copies; idempotent."""
        owner, self._owner = self._owner, None
        if owner is not None:
            self._data = None
            owner._unpin(self.seq)

    def __enter__(self) -> Frame:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        owner, self._owner = self._owner, None  # release(), inline: once a frame
        if owner is not None:
            self._data = None
            owner._unpin(self.seq)

    def __repr__(self) -> str:
        what = "released" if self._data is None else f"{self._data.shape} {self._data.dtype}"
        kind = "view" if self.is_view else "copy"
        return f"<Frame seq={self.seq} {what} {kind} lost={self.lost}>"
