"""How a batch read is cut into C calls of a part of the ring each (``Reader.get_many`` and kin).

Each C call releases what it read (read step 6, docs/format.md), so a writer
blocked on a full ring refills one part while the reader copies out the next,
instead of both taking turns over the whole ring. A quarter of the ring per
call measured best for 64 B messages in a 64-slot ring (docs/ring.md, "Batches").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
