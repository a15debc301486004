"""The legacy queue's put and get on a mapped file: the original rules, in shmring's store order.

Callers hold the file's Locker; these functions only touch bytes, after
checking the header against the geometry validated at open, so a header
corrupted since then is an error before any slot is touched.

Store order (the originals take no lock, so order is what keeps them safe):
a put writes payload and BufHeader, then head, then count (an atomic
increment); a get reads count first (acquire), then the slot, then moves tail
and decrements count (atomic). A reader that sees the new count therefore sees
the complete slot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from .._errors import LayoutError
from .._sync import fetch_add32, load32, store32
from . import _format as fmt
from ._buffers import convert
from ._format import MemHeader

__all__ = ["Buf", "live_header", "put_slot", "take_slot", "write_header_if_blank"]


class Buf(NamedTuple):
    """One buffer taken from the queue."""

    data: Any  #: bytes, or a numpy array when get_buf was given dtype/shape
    put_counter: int
    width: int
    height: int
    flags: int


def live_header(buf: Any, known: MemHeader, path: Path) -> MemHeader:
    """The header now, with item_size/item_alloc pinned to ``known`` and head/tail/count range-checked."""
    h = fmt.read_header(buf)
    if h.signature == fmt.SIGNATURE and (h.item_size, h.item_alloc) != (known.item_size, known.item_alloc):
        field = "item_size" if h.item_size != known.item_size else "item_alloc"
        raise LayoutError(f"{path} header changed under us: {field} is {getattr(h, field)}, "
                          f"was {getattr(known, field)} at open", path=str(path), field=field,
                          expected=getattr(known, field), found=getattr(h, field))
    h = h._replace(item_size=known.item_size, item_alloc=known.item_alloc)
    fmt.validate_cursors(h, path)
    return h


def put_slot(buf: Any, h: MemHeader, payload: memoryview, record: tuple[int, int, int, int]) -> bool:
    """Write one buffer at head if a slot is free; False when all item_alloc slots are full."""
    if load32(buf, fmt.OFF_COUNT) >= h.item_alloc:
        return False
    n = min(len(payload), h.item_size) or h.item_size  # buf_len 0 means item_size
    off = fmt.slot_offset(h.item_size, h.head)
    start = off + fmt.SLOT_PAYLOAD
    k = min(n, len(payload))
    buf[start : start + k] = payload[:k]
    if k < n:
        buf[start + k : start + n] = bytes(n - k)
    counter, width, height, flags = record
    fmt.BUF_HEADER.pack_into(buf, off, counter, n, width, height, flags)
    store32(buf, fmt.OFF_HEAD, (h.head + 1) % h.item_alloc)  # release: the slot is complete
    fetch_add32(buf, fmt.OFF_COUNT, 1)  # atomic, so a concurrent shmring get's -1 is never lost
    return True


def take_slot(buf: Any, h: MemHeader, dtype: Any, shape: tuple[int, ...] | None) -> Buf | None:
    """Take the buffer at tail, or None (empty, wrong signature, or buf_len not in 1..item_size)."""
    if h.signature != fmt.SIGNATURE or load32(buf, fmt.OFF_COUNT) == 0:
        return None
    off = fmt.slot_offset(h.item_size, h.tail)
    bh = fmt.BufHeader(*fmt.BUF_HEADER.unpack_from(buf, off))
    if not 0 < bh.buf_len <= h.item_size:
        return None
    start = off + fmt.SLOT_PAYLOAD
    # Convert before consuming: a buffer that does not fit dtype/shape stays queued.
    data = convert(bytes(buf[start : start + bh.buf_len]), dtype, shape, bh.width, bh.height)
    store32(buf, fmt.OFF_TAIL, (h.tail + 1) % h.item_alloc)
    fetch_add32(buf, fmt.OFF_COUNT, -1)
    return Buf(data, bh.put_counter, bh.width, bh.height, bh.flags)


def write_header_if_blank(buf: Any, size: int, item_size: int, item_alloc: int) -> None:
    """Write a fresh header where the signature is still 0 and the file is large enough (as the original)."""
    if load32(buf, fmt.OFF_SIGNATURE) != 0 or size < fmt.memsize(item_size, item_alloc):
        return
    # Fields first, signature last: whoever sees the signature sees a whole header.
    buf[4 : fmt.MEM_HEADER.size] = fmt.new_header(item_size, item_alloc)[4:]
    store32(buf, fmt.OFF_SIGNATURE, fmt.SIGNATURE)
