"""One process's attachment to a ring file, shared by ``Ring``, ``Writer`` and ``Reader``.

The ring modules form a line: ``_attachment`` <- ``_writer``/``_reader`` <- ``_ring``.
Writers and readers hold their ring as a :class:`RingHandle` (the few members
they use), so none of them imports ``_ring``.
"""

from __future__ import annotations

import mmap
import os
from typing import Protocol

from . import _format as F
from . import _sync
from ._core import Core
from ._errors import LayoutError
from ._locks import Lease, WakeWord, reopen
from ._segment import Segment
from ._table import ReaderTable

__all__ = ["RECHECK_S", "Attachment", "RingHandle", "fork_generation", "validate_counters"]

#: Longest a blocked call sleeps before re-checking what no futex announces:
#: a peer that died, or the ring's name now pointing at another file.
RECHECK_S = 0.5

# Bumped in every fork() child: handles made before the fork refuse to work
# there (cheaper than asking os.getpid() on every put and get).
_fork_generation = 0


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


def fork_generation() -> int:
    """How many fork()s separate this process from the one that imported shmring."""
    return _fork_generation


class Attachment:
    """One attachment to a ring file: the mapping, its views and wake channels."""

    def __init__(self, seg: Segment, layout: F.Layout) -> None:
        self.seg = seg
        self.layout = layout
        self.buf = seg.mapping()
        # The base of zero-copy reader views: a second mapping of the same pages made
        # without PROT_WRITE, so numpy (and the MMU) refuse any write through a view;
        # ``view.setflags(write=True)`` fails because the base buffer is read-only.
        self.readonly = mmap.mmap(seg.fd, seg.size, mmap.MAP_SHARED, mmap.PROT_READ)
        self.core = Core(self.buf, F.core_layout(layout), seg.path.name)
        self.probe_fd = reopen(seg.fd)
        # A shared lease held for as long as this handle is open, so that "is
        # anyone using this ring?" (shmring gc) has a kernel-held answer even
        # for a process that has opened the ring but not attached a writer yet.
        # None only while someone holds the byte exclusively (a gc probe): the
        # handle then works, unadvertised, as it always has.
        self.attached = Lease.try_take(seg.fd, F.LOCK_ATTACHED, shared=True)
        self.table = ReaderTable(self.buf, self.probe_fd)
        self.notify = WakeWord(self.buf, F.OFF_NOTIFY)  # its sleeper count is OFF_NOTIFY_WAITERS
        self.space = WakeWord(self.buf, F.OFF_SPACE)  # and OFF_SPACE_WAITERS

    def write_seq(self) -> int:
        return _sync.load64(self.buf, F.OFF_WRITE_SEQ)

    def queue_seq(self) -> int:
        return _sync.load64(self.buf, F.OFF_QUEUE_SEQ)

    def writer_alive(self) -> bool:
        return Lease.is_held(self.probe_fd, F.LOCK_WRITER_PRESENCE)

    def close(self) -> None:
        os.close(self.probe_fd)
        if self.attached is not None:
            self.attached.release()
        self.core.release()
        # Neither mapping is closed explicitly: numpy arrays over them (reader views,
        # writer reservations) keep a reference to the mmap, not a buffer export, so
        # mmap.close() would succeed and leave them pointing at unmapped pages (a
        # segfault on the next access). Dropping our references instead unmaps each
        # mapping when its last array goes (at once, when there is none).
        del self.readonly, self.table, self.notify, self.space, self.buf, self.core
        self.seg.buf = None
        os.close(self.seg.fd)


def validate_counters(m: Attachment, name: str) -> None:
    """Refuse counters no ring of this layout can hold (a corrupt or hostile file)."""
    write_seq, queue_seq = m.write_seq(), m.queue_seq()
    if queue_seq > write_seq:
        raise LayoutError(f"{name}: queue sequence {queue_seq} is ahead of write sequence {write_seq}",
                          field="queue_seq", expected=f"<= {write_seq}", found=queue_seq)
    for index in range(F.READER_ENTRIES):
        state = m.table.state(index)
        if state > F.STATE_QUEUE:
            raise LayoutError(f"{name}: reader entry {index} has state {state}",
                              field="reader state", expected="0..2", found=state)


class RingHandle(Protocol):
    """What a writer or reader needs from the ``Ring`` it was made from."""

    name: str
    _pid: int
    _m: Attachment | None  # None once closed (``closed`` without a call, for the per-frame paths)

    @property
    def closed(self) -> bool: ...

    def _mapping(self) -> Attachment: ...

    def _check_replaced(self) -> bool: ...

    def _name_moved(self) -> bool: ...
