"""The reader table of a ring.

Both sides of a ring meet here: readers publish how far they have read and
released; writers under ``block``/``drop`` learn how far they may write from
the C protocol (``Core.room_until``, which reads and reaps this table); anyone
can list the readers with their liveness (a lease on the entry's first byte,
see ``_locks``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from . import _format as F
from . import _sync
from ._info import ReaderInfo
from ._locks import Lease


class ReaderTable:
    """Access to the READER_ENTRIES entries of a mapped ring header."""

    def __init__(self, buf: Any, probe_fd: int) -> None:
        self.buf = buf
        self.probe_fd = probe_fd  # a description holding no lease, for liveness queries

    def load(self, index: int, field: int) -> int:
        return _sync.load64(self.buf, F.reader_offset(index) + field)

    def store(self, index: int, field: int, value: int) -> None:
        _sync.store64(self.buf, F.reader_offset(index) + field, value)

    def state(self, index: int) -> int:
        return _sync.load32(self.buf, F.reader_offset(index) + F.R_STATE)

    def alive(self, index: int) -> bool:
        return Lease.is_held(self.probe_fd, F.reader_offset(index))

    def claim(self, fd: int) -> tuple[int, Lease] | None:
        """Lease the first entry nobody holds; None when all are held by live readers."""
        for index in range(F.READER_ENTRIES):
            lease = Lease.try_take(fd, F.reader_offset(index))
            if lease is not None:
                return index, lease
        return None

    def init_entry(self, index: int, *, state: int, cursor: int, release: int, name: str) -> None:
        """Fill a claimed entry; the state goes last so a scan never sees half an entry."""
        off = F.reader_offset(index)
        _sync.store32(self.buf, off + F.R_STATE, F.STATE_FREE)
        for field, value in ((F.R_CURSOR, cursor), (F.R_RELEASE, release), (F.R_LOST, 0),
                             (F.R_RECEIVED, 0), (F.R_ATTACHED_NS, time.time_ns()),
                             (F.R_ACTIVE_NS, 0)):
            self.store(index, field, value)
        _sync.store32(self.buf, off + F.R_PID, os.getpid() & 0xFFFFFFFF)
        raw = name.encode("ascii", "replace")[: F.NAME_BYTES].ljust(F.NAME_BYTES, b"\x00")
        self.buf[off + F.R_NAME: off + F.R_NAME + F.NAME_BYTES] = raw
        _sync.store32(self.buf, off + F.R_STATE, state)

    def free(self, index: int) -> None:
        _sync.store32(self.buf, F.reader_offset(index) + F.R_STATE, F.STATE_FREE)

    def rows(self, write_seq: int) -> list[ReaderInfo]:
        """Every entry in use, with its liveness."""
        out = []
        for index in range(F.READER_ENTRIES):
            state = self.state(index)
            if state == F.STATE_FREE:
                continue
            off = F.reader_offset(index)
            cursor = self.load(index, F.R_CURSOR)
            name = bytes(self.buf[off + F.R_NAME: off + F.R_NAME + F.NAME_BYTES]).rstrip(b"\x00")
            out.append(ReaderInfo(
                index=index, name=name.decode("ascii", "replace"),
                mode="queue" if state == F.STATE_QUEUE else "broadcast", alive=self.alive(index),
                cursor=cursor, lag=max(0, write_seq - cursor), lost=self.load(index, F.R_LOST),
                received=self.load(index, F.R_RECEIVED), attached_ns=self.load(index, F.R_ATTACHED_NS),
                active_ns=self.load(index, F.R_ACTIVE_NS),
                pid=_sync.load32(self.buf, off + F.R_PID),
            ))
        return out
