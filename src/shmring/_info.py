"""What ``Ring.info()``, ``Ring.stats()`` and ``Ring.readers()`` report: frozen, plain data.

Each class has ``to_dict()``, the JSON-able form ``shmring info --json`` prints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ._meta import Card

__all__ = ["ReaderInfo", "RingInfo", "RingStats"]


@dataclass(frozen=True)
class ReaderInfo:
    """One entry in use in a ring's reader table.

    Attributes:
        index: the entry's index in the table.
        name: the reader's name (up to 8 ASCII characters).
        mode: ``"broadcast"`` or ``"queue"``.
        alive: whether the reader's process still holds the entry's lease.
        cursor: the next frame the reader reads.
        lag: frames written that the reader has not read yet.
        lost: frames the reader missed.
        received: frames the reader got.
        attached_ns: when it attached (CLOCK_REALTIME, ns).
        active_ns: its last get (CLOCK_REALTIME, ns; 0 before the first).
        pid: its process id (as the process saw it; informational only).
    """

    index: int
    name: str
    mode: str
    alive: bool
    cursor: int
    lag: int
    lost: int
    received: int
    attached_ns: int
    active_ns: int
    pid: int

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-able dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RingInfo:
    """Sizes, policy, schema and counters of a ring, read at one moment.

    Attributes:
        name: the file name.
        path: the file's path.
        layout_version: the file layout's version number.
        slots: number of frame slots.
        slot_bytes: largest payload of one frame, in bytes.
        meta_bytes: largest encoded metadata of one frame, in bytes.
        slot_stride: bytes from one slot to the next (header, metadata, payload, padding).
        total_bytes: size of the file.
        policy: ``"overwrite"``, ``"block"`` or ``"drop"``.
        created_ns: creation time (CLOCK_REALTIME, ns).
        dtype: the fixed schema's numpy typestr (e.g. ``"<u2"``), or None.
        shape: the fixed schema's shape, or None.
        write_seq: frames committed so far (the next frame's sequence number).
        queue_seq: the next frame a queue reader claims.
        writer_alive: whether a writer is attached.
        keywords: the stream keywords set at create, as cards (keyword, value, comment).
    """

    name: str
    path: str
    layout_version: int
    slots: int
    slot_bytes: int
    meta_bytes: int
    slot_stride: int
    total_bytes: int
    policy: str
    created_ns: int
    dtype: str | None
    shape: tuple[int, ...] | None
    write_seq: int
    queue_seq: int
    writer_alive: bool
    keywords: tuple[Card, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-able dict (``shape`` as a list, ``keywords`` as [keyword, value, comment] lists)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["shape"] = None if self.shape is None else list(self.shape)
        out["keywords"] = [list(card) for card in self.keywords]
        return out


@dataclass(frozen=True)
class RingStats(RingInfo):
    """A :class:`RingInfo` plus the write rate, the last write time and the readers.

    Attributes:
        rate_hz: frames per second over the frames still in the ring, up to now.
        last_write_ns: when the newest frame was written (CLOCK_REALTIME, ns; 0 if none).
        readers: one row per reader entry in use, live or dead.
    """

    rate_hz: float = 0.0
    last_write_ns: int = 0
    readers: tuple[ReaderInfo, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-able dict (``shape`` as a list, ``readers`` as a list of dicts)."""
        out = super().to_dict()
        out["readers"] = [row.to_dict() for row in self.readers]
        return out
