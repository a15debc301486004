"""How a reader waits for a frame: spin (learned by default, ``_spin``), then sleep on the ring's notify word.

Waiting is a futex sleep on the ring's notify word, never a sleep loop; the
sleep is cut into slices of ``RECHECK_S`` only to notice what no futex
announces: a peer that died, the writer gone (``writer_gone="raise"``), or
the ring's name re-created by someone else. A sleeper registers on the word
before its last look, so no wake-up is lost (docs/format.md, "Waiting for a
frame").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from . import _format as F
from ._attachment import RECHECK_S, Attachment, RingHandle
from ._errors import BrokenError, ClosedError, WaitTimeout
from ._spin import SPIN_SHARED, AdaptiveSpin, check_spin

_T = TypeVar("_T")


class _Interrupted(ClosedError):
    """A blocking get was cut short by close() or a subscription's stop()."""


class Waiting:
    """The waiting half of :class:`shmring.Reader` (its base class); the reader sets these."""

    _ring: RingHandle
    queue: bool
    _cursor: int
    _interrupt: bool  # set by interrupt(): the next wake-up raises ClosedError
    _writer_seen: bool  # writer_gone="raise": a writer was attached while we waited
    _sleeping: int  # threads inside _sleep_once; close() waits for them to leave
    _sleep_cv: threading.Condition
    _spinning: AdaptiveSpin  # the learned spin of waits with spin=None

    def _attach(self, m: Attachment, start: str) -> None:
        raise NotImplementedError

    def _wait(self, m: Attachment, timeout: float | None, spin: float | None,
              take: Callable[[Attachment], _T | None], raise_gone: bool = False) -> _T:
        """Spin, then sleep, until ``take`` returns something (or the deadline passes).

        ``spin``: seconds to spin first, or None for the learned budget.
        ``raise_gone``: raise BrokenError once nothing is left and the writer is gone.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if spin is not None:
            spin = check_spin(spin)
        seconds = self._spinning.seconds(spin)
        if timeout is not None:
            seconds = min(seconds, timeout)  # a short timeout is not overstayed by the spin
        got, shared = self._spin(m, seconds, take) if seconds > 0 else (None, False)
        if spin is None:
            self._spinning.learn(seconds, got is not None, shared)
        while got is None:
            got = self._sleep_once(m, deadline, timeout, take, raise_gone)
            m = self._ring._mapping()
        return got

    def _spin(self, m: Attachment, seconds: float, take: Callable[[Attachment], _T | None]
              ) -> tuple[_T | None, bool]:
        """Busy-wait in C (GIL released) for the ring to move past what we have seen: (what
        ``take`` got then, or None; whether a yield of the spin ran another thread)."""
        beyond = m.queue_seq() if self.queue else self._cursor
        spun = m.core.spin(F.OFF_WRITE_SEQ, beyond, seconds)
        return (take(m) if spun & 1 else None), bool(spun & SPIN_SHARED)

    def _sleep_once(self, m: Attachment, deadline: float | None, timeout: float | None,
                    take: Callable[[Attachment], _T | None], raise_gone: bool) -> _T | None:
        with self._sleep_cv:
            self._sleeping += 1
        try:
            return self._sleep_registered(m, deadline, timeout, take, raise_gone)
        finally:
            with self._sleep_cv:
                self._sleeping -= 1
                self._sleep_cv.notify_all()

    def _sleep_registered(self, m: Attachment, deadline: float | None, timeout: float | None,
                          take: Callable[[Attachment], _T | None], raise_gone: bool) -> _T | None:
        seen = m.notify.snapshot()
        m.notify.register()
        try:
            frame = take(m)  # re-check after registering: no lost wake-up
            if frame is not None:
                return frame
            if raise_gone:
                self._refuse_if_writer_gone(m)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise WaitTimeout(self._timeout_message(m, timeout), timeout=timeout, name=self._ring.name)
            if not self._interrupt:  # set during a spin, its wake-up came before our snapshot
                m.notify.wait(seen, RECHECK_S if remaining is None else min(remaining, RECHECK_S))
        finally:
            m.notify.unregister()
        if self._interrupt:
            self._interrupt = False
            raise _Interrupted(f"reader of ring {self._ring.name!r} was closed or stopped while waiting")
        frame = take(m)
        if frame is None and self._ring._check_replaced():
            self._attach(self._ring._mapping(), "oldest")
        return frame

    def _refuse_if_writer_gone(self, m: Attachment) -> None:
        """BrokenError if the ring had a writer and none is attached now (nothing is left to read)."""
        if m.writer_alive():
            self._writer_seen = True
            return
        write_seq = m.write_seq()
        if self._writer_seen or write_seq > 0:
            raise BrokenError(f"ring {self._ring.name!r}: its writer is gone (no writer attached; "
                              f"{write_seq} frames written, all read by this reader)", name=self._ring.name)

    def _timeout_message(self, m: Attachment, timeout: float | None) -> str:
        alive = "alive" if m.writer_alive() else "not attached"
        return (f"no frame on ring {self._ring.name!r} within {timeout} s "
                f"(last frame {m.write_seq() - 1}, writer {alive})")

    def interrupt(self) -> None:
        """Make a ``get`` blocked in another thread return with ClosedError."""
        self._interrupt = True
        if not self._ring.closed:
            self._ring._mapping().notify.wake_all()
