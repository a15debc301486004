"""Finding, inspecting, creating, adopting and re-opening legacy queue files (validation before use)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

from .._errors import LayoutError, SegmentNotFoundError, SegmentPermissionError
from .._segment import Segment, validate_name
from . import _format as fmt
from ._format import MemHeader
from ._locker import Locker
from ._queue import write_header_if_blank

__all__ = ["DEFAULT_DIR", "LOCK_TIMEOUT", "PREFIX", "adopt", "checked_header", "create_queue", "inspect",
           "legacy_path", "locker_for", "open_segment", "reopen_if_replaced"]

#: Seconds a header update waits for the Locker before giving up (shmring holds it for microseconds).
LOCK_TIMEOUT = 10.0
#: Where the original put a bare name: ``/tmp/smem_<name>``.
DEFAULT_DIR = "/tmp"
PREFIX = "smem_"

NameOrPath = Union[str, "os.PathLike[str]"]


def legacy_path(name_or_path: NameOrPath, directory: str | os.PathLike[str] | None = None) -> Path:
    """The file of a legacy name: ``camera1`` -> ``/tmp/smem_camera1``; a path (str with '/', or PathLike) as given."""
    if isinstance(name_or_path, os.PathLike):
        return Path(name_or_path)
    if not isinstance(name_or_path, str):
        raise TypeError(f"name_or_path must be a str or os.PathLike, got {name_or_path!r}")
    if "/" in name_or_path:
        return Path(name_or_path)
    return Path(directory if directory is not None else DEFAULT_DIR) / f"{PREFIX}{validate_name(name_or_path)}"


def open_segment(path: Path, writable: bool | None, min_size: int) -> Segment:
    """Map ``path``; ``writable=None`` falls back to read-only when the mode refuses writing."""
    if writable is not None:
        return Segment.open(path, min_size=min_size, writable=writable)
    try:
        return Segment.open(path, min_size=min_size)
    except SegmentPermissionError:
        return Segment.open(path, min_size=min_size, writable=False)


def checked_header(seg: Segment) -> MemHeader:
    """The header of ``seg``, or LayoutError naming what is wrong with it."""
    header = fmt.read_header(seg.mapping())
    fmt.validate_header(header, seg.size, seg.path)
    return header


def create_queue(path: Path, item_size: int, item_alloc: int, mode: int) -> Segment:
    """A new zero-filled queue file with its header, published atomically (SegmentExistsError if taken)."""
    size = fmt.check_geometry(item_size, item_alloc)
    header = fmt.new_header(item_size, item_alloc)

    def init(buf: Any) -> None:
        buf[: len(header)] = header

    return Segment.create(path, size, mode=mode, init=init)


def adopt(path: Path, item_size: int, item_alloc: int, locker: Locker) -> tuple[Segment, MemHeader]:
    """Open an existing file, writing the header if its signature is 0, and check its geometry."""
    seg = Segment.open(path, min_size=fmt.MEM_HEADER.size)
    try:
        with locker:
            write_header_if_blank(seg.mapping(), seg.size, item_size, item_alloc)
        header = checked_header(seg)
        for field, wanted in (("item_size", item_size), ("item_alloc", item_alloc)):
            found = getattr(header, field)
            if found != wanted:
                raise LayoutError(f"{path} exists with {field} {found}, not {wanted}",
                                  path=str(path), field=field, expected=wanted, found=found)
    except BaseException:
        seg.close()
        raise
    return seg, header


def reopen_if_replaced(seg: Segment) -> tuple[Segment, MemHeader] | None:
    """The valid file now at ``seg.path`` if it is not the one mapped; None if unchanged or not ready yet."""
    if not seg.replaced():
        return None
    try:
        fresh = Segment.open(seg.path, min_size=fmt.MEM_HEADER.size, writable=seg.writable)
    except (SegmentNotFoundError, LayoutError):
        return None  # gone, or being re-created right now: look again next time
    try:
        return fresh, checked_header(fresh)
    except LayoutError:
        fresh.close()  # header not written yet (signature 0): look again next time
        return None



def inspect(path: str | os.PathLike[str]) -> MemHeader | None:
    """Read a legacy file's header without opening it for use: no Locker, no lock, no write.

    Returns:
        The validated header; None for a file with no signature (the seed's raw
        self-test and send/answer files carry no header).

    Raises:
        LayoutError: the signature is there but the header does not describe a
            consistent queue in this file (naming the field, expected and found).
        OSError: the file cannot be read.
    """
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        raw = f.read(fmt.MEM_HEADER.size)
    if len(raw) < fmt.MEM_HEADER.size or fmt.read_header(raw).signature != fmt.SIGNATURE:
        return None
    header = fmt.read_header(raw)
    fmt.validate_header(header, size, path)
    return header


def locker_for(seg: Segment) -> Locker | None:
    """The file's Locker; None for a read-only handle whose user may not use the lock file.

    A read-only handle only reads (``read``, ``header``), which needs no lock;
    it then also learns of new data only by looking (as with the originals).
    """
    try:
        return Locker.for_file(seg.path, timeout=LOCK_TIMEOUT)
    except PermissionError:  # SegmentPermissionError is one too
        if seg.writable:
            raise
        return None
