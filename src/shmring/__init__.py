"""shmring: zero-copy shared-memory rings for image frames and messages between processes.

Users import from here only; every other module is private.
"""

from __future__ import annotations

from ._errors import (
    BrokenError,
    ClosedError,
    FrameError,
    LayoutError,
    NoSpaceError,
    SegmentExistsError,
    SegmentNotFoundError,
    SegmentPermissionError,
    ShmringError,
    WaitTimeout,
    WouldBlock,
)
from ._locks import Lease, RangeLock
from ._segment import Segment

__version__ = "0.1.0"

__all__ = [
    "BrokenError",
    "ClosedError",
    "FrameError",
    "LayoutError",
    "Lease",
    "NoSpaceError",
    "RangeLock",
    "Segment",
    "SegmentExistsError",
    "SegmentNotFoundError",
    "SegmentPermissionError",
    "ShmringError",
    "WaitTimeout",
    "WouldBlock",
    "__version__",
]
