"""shmring: zero-copy shared-memory rings for image frames and messages between processes.

Users import from here and from :mod:`shmring.legacy` (the original
``io.files.SharedMem`` layout) only; every other module is private.
``shmring.SharedMem`` and ``shmring.Locker`` are aliases of
``shmring.legacy.SharedMem`` and ``shmring.legacy.Locker``.
"""

from __future__ import annotations

from ._channel import Channel
from ._channel_codec import Message
from ._channel_server import Server
from ._errors import (
    BrokenError,
    ClosedError,
    FrameError,
    LayoutError,
    NoSpaceError,
    ReaderTableFullError,
    RemoteError,
    SegmentExistsError,
    SegmentNotFoundError,
    SegmentPermissionError,
    ShmringError,
    WaitTimeout,
    WouldBlock,
)
from ._frame import Frame
from ._info import ReaderInfo, RingInfo, RingStats
from ._locks import Lease, RangeLock
from ._meta import Card, Meta
from ._reader import Reader
from ._recording import Recording, record, replay
from ._ring import Ring
from ._segment import Segment, segment_dir
from ._subscription import Subscription
from ._writer import Writer
from .legacy import Locker, SharedMem  # aliases: the public path is shmring.legacy

__version__ = "0.1.0"

__all__ = [
    "BrokenError",
    "Card",
    "Channel",
    "ClosedError",
    "Frame",
    "FrameError",
    "LayoutError",
    "Lease",
    "Locker",
    "Message",
    "Meta",
    "NoSpaceError",
    "RangeLock",
    "Reader",
    "ReaderInfo",
    "ReaderTableFullError",
    "Recording",
    "RemoteError",
    "Ring",
    "RingInfo",
    "RingStats",
    "Segment",
    "SegmentExistsError",
    "SegmentNotFoundError",
    "SegmentPermissionError",
    "Server",
    "SharedMem",
    "ShmringError",
    "Subscription",
    "WaitTimeout",
    "WouldBlock",
    "Writer",
    "__version__",
    "record",
    "replay",
    "segment_dir",
]
