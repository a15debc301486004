"""``Ring``: a native shmring ring — create, open, inspect, and hand out writers and readers."""

from __future__ import annotations

import logging
import os
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from . import _attachment, _meta, _segment, _sync
from . import _format as F
from ._attachment import Attachment, fork_generation, validate_counters
from ._errors import BrokenError, ClosedError, FrameError, SegmentNotFoundError, ShmringError
from ._info import ReaderInfo, RingInfo, RingStats
from ._reader import Reader
from ._segment import NameOrPath, Segment
from ._unlink import HandleOrName
from ._writer import Writer

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

log = logging.getLogger("shmring")
_Child = TypeVar("_Child", Writer, Reader)


class Ring:
    """A ring of ``slots`` frame slots in one shared-memory file.

    Create one with :meth:`create`, attach with :meth:`open`; then take a
    :meth:`writer` and any number of :meth:`reader` handles. Rings, writers
    and readers are context managers.

    Attributes:
        name: the file name (the ring's name for a bare name).
        path: the file's path.
        slots: number of slots.
        slot_bytes: largest payload of one frame, in bytes.
        meta_bytes: largest encoded metadata of one frame, in bytes.
        policy: ``"overwrite"``, ``"block"`` or ``"drop"``: what a writer does when the ring is full.
        dtype, shape: the fixed frame schema, or None.
        keywords: the stream keywords set at create (a :class:`Meta`: a dict of
            keyword to value, with every card in ``keywords.cards``); empty if none.
    """

    def __init__(self, seg: Segment, layout: F.Layout, *, reattach: bool = False) -> None:
        self._m: Attachment | None = Attachment(seg, layout)
        self.path: Path = seg.path
        self.name: str = seg.path.name
        self.reattach = reattach
        self._children: weakref.WeakSet[Any] = weakref.WeakSet()
        self._pid = os.getpid()
        self._generation = fork_generation()
        self._set_layout(layout)
        self._load_keywords()

    def _set_layout(self, layout: F.Layout) -> None:
        self.slots = layout.slots
        self.slot_bytes = layout.slot_bytes
        self.meta_bytes = layout.meta_bytes
        self.policy = layout.policy
        schema = layout.schema
        self.dtype: np.dtype[Any] | None = np.dtype(schema.typestr) if schema else None
        self.shape: tuple[int, ...] | None = schema.shape if schema else None

    def _load_keywords(self) -> None:
        m = self._mapping()
        found = _meta.decode(F.read_keywords(m.buf, m.layout))
        self.keywords: _meta.Meta = found if isinstance(found, _meta.Meta) else _meta.Meta(
            _meta.Card(k, v) for k, v in found.items())

    # -- lifecycle -----------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: NameOrPath,
        slots: int = 8,
        slot_bytes: int | None = None,
        meta_bytes: int = 4096,
        policy: str = "overwrite",
        mode: int = 0o600,
        dtype: DTypeLike | None = None,
        shape: tuple[int, ...] | None = None,
        *,
        keywords: object = None,
        directory: str | os.PathLike[str] | None = None,
    ) -> Ring:
        """Create a ring; fails if the name exists.

        Args:
            name: ring name (``[A-Za-z0-9._-]{1,200}``, no leading dot) or a ``pathlib.Path``.
            slots: number of frame slots (2..2**20).
            slot_bytes: largest frame payload in bytes; defaults to the schema's size.
            meta_bytes: largest encoded metadata per frame, in bytes.
            policy: when full, ``"overwrite"`` the oldest frame, ``"block"`` the writer
                until every live reader released it, or ``"drop"`` the new frame.
            mode: file permission bits (exactly; 0o660 to share with a group).
            dtype, shape: optional fixed frame schema, enforced on every put.
            keywords: stream keywords every process that opens the ring reads
                (``ring.keywords``): what describes the whole stream (TELESCOP,
                INSTRUME, the detector's geometry). Anything ``meta`` takes: a
                dict, an ``astropy.io.fits.Header``, a list of cards. Fixed for
                the ring's life; up to 1 MiB encoded.
            directory: where a bare name lives (default ``$SHMRING_DIR`` or /dev/shm).

        Raises:
            SegmentExistsError: the name is taken.
            NoSpaceError: the directory's tmpfs cannot hold the ring.
            ValueError: a size, policy or schema is out of range (the message names it),
                or ``keywords`` cannot be stored (a value that is not a card value).
            TypeError: a size is not an int, or the name not a str or Path.
        """
        schema = _schema(dtype, shape)
        if slot_bytes is None:
            if schema is None:
                raise ValueError("slot_bytes is required unless dtype and shape fix the frame size")
            slot_bytes = _schema_bytes(schema)
        F.check_sizes(slots, slot_bytes, meta_bytes, policy)
        if schema is not None and _schema_bytes(schema) > slot_bytes:
            raise ValueError(f"a {schema.shape} {schema.typestr} frame needs {_schema_bytes(schema):,} "
                             f"bytes, more than slot_bytes={slot_bytes:,}")
        block = _keywords_block(keywords)
        layout = F.Layout(slots, slot_bytes, meta_bytes, policy, time.time_ns(), schema, len(block))
        seg = Segment.create(name, layout.total_bytes, directory=directory, mode=mode,
                             init=lambda buf: F.write_header(buf, layout, block))
        return cls(seg, layout)

    @classmethod
    def open(
        cls,
        name: NameOrPath,
        *,
        directory: str | os.PathLike[str] | None = None,
        reattach: bool = False,
    ) -> Ring:
        """Attach to an existing ring, validating its header before anything else.

        Args:
            name: ring name or ``pathlib.Path``.
            directory: where a bare name lives.
            reattach: when the name is later removed and created again, readers
                waiting on this handle move to the new ring (and log it) instead
                of raising :class:`BrokenError`.

        Raises:
            SegmentNotFoundError: no such ring.
            LayoutError: the file is not a v1 ring (the message names the field,
                what was expected and what was found).
        """
        seg = Segment.open(name, directory=directory, min_size=F.HEADER_BYTES)
        try:
            layout = F.read_header(seg.mapping(), seg.size, str(seg.path))
        except BaseException:
            seg.close()
            raise
        ring = cls(seg, layout, reattach=reattach)
        try:
            validate_counters(ring._mapping(), str(seg.path))
        except BaseException:
            ring.close()
            raise
        return ring

    @staticmethod
    def names(directory: str | os.PathLike[str] | None = None) -> list[str]:
        """Names of the files in the directory that start with the ring magic, sorted."""
        return _segment.names_with_magic(F.MAGIC, directory)

    def close(self) -> None:
        """Close this handle and every writer and reader made from it. Idempotent.

        The ring stays for other processes; numpy views still held keep their
        pages mapped until they are garbage-collected.
        """
        for child in list(self._children):
            child.close()
        if self._m is not None:
            self._m.close()
            self._m = None

    #: ``ring.unlink()``, or ``Ring.unlink(name, directory=None)``: remove the ring's name.
    unlink: HandleOrName[Ring] = HandleOrName()

    def _unlink_handle(self) -> None:
        """Remove the ring's name for everyone; attached processes keep working until they close.

        Waiters on this ring are woken so they notice at once.
        """
        m = self._mapping()
        m.seg.unlink()
        m.notify.wake_all()
        m.space.wake_all()

    @property
    def closed(self) -> bool:
        return self._m is None

    def __enter__(self) -> Ring:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        # A handle dropped without close() kept its descriptors, and with them its
        # "attached" lease, for the life of the process (found by the soak). Not in
        # a fork() child: unlocking there would unlock its parent's leases too.
        if getattr(self, "_m", None) is not None and self._generation == fork_generation():
            try:
                self.close()
            except (ShmringError, OSError):
                pass

    def __repr__(self) -> str:
        state = "closed" if self._m is None else f"{self.slots} x {self.slot_bytes:,} B, {self.policy}"
        return f"<Ring {self.name!r} {state}>"

    # -- writers and readers -----------------------------------------------------

    def writer(self, *, shared: bool = False) -> Writer:
        """A writer. One writer at a time unless every writer passes ``shared=True``.

        Raises:
            WouldBlock: another live writer holds the ring (exclusively, or shared
                when this one asks for exclusive).
        """
        return self._adopt(Writer(self, shared=shared))

    def reader(self, start: str = "next", queue: bool = False, *, name: str = "") -> Reader:
        """A reader.

        Args:
            start: ``"next"`` (frames written from now on), ``"oldest"`` (every
                frame still in the ring), or ``"latest"`` (the newest, then on).
            queue: share frames with the other queue readers (each frame goes to
                exactly one of them, FIFO) instead of seeing every frame.
            name: up to 8 ASCII characters shown by ``stats()`` and ``shmring info``.

        Raises:
            ReaderTableFullError: all reader entries are held by live readers.
            ValueError: ``start`` is not one of the three.
        """
        return self._adopt(Reader(self, start=start, queue=queue, name=name))

    def _adopt(self, child: _Child) -> _Child:
        self._children.add(child)
        return child

    # -- inspection ----------------------------------------------------------------

    def info(self) -> RingInfo:
        """Sizes, policy, schema and counters of the ring, read now."""
        m = self._mapping()
        return RingInfo(**self._info_fields(m))

    def stats(self) -> RingStats:
        """:meth:`info` plus the write rate, the last write time and one row per reader."""
        m = self._mapping()
        fields = self._info_fields(m)
        rate, last_ns = self._rate(m, fields["write_seq"])
        return RingStats(**fields, rate_hz=rate, last_write_ns=last_ns, readers=tuple(self.readers()))

    def readers(self) -> list[ReaderInfo]:
        """One row per reader entry in use, live or dead."""
        m = self._mapping()
        return m.table.rows(m.write_seq())

    def _info_fields(self, m: Attachment) -> dict[str, Any]:
        lay = m.layout
        return {
            "name": self.name, "path": str(self.path), "layout_version": F.VERSION,
            "slots": lay.slots, "slot_bytes": lay.slot_bytes, "meta_bytes": lay.meta_bytes,
            "slot_stride": lay.slot_stride, "total_bytes": lay.total_bytes, "policy": lay.policy,
            "created_ns": lay.created_ns, "keywords": self.keywords.cards,
            "dtype": lay.schema.typestr if lay.schema else None,
            "shape": lay.schema.shape if lay.schema else None,
            "write_seq": m.write_seq(), "queue_seq": m.queue_seq(), "writer_alive": m.writer_alive(),
        }

    @staticmethod
    def _rate(m: Attachment, write_seq: int) -> tuple[float, int]:
        """Frames per second over the frames still in the ring, up to now; and the last write time.

        Counting up to now (not to the last frame) makes the rate fall toward
        zero once the writer stops, instead of repeating its last value.
        """
        times = []
        for seq in range(max(0, write_seq - m.layout.slots), write_seq):
            off = m.layout.slot_offset(seq)
            if _sync.load64(m.buf, off + F.S_SEQLOCK) == F.committed(seq):
                times.append(F.unpack_slot(m.buf, off).monotonic_ns)
        last_ns = F.unpack_slot(m.buf, m.layout.slot_offset(write_seq - 1)).timestamp_ns if write_seq else 0
        span = time.monotonic_ns() - times[0] if len(times) >= 2 else 0
        if span <= 0:
            return 0.0, last_ns
        return (len(times) - 1) * 1e9 / span, last_ns

    # -- internals for Writer / Reader ---------------------------------------------------

    def _mapping(self) -> Attachment:
        if self._m is None:
            raise ClosedError(f"ring {self.name!r} was closed")
        # the module's counter read in place: this runs a few times a frame, a call would cost more
        if self._generation != _attachment._fork_generation:
            raise BrokenError(
                f"ring {self.name!r} was opened in process {self._pid} and used after fork() in "
                f"{os.getpid()}: a child shares its parent's locks, so it must Ring.open() anew")
        return self._m

    def _name_moved(self) -> bool:
        """Whether the name now means another file or none; False once closed. Safe from any thread."""
        m = self._m
        return m is not None and m.seg.replaced()

    def _check_replaced(self) -> bool:
        """Raise BrokenError if the name now means another file; re-attach and return True if asked."""
        m = self._mapping()
        if not m.seg.replaced():
            return False
        if not self.reattach:
            raise BrokenError(
                f"ring {self.name!r} was removed or re-created under the same name; this handle "
                "still maps the old file (open it again, or open with reattach=True)", name=self.name)
        try:
            new = Ring.open(self.path)
        except SegmentNotFoundError:
            return False  # removed, not yet created again: keep the old mapping until it is
        self._m, new._m = new._m, None
        self._set_layout(self._m.layout)  # type: ignore[union-attr]
        self._load_keywords()
        m.close()
        log.warning("shmring: ring %r was re-created; re-attached to the new file", self.name)
        return True


def _keywords_block(keywords: object) -> bytes:
    """The encoded stream keywords; ValueError naming ``keywords`` if they cannot be stored."""
    try:
        block = _meta.encode(keywords, 1 << 62)  # the size is checked below, against its own limit
    except FrameError as err:
        raise ValueError(f"keywords: {err}") from None
    F.check_keywords_len(len(block))
    return block


def _schema(dtype: DTypeLike | None, shape: tuple[int, ...] | None) -> F.Schema | None:
    if dtype is None and shape is None:
        return None
    if dtype is None or shape is None:
        raise ValueError("a fixed schema needs both dtype and shape")
    dt = np.dtype(dtype)
    if dt.kind not in F.ALLOWED_KINDS or dt.fields is not None:
        raise ValueError(f"dtype must be a bool, integer, float or complex type, got {dt}")
    dims = tuple(int(n) for n in shape)
    if not 1 <= len(dims) <= F.MAX_DIMS or any(n < 0 for n in dims):
        raise ValueError(f"shape must have 1..{F.MAX_DIMS} non-negative dims, got {shape!r}")
    return F.Schema(dt.str, dims)


def _schema_bytes(schema: F.Schema) -> int:
    return F.schema_bytes(schema)
