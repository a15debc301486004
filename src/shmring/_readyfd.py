"""A pollable file descriptor for a futex wake word: ``Reader.fileno()`` and ``Channel.fileno()``.

A futex cannot be handed to ``select``/``epoll``, so a small daemon thread
sleeps on the shared wake word (a ring's notify word, a channel's request
word) and makes an ``eventfd`` readable each time the word moves. The
descriptor is what event loops want: ``selectors``, ``asyncio``'s
``add_reader``, Qt's ``QSocketNotifier``.

Contract: readable means "something may be waiting": read 8 bytes from it
(``os.read(fd, 8)``), which clears it, then take everything there is
(``try_get()`` until None, ``serve_pending()``). A spurious wake-up
(someone else's ``close()`` or ``unlink()`` also bumps the word) leaves
nothing to take, never the reverse: no frame or request published after the
descriptor was cleared goes unsignalled.

No lost signal: the thread counts itself as a sleeper for its whole life, so
every publisher bumps the word; it takes its snapshot of the word *before*
writing the eventfd, so a bump that lands after the write makes its next
futex wait return at once and signal again. Idle, it sleeps in the kernel and
wakes only every :data:`SLICE_S` seconds to see whether it was closed, and
whether the name it watches now means another file (``moved``): nobody bumps
the old word then, so it signals and lets its owner notice (``follow`` moves it
to the new word and keeps the descriptor).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from ._locks import WakeWord

__all__ = ["ReadyFd"]

#: Longest futex sleep of the waiter thread before it looks at its stop flag (close() also wakes it).
SLICE_S = 1.0


class ReadyFd:
    """An eventfd made readable whenever ``word`` moves (and at once if ``pending()`` is already true).

    Args:
        word: the shared wake word publishers bump.
        pending: whether something is waiting right now (asked once, at start).
        name: shown in the thread's name.
    """

    def __init__(self, word: WakeWord, pending: Callable[[], bool], name: str,
                 moved: Callable[[], bool] | None = None) -> None:
        self._name = name
        self._moved = moved
        self._fd: int | None = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._start(word, pending)

    def _start(self, word: WakeWord, pending: Callable[[], bool]) -> None:
        self._word = word
        self._stop = threading.Event()  # one per thread: a thread late to leave never sees the next one's
        word.register()  # from now on every publisher bumps the word and wakes us
        seen = word.snapshot()
        if pending():
            self._signal()
        self._thread = threading.Thread(target=self._run, args=(word, seen, self._stop),
                                        name=f"shmring-fd-{self._name}", daemon=True)
        self._thread.start()

    def follow(self, word: WakeWord, pending: Callable[[], bool]) -> None:
        """Watch another word from now on (a re-attached ring's), keeping the same descriptor.

        The descriptor number an event loop registered stays valid; it is
        signalled at once if something is already waiting behind the new word.
        """
        self._stop_thread()
        self._start(word, pending)

    def fileno(self) -> int:
        """The eventfd; readable when something may be waiting."""
        if self._fd is None:
            raise ValueError("the ready descriptor was closed")
        return self._fd

    def clear(self) -> None:
        """Make the descriptor unreadable (what ``os.read(fd, 8)`` does)."""
        if self._fd is not None:
            try:
                os.eventfd_read(self._fd)
            except BlockingIOError:
                pass

    def _run(self, word: WakeWord, seen: int, stop: threading.Event) -> None:
        while not stop.is_set():
            word.wait(seen, SLICE_S)
            now = word.snapshot()  # before signalling: see the module docstring
            if stop.is_set():
                break
            if now != seen:
                seen = now
                self._signal()
            elif self._moved is not None and self._moved():
                # The name now means another file (or none): nobody will bump this
                # word again, so say so once a slice; the owner's next take notices.
                self._signal()

    def _signal(self) -> None:
        if self._fd is not None:
            os.eventfd_write(self._fd, 1)

    def _stop_thread(self) -> None:
        self._stop.set()
        self._word.wake_all()
        self._thread.join(SLICE_S + 1.0)
        self._word.unregister()

    def close(self) -> None:
        """Stop the thread and close the descriptor. Idempotent; call before the mapping goes."""
        if self._fd is None:
            return
        self._stop_thread()
        os.close(self._fd)
        self._fd = None
