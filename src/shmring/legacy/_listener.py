"""``BufListener``: the background thread behind ``SharedMem.on_buf``.

It sleeps on the file's data futex word (in the Locker segment), which every
shmring put bumps, so a shmring producer wakes it at once. An original
producer never touches that word, so the sleep is cut into slices of
``poll_interval`` seconds, after which the queue is looked at anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .._errors import WaitTimeout
from .._locks import WakeWord
from ._queue import Buf

__all__ = ["BufListener"]


class BufListener:
    """Delivers each buffer of a :class:`~shmring.legacy.SharedMem` to a callback; ``stop()`` ends it.

    It knows the handle only through what it is given (so this module needs
    nothing above it): ``take`` returns the next buffer or None, ``signal`` is
    the file's data wake word, and ``on_stop`` tells the handle it has stopped.
    """

    def __init__(self, take: Callable[[], Buf | None], signal: WakeWord, callback: Callable[[Buf], object],
                 poll_interval: float, *, name: str, on_stop: Callable[[BufListener], None]) -> None:
        self._take = take
        self._signal = signal
        self._callback = callback
        self._poll_interval = poll_interval
        self._on_stop = on_stop
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"shmring-on_buf-{name}", daemon=True)
        #: The exception the callback raised, if it did (the listener then stopped).
        self.error: BaseException | None = None
        #: Buffers delivered so far.
        self.delivered = 0

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the thread is still delivering."""
        return self._thread.is_alive()

    def _run(self) -> None:
        signal = self._signal
        try:
            while not self._stopping.is_set():
                seen = signal.snapshot()  # before looking: a put after the look still wakes us
                got = self._take()
                if got is not None:
                    self._callback(got)
                    self.delivered += 1
                elif not self._stopping.is_set():
                    signal.sleep(seen, self._poll_interval)
        except Exception as err:  # noqa: BLE001 - handed to stop(): a thread has nobody else to tell
            self.error = err

    def stop(self, timeout: float = 5.0) -> None:
        """Stop delivering and join the thread (up to ``timeout`` seconds).

        Raises:
            Exception: whatever the callback raised, if it did.
            WaitTimeout: the callback did not return within ``timeout`` seconds.
        """
        self._stopping.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            # Wake the sleeping thread now; other sleepers on the word re-check harmlessly.
            self._signal.announce()
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise WaitTimeout(f"on_buf callback still running after {timeout} s", timeout=timeout)
        self._on_stop(self)
        if self.error is not None:
            err, self.error = self.error, None
            raise err
