"""Push-style reading: a background-thread callback and an ``async for`` adapter."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from ._errors import ClosedError, WaitTimeout
from ._frame import Frame

log = logging.getLogger("shmring")

#: How long one worker-thread wait of ``aiter`` lasts before it returns to the loop.
_AITER_SLICE_S = 0.25


class FrameSource(Protocol):
    """What a subscription drives: the reader it was made from (``_reader`` imports this module)."""

    name: str

    def get(self, timeout: float | None = None, *, view: bool = False) -> Frame: ...

    def try_get(self, *, view: bool = False) -> Frame | None: ...

    def interrupt(self) -> None: ...


class Subscription:
    """A thread calling ``callback(frame)`` for each frame of a reader; ``stop()`` ends it.

    Attributes:
        delivered: frames handed to the callback so far.
        error: the exception that ended the subscription, if any.
    """

    def __init__(self, reader: FrameSource, callback: Callable[[Frame], Any], *, view: bool) -> None:
        self._reader = reader
        self._callback = callback
        self._view = view
        self._stopping = False
        self.delivered = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"shmring-sub-{reader.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping:
            try:
                frame = self._reader.get(view=self._view)
            except ClosedError:
                return
            except BaseException as err:  # noqa: BLE001 -- ends the subscription; stop() re-raises it
                self.error = err
                return
            try:
                self._callback(frame)
                self.delivered += 1
            except BaseException as err:  # noqa: BLE001 -- a callback error ends it; stop() re-raises
                log.error("shmring: subscription callback raised %r; subscription ended", err)
                self.error = err
                return
            finally:
                if self._view:
                    frame.release()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread and wait for it (``timeout`` seconds); re-raise a callback's error."""
        self._stopping = True
        self._reader.interrupt()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise WaitTimeout(f"subscription thread still running {timeout} s after stop() "
                              "(is the callback blocked?)", timeout=timeout)
        if self.error is not None:
            raise self.error

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def aiterate(reader: FrameSource, *, view: bool) -> AsyncIterator[Frame]:
    """Yield frames; each wait runs in a worker thread so the event loop stays free."""
    loop = asyncio.get_running_loop()
    while True:
        frame = reader.try_get(view=view)
        if frame is None:
            try:
                frame = await loop.run_in_executor(None, _get_slice, reader, view)
            except asyncio.CancelledError:
                reader.interrupt()  # the worker thread returns at once
                raise
        if frame is not None:
            yield frame


def _get_slice(reader: FrameSource, view: bool) -> Frame | None:
    try:
        return reader.get(_AITER_SLICE_S, view=view)
    except WaitTimeout:
        return None
