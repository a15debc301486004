"""``Room``: whether a writer may write frame ``seq`` now — docs/format.md, write step 1.

Under ``overwrite`` there always is room. Under ``block`` and ``drop`` the
oldest frame a live reader still needs (its ``release``, or the unclaimed
queue frames) bounds how far the writer may go: ``seq < floor + slots``.
``block`` spins for room a learned while (``_spin``), then sleeps on the
ring's space word until readers make room; ``drop`` gives up. The answer is
cached as ``until``: frames below it are known to have room without looking again.

The check itself (the readers' floor, reaping dead readers' entries) is the C
protocol's, the same code libshmring runs (``c/src/protocol_room.c``, through
``Core.room_until``, ``Core.pin_floor`` and ``Core.spin_room``); waiting,
dropping and timeouts are policy and stay here.
"""

from __future__ import annotations

import time

from ._attachment import RECHECK_S, Attachment
from ._errors import WaitTimeout
from ._spin import SPIN_SHARED, AdaptiveSpin


class Room:
    """The room check of one writer of ring ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.until = 0  # frames below this seq are known to have room
        self.spinning = AdaptiveSpin()

    def forget(self) -> None:
        """Drop what is known (the write sequence jumped): look again for the next frame."""
        self.until = 0

    def wait(self, m: Attachment, seq: int, timeout: float | None) -> bool:
        """Whether frame ``seq`` may be written now, waiting under ``block``; False: dropped."""
        if m.layout.policy == "overwrite" or seq < self.until:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        reap = spun = False
        while True:
            seen = m.space.snapshot()
            if self._has_room(m, seq, reap):
                return True
            if m.layout.policy == "drop":
                if not reap:  # a dead reader may be what fills the ring: look once more
                    reap = True
                    continue
                return False
            if not spun:
                spun = True
                if self._spin(m, seq, timeout):
                    continue
            self._sleep(m, seen, seq, deadline, timeout)
            reap = True

    def await_readers(self, m: Attachment, target: int, timeout: float | None) -> None:
        """Wait until every live reader has released every frame below ``target``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        reap = False
        while True:
            seen = m.space.snapshot()
            if _pin_floor(m, reap) >= target:
                return
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise WaitTimeout(f"ring {self.name!r}: readers did not read up to frame {target} "
                                  f"within {timeout} s, so the writer cannot skip past it", timeout=timeout)
            m.space.register()
            try:
                if _pin_floor(m, reap=False) < target:
                    m.space.wait(seen, RECHECK_S if remaining is None else min(remaining, RECHECK_S))
            finally:
                m.space.unregister()
            reap = True

    def _spin(self, m: Attachment, seq: int, timeout: float | None) -> bool:
        """Busy-wait (in C, GIL released) a learned while for room for frame ``seq``; True if it came."""
        seconds = self.spinning.seconds(None)
        if timeout is not None:
            seconds = min(seconds, timeout)
        if seconds <= 0:
            return False
        spun = m.core.spin_room(seq, seconds)
        room = bool(spun & 1)
        self.spinning.learn(seconds, room, bool(spun & SPIN_SHARED))
        return room

    def _has_room(self, m: Attachment, seq: int, reap: bool) -> bool:
        # Reaping asks the kernel about every entry (a syscall each): only when stuck.
        self.until = m.core.room_until(seq, m.table.probe_fd, reap)
        return seq < self.until

    def _sleep(self, m: Attachment, seen: int, seq: int, deadline: float | None, timeout: float | None) -> None:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise WaitTimeout(
                f"ring {self.name!r} stayed full for {timeout} s: frame {seq} waits for "
                f"readers to release frame {seq - m.layout.slots}", timeout=timeout)
        m.space.register()
        try:
            if not self._has_room(m, seq, reap=False):
                # Readers that die release nothing and wake nobody: re-check (and
                # reap them) at least every RECHECK_S seconds.
                m.space.wait(seen, RECHECK_S if remaining is None else min(remaining, RECHECK_S))
        finally:
            m.space.unregister()


def _pin_floor(m: Attachment, reap: bool) -> int:
    # Reaping asks the kernel about every entry (a syscall each): only when stuck.
    return m.core.pin_floor(m.table.probe_fd, reap)
