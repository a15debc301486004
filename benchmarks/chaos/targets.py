"""The one table of what the campaign attacks: file layouts to fuzz and the openers that read them.

A *layout* makes valid files of one kind through the public API (the seeds a
mutation starts from) and names the fields worth setting to absurd values,
taking every offset from the format modules. An *opener* does with a file at a
path what a user's program does with it: open, inspect, read, write a frame.
Every opener must refuse a bad file with a :class:`shmring.ShmringError` and
nothing else, never crash, never hang.

To put another implementation under the same cases (the channel), add a row
to :data:`OPENERS` for the layout it reads. A program in another language is
fed the paths by a :class:`peers.Peer` and its answers raised as the matching
``ShmringError``: :mod:`c_targets` does so for the C library.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import shmring
from shmring import _format as F
from shmring.legacy import _format as LF
from shmring.legacy._locker import lock_name_for

from .c_targets import C_OPENERS

__all__ = ["LAYOUTS", "OPENERS", "Field", "Layout", "Seed"]


@dataclass(frozen=True)
class Field:
    """A little-endian integer field of a file: ``width`` bytes at ``offset``."""

    name: str
    offset: int
    width: int


@dataclass(frozen=True)
class Seed:
    """One valid file (``data``), the fields in it worth corrupting, and the range mutations aim at."""

    data: bytes
    fields: tuple[Field, ...]
    region: tuple[int, int]  # [start, end) of the bytes this layout's mutations target


@dataclass(frozen=True)
class Layout:
    """A kind of file ``open`` accepts; ``seeds(dir)`` builds valid examples in a scratch directory."""

    name: str
    seeds: Callable[[Path], list[Seed]]
    #: Where a case's file goes relative to the scratch directory (the lock file has a derived name).
    file_name: Callable[[Path], str]


# -- native ring ------------------------------------------------------------------

_RING_SHAPES = (  # (slots, slot_bytes, meta_bytes, policy, schema)
    (2, 64, 0, "overwrite", None),
    (3, 1000, 256, "block", None),
    (4, 512, 64, "drop", ((8, 8), np.uint16)),
)

_HEADER_FIELDS = (
    Field("version", 8, 4), Field("header bytes", 12, 4), Field("total bytes", 16, 8),
    Field("slots", 24, 4), Field("policy", 28, 4), Field("slot stride", 32, 8),
    Field("slot bytes", 40, 8), Field("meta bytes", 48, 4), Field("reader entries", 52, 4),
    Field("schema has", F.OFF_SCHEMA, 4), Field("schema ndim", F.OFF_SCHEMA + 4, 4),
    Field("schema shape0", F.OFF_SCHEMA + 16, 8),
    Field("write_seq", F.OFF_WRITE_SEQ, 8), Field("queue_seq", F.OFF_QUEUE_SEQ, 8),
    Field("notify", F.OFF_NOTIFY, 4), Field("notify waiters", F.OFF_NOTIFY_WAITERS, 4),
    Field("space waiters", F.OFF_SPACE_WAITERS, 4), Field("writer wake", F.OFF_WRITER_WAKE + F.WAKE_SLEEPERS, 4),
    *(Field(f"reader0 {n}", F.reader_offset(0) + off, w) for n, off, w in (
        ("cursor", F.R_CURSOR, 8), ("release", F.R_RELEASE, 8), ("lost", F.R_LOST, 8),
        ("state", F.R_STATE, 4))),
    Field("reader1 state", F.reader_offset(1) + F.R_STATE, 4),
)


def _slot_fields(layout: F.Layout, slot: int) -> tuple[Field, ...]:
    base = layout.slot_offset(slot)
    named = (("seqlock", F.S_SEQLOCK, 8), ("seq", F.S_SEQ, 8), ("payload bytes", F.S_SEQ + 8, 8),
             ("flags", F.S_SEQ + 32, 4), ("meta length", F.S_SEQ + 36, 4), ("ndim", F.S_SEQ + 48, 4),
             ("shape0", F.S_SEQ + 56, 8), ("shape1", F.S_SEQ + 64, 8))
    return tuple(Field(f"slot{slot} {n}", base + off, w) for n, off, w in named)


def _ring_files(scratch: Path) -> list[tuple[bytes, F.Layout]]:
    """Rings of several shapes, with frames (and metadata) written and a reader entry used."""
    out = []
    for index, (slots, slot_bytes, meta_bytes, policy, schema) in enumerate(_RING_SHAPES):
        shape, dtype = schema if schema else (None, None)
        path = scratch / f"seed{index}"
        with shmring.Ring.create(path, slots, slot_bytes, meta_bytes, policy, dtype=dtype, shape=shape) as ring:
            reader = ring.reader(name="seed")
            with ring.writer() as writer:
                for seq in range(slots + (policy == "overwrite")):
                    frame = np.full(shape or (slot_bytes // 8,), seq, dtype or np.uint8)
                    writer.put(frame, meta={"SEQ": seq} if meta_bytes else None, timeout=0)
                    reader.try_get()
            layout = ring._mapping().layout
            out.append((path.read_bytes(), layout))
            reader.close()
            ring.unlink()
    return out


def _native_header_seeds(scratch: Path) -> list[Seed]:
    return [Seed(data, _HEADER_FIELDS, (0, F.HEADER_BYTES)) for data, _ in _ring_files(scratch)]


def _native_slot_seeds(scratch: Path) -> list[Seed]:
    seeds = []
    for data, layout in _ring_files(scratch):
        fields = tuple(f for s in range(layout.slots) for f in _slot_fields(layout, s))
        start = layout.slot_offset(0)
        seeds.append(Seed(data, fields, (start, start + layout.payload_offset)))
    return seeds


# -- legacy SharedMem -------------------------------------------------------------

_LEGACY_FIELDS = tuple(Field(n, off, 4) for n, off in (
    ("memsize", LF.OFF_MEMSIZE), ("item_size", LF.OFF_ITEM_SIZE), ("item_alloc", LF.OFF_ITEM_ALLOC),
    ("head", LF.OFF_HEAD), ("tail", LF.OFF_TAIL), ("count", LF.OFF_COUNT)))


def _legacy_seeds(scratch: Path) -> list[Seed]:
    seeds = []
    for index, (item_size, item_alloc, puts) in enumerate(((16, 2, 1), (100, 4, 3), (7, 3, 3))):
        path = scratch / f"legacy{index}"
        with shmring.legacy.SharedMem.create(path, item_size, item_alloc) as mem:
            for n in range(puts):
                mem.put_buf(bytes([n + 1]) * (item_size - n % 2), width=n, height=1)
            data = path.read_bytes()
            mem.locker.unlink()
            mem.delete()
        slots = tuple(Field(f"slot{i} {n}", LF.slot_offset(item_size, i) + off, 4)
                      for i in range(item_alloc) for n, off in (("buf_len", LF.SLOT_BUF_LEN), ("width", 8)))
        seeds.append(Seed(data, _LEGACY_FIELDS + slots, (0, LF.slot_offset(item_size, 1))))
    return seeds


def _lock_seeds(scratch: Path) -> list[Seed]:
    path = scratch / "lockseed"
    with shmring.legacy.SharedMem.create(path, 8, 2) as mem:
        lock = mem.locker.path
        data = lock.read_bytes()
        mem.locker.unlink()
        mem.delete()
    fields = (Field("wake", LF.LOCK_WAKE, 4), Field("data wake", LF.DATA_WAKE, 4))
    return [Seed(data, fields, (0, LF.LOCK_SIZE))]


def _legacy_queue_file(scratch: Path) -> str:
    return "case"


def _lock_file_name(scratch: Path) -> str:
    return lock_name_for(scratch / "case")  # the Locker of <scratch>/case, in $SHMRING_DIR = scratch


# -- openers ------------------------------------------------------------------------

def open_ring(path: Path) -> None:
    """What a ring user does: open, inspect, read every frame there, write one, read it."""
    with shmring.Ring.open(path) as ring:
        ring.info()
        ring.stats()
        with ring.reader(start="oldest") as reader:
            for _ in range(ring.slots + 1):
                frame = reader.try_get()
                if frame is not None:
                    frame.data.sum()
        with ring.reader(start="oldest") as viewer:
            view = viewer.try_get(view=True)
            if view is not None:
                view.data.sum()
                view.valid()
                view.release()
        with ring.reader(start="oldest", queue=True) as queued:
            queued.try_get()
        with ring.writer() as writer:
            if ring.shape is not None and ring.dtype is not None:
                writer.put(np.zeros(ring.shape, ring.dtype), timeout=0.01)
            else:
                writer.put(np.zeros(min(ring.slot_bytes, 16), np.uint8), meta={"K": 1} if ring.meta_bytes else None,
                           timeout=0.01)


def open_legacy(path: Path) -> None:
    """What a legacy consumer/producer does: open, look at the header, drain the queue, put one."""
    with shmring.legacy.SharedMem.open(path) as mem:
        mem.header()
        for _ in range(mem.item_alloc + 1):
            got = mem.get_buf(timeout=0)
            if got is None:
                break
        mem.put_buf(b"x" * min(mem.item_size, 32))
        mem.get_buf(timeout=0)


def open_legacy_with_lock(scratch_file: Path) -> None:
    """A fresh legacy queue whose lock file is the mutated one: opening it reads the lock file."""
    queue = scratch_file.parent / "case"
    if not queue.exists():
        queue.write_bytes(LF.new_header(8, 2) + bytes(LF.memsize(8, 2) - LF.MEM_HEADER.size))
    open_legacy(queue)


LAYOUTS: dict[str, Layout] = {
    "ring header": Layout("ring header", _native_header_seeds, _legacy_queue_file),
    "ring slots": Layout("ring slots", _native_slot_seeds, _legacy_queue_file),
    "legacy header": Layout("legacy header", _legacy_seeds, _legacy_queue_file),
    "legacy lock": Layout("legacy lock", _lock_seeds, _lock_file_name),
}

#: (layout, opener name) -> opener. Add a row per implementation that reads a layout.
OPENERS: dict[tuple[str, str], Callable[[Path], None]] = {
    ("ring header", "python Ring.open"): open_ring,
    ("ring slots", "python Ring.open"): open_ring,
    ("legacy header", "python SharedMem.open"): open_legacy,
    ("legacy lock", "python SharedMem.open"): open_legacy_with_lock,
    **C_OPENERS,
}

# The channel's rows live in a module of their own; it needs the classes above.
from .channel_targets import CHANNEL_LAYOUTS, CHANNEL_OPENERS  # noqa: E402

LAYOUTS.update(CHANNEL_LAYOUTS)
OPENERS.update(CHANNEL_OPENERS)


def build_seeds() -> dict[str, list[Seed]]:
    """Every layout's seed files, built in a private scratch directory (removed after)."""
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="chaos-seeds-") as scratch:
        old = os.environ.get("SHMRING_DIR")
        os.environ["SHMRING_DIR"] = scratch
        try:
            return {name: layout.seeds(Path(scratch)) for name, layout in LAYOUTS.items()}
        finally:
            if old is None:
                del os.environ["SHMRING_DIR"]
            else:
                os.environ["SHMRING_DIR"] = old
