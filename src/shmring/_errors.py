"""The exceptions shmring raises, and the rule for which one.

The rule:

* **A bad argument is a builtin.** A value or type the caller passed that no
  call could accept (a bad name, ``slots=0``, a policy that does not exist, a
  ``str`` where a number goes) raises :class:`ValueError` or
  :class:`TypeError` at once, before anything is touched. The message names
  the parameter, the rule and the value given:
  ``slots must be an int in 2..1048576, got 0``.
* **Everything else is a ShmringError.** Whatever depends on the world
  rather than on the arguments (files, peers, frames, waits: a missing or
  corrupt segment, a dead writer, a frame that does not fit the ring, a
  deadline) raises a subclass of :class:`ShmringError`. Where a standard
  exception means the same thing, the error is one of those too, so
  ``except FileNotFoundError`` or ``except TimeoutError`` keep working::

    ShmringError
    ├── SegmentNotFoundError      (also FileNotFoundError)  no segment by that name
    ├── SegmentExistsError        (also FileExistsError)    create() found the name taken
    ├── SegmentPermissionError    (also PermissionError)    the file's mode refuses us
    ├── NoSpaceError              (also OSError)            the directory's memory is too small
    ├── LayoutError               (also ValueError)         the file is not the layout expected
    ├── FrameError                (also ValueError)         a frame that does not fit the ring
    ├── WaitTimeout               (also TimeoutError)       nothing arrived / freed in time
    ├── WouldBlock                                          a non-blocking call had to wait
    ├── ReaderTableFullError                                every reader entry is held by a live reader
    ├── ClosedError                                         this handle was closed by you
    ├── BrokenError                                         the other side died, or the segment
    │                                                       was removed or replaced
    └── RemoteError                                         a channel's handler raised (its type
                                                            and message are attached)

Errors carry their data as attributes, declared on each class (None when the
raiser did not know it), and pickle with them, so they can cross process
boundaries. Every class reports ``__module__`` ``"shmring"``, where users
import it from.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BrokenError",
    "ClosedError",
    "FrameError",
    "LayoutError",
    "NoSpaceError",
    "ReaderTableFullError",
    "RemoteError",
    "SegmentExistsError",
    "SegmentNotFoundError",
    "SegmentPermissionError",
    "ShmringError",
    "WaitTimeout",
    "WouldBlock",
]


class ShmringError(Exception):
    """Root of every error shmring raises that is not a bad argument.

    Keyword arguments become attributes; ``BaseException.__reduce__`` carries
    ``args`` and ``__dict__`` through pickle, so both survive a process hop.
    """

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.__dict__.update(data)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SegmentNotFoundError(ShmringError, FileNotFoundError):
    """No segment exists under that name or path.

    Attributes:
        path: the path looked at.
        name: the name asked for, where a name (not a path) was given.
    """

    path: str | None = None
    name: str | None = None

class SegmentExistsError(ShmringError, FileExistsError):
    """A segment of that name already exists (create never replaces one).

    Attributes:
        path: the path that is taken.
    """

    path: str | None = None


class SegmentPermissionError(ShmringError, PermissionError):
    """The segment's file mode does not let this process open it.

    Attributes:
        path: the file refused.
    """

    path: str | None = None


class NoSpaceError(ShmringError, OSError):
    """The segment's directory (a tmpfs, usually /dev/shm) lacks the memory asked for.

    Attributes:
        path: the segment that could not be sized.
        size: bytes asked for.
        free: bytes the directory had free.
    """

    path: str | None = None
    size: int | None = None
    free: int | None = None


class LayoutError(ShmringError, ValueError):
    """The file is not the layout expected: ``field``, ``expected`` and ``found`` say how.

    Attributes:
        field: the header field (or property of the file) that is wrong.
        expected: what a valid file holds there.
        found: what this file holds.
        path: the file, where known.
    """

    field: str | None = None
    expected: Any = None
    found: Any = None
    path: str | None = None


class FrameError(ShmringError, ValueError):
    """A frame that does not fit: too large for a slot, bad metadata, or the wrong schema.

    Attributes:
        size: the frame's (or metadata's) size in bytes, when too large.
        limit: the most the ring takes, in bytes.
        expected: the ring's fixed ``(shape, typestr)``, for a schema mismatch.
        found: the frame's ``(shape, typestr)``.
        key: the metadata key at fault.
    """

    size: int | None = None
    limit: int | None = None
    expected: Any = None
    found: Any = None
    key: str | None = None


class WaitTimeout(ShmringError, TimeoutError):
    """A wait reached its deadline (``timeout`` seconds) with nothing to show.

    Attributes:
        timeout: the seconds waited.
        name: the ring waited on, where known.
        path: the segment waited on, where known.
        published: ``Writer.put_many``: the frames of the batch published before the wait gave up.
    """

    timeout: float | None = None
    published: int | None = None
    name: str | None = None
    path: str | None = None


class WouldBlock(ShmringError):
    """A non-blocking call could not complete without waiting.

    Attributes:
        name: the ring, where known.
    """

    name: str | None = None

class ReaderTableFullError(ShmringError):
    """Every entry of the ring's reader table is held by a live reader; close one first.

    Attributes:
        name: the ring.
        entries: how many entries the table has.
    """

    name: str | None = None
    entries: int | None = None


class ClosedError(ShmringError):
    """The handle was closed; open the segment again to continue."""


class BrokenError(ShmringError):
    """The other side is gone: the segment was removed or replaced, or a peer died.

    Attributes:
        name: the ring, where known.
    """

    name: str | None = None


class RemoteError(ShmringError):
    """A channel server's handler raised: ``remote_type`` and ``remote_message`` say what.

    Attributes:
        remote_type: the class name of the handler's exception.
        remote_message: its message.
    """

    remote_type: str | None = None
    remote_message: str | None = None


# Users import these from ``shmring``; say so in tracebacks, reprs and pickles.
for _cls in (ShmringError, SegmentNotFoundError, SegmentExistsError, SegmentPermissionError, NoSpaceError,
             LayoutError, FrameError, WaitTimeout, WouldBlock, ReaderTableFullError, ClosedError, BrokenError,
             RemoteError):
    _cls.__module__ = "shmring"
del _cls
