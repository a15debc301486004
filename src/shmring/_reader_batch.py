"""Batch reads of a reader (``Reader.get_many``, ``get_bytes_many``), cut into C calls of a part of the ring each.

Each C call releases what it read (read step 6, docs/format.md), so a writer
blocked on a full ring refills one part while the reader copies out the next,
instead of both taking turns over the whole ring. A quarter of the ring per
call measured best for 64 B messages in a 64-slot ring (docs/ring.md, "Batches").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from . import _format as F

if TYPE_CHECKING:
    from ._attachment import Attachment
    from ._core import FrameRead
    from ._frame import Frame

_T = TypeVar("_T")

#: A batch read takes at most this part of the ring per C call.
RING_PART = 4


def take_in_chunks(take: Callable[[int], list[Any] | None], slots: int,
                   max_n: int) -> tuple[list[Any] | None, Exception | None]:
    """Up to ``max_n`` frames from ``take(n)`` calls of at most ``slots // RING_PART``.

    Returns the frames (None if none) and the error that ended the batch after
    some frames were taken (None if none), for the caller's next read to raise.
    An error before any frame is raised at once.
    """
    chunk = max(1, slots // RING_PART)
    if max_n <= chunk:
        return take(max_n), None
    taken: list[Any] = []
    while len(taken) < max_n:
        want = min(chunk, max_n - len(taken))
        try:
            got = take(want)
        except Exception as err:  # not swallowed: the caller's next read raises it
            if not taken:
                raise
            return taken, err
        if got is None:
            break
        taken += got
        if len(got) < want:
            break
    return taken or None, None


class Batches:
    """The batch reads of :class:`shmring.Reader` (one of its bases); the reader sets these."""

    queue: bool
    received: int
    _index: int
    _cursor: int
    _held: set[int]
    _pending_error: Exception | None  # a batch's problem, raised by the next batch read

    if TYPE_CHECKING:  # the Reader's own, and its Waiting base's: declared only, never shadowed
        def _open_mapping(self) -> Attachment: ...
        def _copied(self, got: FrameRead) -> Frame: ...
        def _skipped(self, n: int) -> None: ...
        def _wait(self, m: Attachment, timeout: float | None, spin: float | None,
                  take: Callable[[Attachment], _T | None], raise_gone: bool = False) -> _T: ...

    def get_many(self, max_n: int, timeout: float | None = None, *, spin: float | None = None) -> list[Frame]:
        """Wait for the next frame, then return it with up to ``max_n - 1`` more that are there.

        One call into C for the whole batch: the frames are copies, the same
        as ``get()`` called once per frame returns (``lost`` of each, and
        ``reader.lost``, exact). It waits only for the first.

        Args:
            max_n: the most frames to return (>= 1).
            timeout, spin: as :meth:`get`, for the first frame.

        Raises:
            As :meth:`get`.
        """
        if max_n.__class__ is not int or max_n < 1:
            raise ValueError(f"max_n must be an int >= 1, got {max_n!r}")
        m = self._open_mapping()
        frames = self._take_many(m, max_n)
        if frames is None:
            frames = self._wait(m, timeout, spin, lambda a: self._take_many(a, max_n))
        return cast("list[Frame]", frames)

    def get_bytes_many(self, max_n: int, timeout: float | None = None, *, spin: float | None = None) -> list[bytes]:
        """:meth:`get_many` for small messages: the payloads as bytes, as :meth:`get_bytes` returns them."""
        if max_n.__class__ is not int or max_n < 1:
            raise ValueError(f"max_n must be an int >= 1, got {max_n!r}")
        m = self._open_mapping()
        payloads = self._take_many(m, max_n, True)
        if payloads is None:
            payloads = self._wait(m, timeout, spin, lambda a: self._take_many(a, max_n, True))
        return cast("list[bytes]", payloads)

    def _take_many(self, m: Attachment, max_n: int, payloads_only: bool = False) -> Any:
        """Up to ``max_n`` frames (or payloads) there now, a part of the ring per C call; None if none."""
        frames, error = take_in_chunks(lambda n: self._take_chunk(m, n, payloads_only), m.layout.slots, max_n)
        if error is not None:
            self._pending_error = error
        return frames

    def _take_chunk(self, m: Attachment, max_n: int, payloads_only: bool) -> Any:
        """Up to ``max_n`` frames (or payloads) there now, copies made in one C call; None if none."""
        pending = self._pending_error
        if pending is not None:  # met after the frames a batch returned: its turn now
            self._pending_error = None
            raise pending
        pin = min(self._held) if self._held else F.NO_PIN
        got, lost_after, error = m.core.read_many(self._index, None if self.queue else self._cursor, max_n, pin,
                                                  payloads_only)
        if payloads_only:  # no seqs: lost_after counts every frame lost, and the cursor moves past both
            frames: list[Any] = got
            self.received += len(got)
            if not self.queue:
                self._cursor += len(got)
        else:
            frames = [self._copied(r) for r in got]
            if frames:
                self._cursor = got[-1].seq + 1
        if lost_after:
            self._skipped(lost_after)
        if error is not None:
            if not frames:
                raise error
            self._pending_error = error
        return frames or None
