"""``Frame``: one frame handed to a reader — a copy, or a zero-copy view of its slot."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol

import numpy as np

from ._errors import ClosedError


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
        meta: the metadata dict the writer attached.
        flags: the writer's 32-bit user flags.
        lost: frames this reader missed just before this one.
        is_view: True when ``data`` is a read-only view of the slot.
    """

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
        self.release()

    def __repr__(self) -> str:
        what = "released" if self._data is None else f"{self._data.shape} {self._data.dtype}"
        kind = "view" if self.is_view else "copy"
        return f"<Frame seq={self.seq} {what} {kind} lost={self.lost}>"
