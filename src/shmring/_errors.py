"""The exceptions shmring raises.

Every error is a :class:`ShmringError`; each subclass says what the caller can
do about it, and where a standard exception means the same thing it is one of
those too, so ``except FileNotFoundError`` or ``except TimeoutError`` keep
working::

    ShmringError
    ├── SegmentNotFoundError      (also FileNotFoundError)  no segment by that name
    ├── SegmentExistsError        (also FileExistsError)    create() found the name taken
    ├── SegmentPermissionError    (also PermissionError)    the file's mode refuses us
    ├── NoSpaceError              (also OSError)            the directory's memory is too small
    ├── LayoutError               (also ValueError)         the file is not the layout expected
    ├── FrameError                (also ValueError)         a frame that does not fit the ring
    ├── WaitTimeout               (also TimeoutError)       nothing arrived / freed in time
    ├── WouldBlock                                          a non-blocking call had to wait
    ├── ClosedError                                         this handle was closed by you
    ├── BrokenError                                         the other side died, or the segment
    │                                                       was removed or replaced
    └── RemoteError                                         a channel's handler raised (its type
                                                            and message are attached)

Errors carry their data as attributes (``name``, ``field``, ``expected``,
``found``, ...) and pickle with them, so they can cross process boundaries.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BrokenError",
    "ClosedError",
    "FrameError",
    "LayoutError",
    "NoSpaceError",
    "RemoteError",
    "SegmentExistsError",
    "SegmentNotFoundError",
    "SegmentPermissionError",
    "ShmringError",
    "WaitTimeout",
    "WouldBlock",
]


class ShmringError(Exception):
    """Root of every error shmring raises.

    Keyword arguments become attributes; ``BaseException.__reduce__`` carries
    ``args`` and ``__dict__`` through pickle, so both survive a process hop.
    """

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.__dict__.update(data)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SegmentNotFoundError(ShmringError, FileNotFoundError):
    """No segment exists under that name or path."""


class SegmentExistsError(ShmringError, FileExistsError):
    """A segment of that name already exists (create never replaces one)."""


class SegmentPermissionError(ShmringError, PermissionError):
    """The segment's file mode does not let this process open it."""


class NoSpaceError(ShmringError, OSError):
    """The segment's directory (a tmpfs, usually /dev/shm) lacks the memory asked for."""


class LayoutError(ShmringError, ValueError):
    """The file is not the layout expected: ``field``, ``expected`` and ``found`` say how."""


class FrameError(ShmringError, ValueError):
    """A frame that does not fit: too large for a slot, bad metadata, or the wrong schema."""


class WaitTimeout(ShmringError, TimeoutError):
    """A wait reached its deadline (``timeout`` seconds) with nothing to show."""


class WouldBlock(ShmringError):
    """A non-blocking call could not complete without waiting."""


class ClosedError(ShmringError):
    """The handle was closed; open the segment again to continue."""


class BrokenError(ShmringError):
    """The other side is gone: the segment was removed or replaced, or a peer died."""


class RemoteError(ShmringError):
    """A channel server's handler raised: ``remote_type`` and ``remote_message`` say what."""
