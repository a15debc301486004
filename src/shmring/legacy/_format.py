"""The legacy ``io.files.SharedMem`` layout: every offset and rule, named once.

The original C++ producer, Python consumer and MATLAB class share these bytes;
shmring reads and writes them exactly. All integers are little-endian uint32,
nothing is aligned beyond 4 bytes::

    offset 0   MemHeader (32 bytes)
               +0  signature   0x11031973
               +4  memsize     32 + (20 + item_size) * item_alloc
               +8  flags       (unused by the queue, kept as found)
               +12 item_size   payload capacity of one slot, bytes
               +16 item_alloc  number of slots
               +20 head        slot the next put writes        (< item_alloc)
               +24 tail        slot the next get reads         (< item_alloc)
               +28 count       slots holding a buffer           (<= item_alloc)
    offset 32 + i * (20 + item_size): slot i
               +0  put_counter the writer's running put count (every attempt)
               +4  buf_len     payload bytes, 0 < buf_len <= item_size
               +8  width       image width (pixels)
               +12 height      image height (pixels)
               +16 flags       BUFH_* (1 = UYVY, 2 = MATLAB RGB)
               +20 payload     buf_len bytes, then unused bytes up to item_size

The send/answer message file is 256 bytes: byte 0 is the message length
(0 = idle, or reply ready), bytes 1..255 the text.

shmring's own lock file for a legacy file (never touched by the originals),
64 bytes::

    +0  magic        b"SHMRLCK1"
    +8  lock wake    WakeWord bumped when the update lock is released
    +16 data wake    WakeWord bumped after every shmring put / raw write /
                     send / answer, so shmring peers sleep on a futex
    +32 update lock  byte held (OFD lock) around every header update
    +33 exchange     byte a shmring sender holds for a whole send/answer exchange
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .._errors import LayoutError
from .._format import LEGACY_SIGNATURE, LEGACY_SIGNATURE_BYTES, is_legacy_header

__all__ = [
    "ATTACHED_LOCK_BYTE",
    "BUFH_MAT_RGB",
    "BUFH_UYVY",
    "BUF_HEADER",
    "LOCK_MAGIC",
    "LOCK_SIZE",
    "MEM_HEADER",
    "MSG_FILE_SIZE",
    "MSG_MAX_TEXT",
    "SIGNATURE",
    "SIGNATURE_BYTES",
    "BufHeader",
    "MemHeader",
    "is_legacy_header",
    "memsize",
    "slot_offset",
    "validate_header",
]

#: The signature (a file's first uint32) and its 4 bytes; named once, in the native
#: format module beside the magic it must differ from.
SIGNATURE, SIGNATURE_BYTES = LEGACY_SIGNATURE, LEGACY_SIGNATURE_BYTES
BUFH_UYVY = 1
BUFH_MAT_RGB = 2
UINT32_MAX = 0xFFFFFFFF

MEM_HEADER = struct.Struct("<8I")
BUF_HEADER = struct.Struct("<5I")

# MemHeader field offsets (bytes from the start of the file).
OFF_SIGNATURE = 0
OFF_MEMSIZE = 4
OFF_FLAGS = 8
OFF_ITEM_SIZE = 12
OFF_ITEM_ALLOC = 16
OFF_HEAD = 20
OFF_TAIL = 24
OFF_COUNT = 28

# BufHeader field offsets (bytes from the start of a slot).
SLOT_PUT_COUNTER = 0
SLOT_BUF_LEN = 4
SLOT_PAYLOAD = BUF_HEADER.size

# The send/answer file.
MSG_FILE_SIZE = 256
MSG_LEN = 0
MSG_TEXT = 1
MSG_MAX_TEXT = MSG_FILE_SIZE - 1

# shmring's lock file beside each legacy file.
LOCK_MAGIC = b"SHMRLCK1"
LOCK_SIZE = 64
LOCK_WAKE = 8
DATA_WAKE = 16
UPDATE_LOCK_BYTE = 32
EXCHANGE_LOCK_BYTE = 33
#: Every open Locker handle holds this byte shared; ``shmring gc`` takes it exclusively to collect the file.
ATTACHED_LOCK_BYTE = 34


class MemHeader(NamedTuple):
    """The 32-byte header at offset 0, as found."""

    signature: int
    memsize: int
    flags: int
    item_size: int
    item_alloc: int
    head: int
    tail: int
    count: int  # type: ignore[assignment]  # the original's name; shadows tuple.count


class BufHeader(NamedTuple):
    """The 20-byte header in front of each slot's payload."""

    put_counter: int
    buf_len: int
    width: int
    height: int
    flags: int


def memsize(item_size: int, item_alloc: int) -> int:
    """Bytes of a legacy file holding ``item_alloc`` slots of ``item_size`` payload bytes."""
    return MEM_HEADER.size + (BUF_HEADER.size + item_size) * item_alloc


def slot_offset(item_size: int, index: int) -> int:
    """Offset of slot ``index``'s BufHeader."""
    return MEM_HEADER.size + index * (BUF_HEADER.size + item_size)


def check_geometry(item_size: int, item_alloc: int) -> int:
    """Return the memsize for a new file, or TypeError/ValueError naming the parameter and rule."""
    for name, value in (("item_size", item_size), ("item_alloc", item_alloc)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int >= 1, got {value!r} ({type(value).__name__})")
        if value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    size = memsize(item_size, item_alloc)
    if size > UINT32_MAX:
        raise ValueError(
            f"memsize 32 + (20 + item_size) * item_alloc must fit in 32 bits (<= {UINT32_MAX:,}); "
            f"item_size={item_size:,} and item_alloc={item_alloc} give {size:,}"
        )
    return size


def new_header(item_size: int, item_alloc: int) -> bytes:
    """The header of an empty queue (head = tail = count = 0)."""
    return MEM_HEADER.pack(SIGNATURE, memsize(item_size, item_alloc), 0, item_size, item_alloc, 0, 0, 0)


def read_header(buf: object) -> MemHeader:
    return MemHeader(*MEM_HEADER.unpack_from(buf, 0))  # type: ignore[arg-type]


def _refuse(path: object, field: str, expected: object, found: object, why: str) -> LayoutError:
    return LayoutError(
        f"{path} is not a usable legacy SharedMem file: {field} {why} (expected {expected}, found {found})",
        path=str(path), field=field, expected=expected, found=found,
    )


def validate_header(h: MemHeader, file_size: int, path: object) -> None:
    """Refuse a header that does not describe a consistent queue inside ``file_size`` bytes.

    Raises:
        LayoutError: naming the field, what was expected and what was found.
    """
    if h.signature != SIGNATURE:
        raise _refuse(path, "signature", f"{SIGNATURE:#010x}", f"{h.signature:#010x}",
                      "does not match (not a SharedMem file, or not initialised yet)")
    if h.item_size < 1:
        raise _refuse(path, "item_size", ">= 1", h.item_size, "is out of range")
    if h.item_alloc < 1:
        raise _refuse(path, "item_alloc", ">= 1", h.item_alloc, "is out of range")
    formula = memsize(h.item_size, h.item_alloc)
    if h.memsize != formula:
        raise _refuse(path, "memsize", formula, h.memsize,
                      f"disagrees with 32 + (20 + {h.item_size}) * {h.item_alloc}")
    if h.memsize > file_size:
        raise _refuse(path, "memsize", f"<= file size {file_size}", h.memsize, "exceeds the file (truncated?)")
    validate_cursors(h, path)


def validate_cursors(h: MemHeader, path: object) -> None:
    """Refuse head/tail/count outside the queue (checked before every slot access)."""
    for field in ("head", "tail"):
        value = getattr(h, field)
        if value >= h.item_alloc:
            raise _refuse(path, field, f"< item_alloc {h.item_alloc}", value, "is out of range")
    if h.count > h.item_alloc:
        raise _refuse(path, "count", f"<= item_alloc {h.item_alloc}", h.count, "is out of range")


def validate_lock_file(buf: object, size: int, path: object) -> None:
    """Refuse a lock file that is not shmring's (wrong size or magic)."""
    if size != LOCK_SIZE:
        raise LayoutError(f"{path} is not a shmring legacy lock file: file size (expected {LOCK_SIZE}, "
                          f"found {size})", path=str(path), field="file size", expected=LOCK_SIZE, found=size)
    magic = bytes(buf[: len(LOCK_MAGIC)])  # type: ignore[index]
    if magic != LOCK_MAGIC:
        raise LayoutError(f"{path} is not a shmring legacy lock file: magic (expected {LOCK_MAGIC!r}, "
                          f"found {magic!r})", path=str(path), field="magic", expected=LOCK_MAGIC, found=magic)


def validate_message_file(size: int, path: object) -> None:
    """Refuse a send/answer file whose size is not 256 bytes."""
    if size != MSG_FILE_SIZE:
        raise LayoutError(
            f"{path} is not a send/answer message file: file size (expected {MSG_FILE_SIZE}, found {size})",
            path=str(path), field="file size", expected=MSG_FILE_SIZE, found=size,
        )
