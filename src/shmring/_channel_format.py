"""The request/reply channel layout, version 1: the only module that knows a channel offset.

docs/format.md ("Channel format") is the normative description; this module
implements it and names every offset once. All integers are little-endian::

    0        4096                4096+stride              4096+slots*stride
    +--------+-------------------+-------------------+ ... +
    | header | slot 0            | slot 1            |     |
    +--------+-------------------+-------------------+ ... +

    header page (4096 bytes), 64-byte cache lines:
      line 0   identity   magic "SHMRCHAN", version, header bytes, total bytes,
                          slots, meta bytes, slot stride, slot bytes, created ns
      line 1   ids        next_id u64 (correlation ids handed out so far)
      line 2   requests   posted u32 (futex), sleepers u32: the server waits here
      line 3   free       freed u32 (futex), sleepers u32: clients wait for a slot
      line 4   server     epoch u32 (servers attached so far)
      line 7   lock bytes: 448 server lease, 450 attached
      (slot i's lease byte is the first byte of slot i)

    slot (stride a multiple of 4096), one exchange at a time:
      0    state u32 (futex): ticket << 3 | phase     4 waiters u32
      8    id u64            16 payload bytes u64
      24   kind u32          28 meta length u32
      32   dtype typestr (8 ASCII bytes, NUL padded)
      40   ndim u32          44 client pid u32 (informational)
      48   shape u64[4]      80 posted ns u64 (CLOCK_MONOTONIC, informational)
      128  metadata (UTF-8 JSON object, meta_bytes at most)
      payload at a 64-byte aligned offset after the metadata area
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from ._errors import LayoutError

MAGIC = b"SHMRCHAN"
VERSION = 1
HEADER_BYTES = 4096
PAGE = 4096
LINE = 64
MAX_DIMS = 4
MAX_SLOTS = 4096
MAX_META_BYTES = 1 << 20

# -- header -----------------------------------------------------------------------
_IDENTITY = struct.Struct("<8sIIQIIQQQ8x")
OFF_IDENTITY = 0
OFF_NEXT_ID = 64          # u64: correlation ids handed out (the next id is this + 1)
OFF_REQUESTS = 128        # WakeWord: u32 bumped on each posted request, u32 sleeping servers
OFF_FREE = 192            # WakeWord: u32 bumped when a slot is freed, u32 clients waiting for one
OFF_SERVER_EPOCH = 256    # u32: servers that attached so far

# -- lock bytes (file offsets used only for OFD locks, never read or written) --------
LOCK_SERVER = 448         # the one serving handle holds it exclusively
LOCK_ATTACHED = 450       # every open Channel handle holds it shared

# -- slot ----------------------------------------------------------------------------
SLOT_HEADER = 128
S_STATE = 0               # u32 futex word: ticket << PHASE_BITS | phase
S_WAITERS = 4             # u32 clients asleep on S_STATE (the server wakes only if non-zero)
_SLOT_FIELDS = struct.Struct("<QQII8sII4QQ")  # id .. posted ns, packed at S_ID
S_ID = 8
S_META = SLOT_HEADER

PHASE_BITS = 3
PHASE_MASK = (1 << PHASE_BITS) - 1
TICKET_MASK = (1 << (32 - PHASE_BITS)) - 1
FREE, CLAIMED, REQUEST, SERVING, REPLY, ABANDONED = range(6)
PHASE_NAMES = ("free", "claimed", "request", "serving", "reply", "abandoned")

KIND_BYTES, KIND_ARRAY, KIND_ERROR = 0, 1, 2
KINDS = (KIND_BYTES, KIND_ARRAY, KIND_ERROR)


def _round_up(n: int, to: int) -> int:
    return -(-n // to) * to


def phase(state: int) -> int:
    """The phase of a slot state word."""
    return state & PHASE_MASK


def ticket(state: int) -> int:
    """The claim counter of a slot state word (it tells one exchange from the next)."""
    return state >> PHASE_BITS


def state_word(ticket_: int, phase_: int) -> int:
    """A slot state word; the ticket wraps at 2**29."""
    return ((ticket_ & TICKET_MASK) << PHASE_BITS) | phase_


def next_claim(state: int) -> int:
    """The state word a client writes when it claims the slot for a new exchange."""
    return state_word(ticket(state) + 1, CLAIMED)


@dataclass(frozen=True)
class Layout:
    """Sizes of one channel and every offset derived from them."""

    slots: int
    slot_bytes: int
    meta_bytes: int
    created_ns: int = 0

    # Cached: the exchange path asks for these several times per request.
    @cached_property
    def payload_offset(self) -> int:
        """Offset of the payload inside a slot (64-byte aligned)."""
        return _round_up(SLOT_HEADER + self.meta_bytes, LINE)

    @cached_property
    def slot_stride(self) -> int:
        return _round_up(self.payload_offset + self.slot_bytes, PAGE)

    @property
    def total_bytes(self) -> int:
        return HEADER_BYTES + self.slots * self.slot_stride

    def slot_offset(self, index: int) -> int:
        """Offset of slot ``index``; its first byte is also the slot's lease byte."""
        return HEADER_BYTES + index * self.slot_stride

    def state_offset(self, index: int) -> int:
        return self.slot_offset(index) + S_STATE

    def waiters_offset(self, index: int) -> int:
        return self.slot_offset(index) + S_WAITERS

    def id_offset(self, index: int) -> int:
        return self.slot_offset(index) + S_ID

    def meta_offset(self, index: int) -> int:
        return self.slot_offset(index) + S_META

    def payload_start(self, index: int) -> int:
        return self.slot_offset(index) + self.payload_offset


def _as_int(label: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{label} must be an int, got {value!r}")
    return value


def check_sizes(slots: object, slot_bytes: object, meta_bytes: object) -> None:
    """Raise ValueError/TypeError naming the parameter when a requested size is out of range."""
    if not 1 <= _as_int("slots", slots) <= MAX_SLOTS:
        raise ValueError(f"slots must be in 1..{MAX_SLOTS}, got {slots}")
    if _as_int("slot_bytes", slot_bytes) < 1:
        raise ValueError(f"slot_bytes must be >= 1, got {slot_bytes}")
    if not 0 <= _as_int("meta_bytes", meta_bytes) <= MAX_META_BYTES:
        raise ValueError(f"meta_bytes must be in 0..{MAX_META_BYTES}, got {meta_bytes}")


# -- header encode / decode ----------------------------------------------------------

def write_header(buf: bytearray | memoryview | object, layout: Layout) -> None:
    """Write the identity line of a fresh (zero-filled) channel."""
    _IDENTITY.pack_into(buf, OFF_IDENTITY, MAGIC, VERSION, HEADER_BYTES, layout.total_bytes,  # type: ignore[arg-type]
                        layout.slots, layout.meta_bytes, layout.slot_stride, layout.slot_bytes,
                        layout.created_ns)


def _mismatch(name: str, field: str, expected: object, found: object, why: str = "") -> LayoutError:
    text = f"{name}: not a shmring channel of layout v{VERSION}: {field} is {found!r}, expected {expected}"
    return LayoutError(text + (f" ({why})" if why else ""), field=field, expected=expected, found=found)


def _why_magic(magic: bytes) -> str:
    if magic == b"SHMRING\x00":
        return "this is a shmring ring; open it with Ring.open"
    if magic[:4] == b"\x73\x19\x03\x11":
        return "this is a legacy SharedMem file"
    return ""


def read_header(buf: object, file_size: int, name: str) -> Layout:
    """Parse and validate a channel header against the file size.

    Raises:
        LayoutError: naming the first field that is not what layout v1 requires.
    """
    if file_size < HEADER_BYTES:
        raise _mismatch(name, "file size", f">= {HEADER_BYTES}", file_size, "truncated")
    magic, version, header_bytes, total, slots, meta_bytes, stride, slot_bytes, created_ns = (
        _IDENTITY.unpack_from(buf, OFF_IDENTITY))  # type: ignore[arg-type]
    if magic != MAGIC:
        raise _mismatch(name, "magic", repr(MAGIC), magic, _why_magic(magic))
    if version != VERSION:
        raise _mismatch(name, "version", VERSION, version, "written by another shmring version")
    if header_bytes != HEADER_BYTES:
        raise _mismatch(name, "header bytes", HEADER_BYTES, header_bytes)
    try:
        check_sizes(slots, slot_bytes, meta_bytes)
    except ValueError as err:
        raise _mismatch(name, "sizes", "in range", (slots, slot_bytes, meta_bytes), str(err)) from None
    layout = Layout(slots, slot_bytes, meta_bytes, created_ns)
    if stride != layout.slot_stride:
        raise _mismatch(name, "slot stride", layout.slot_stride, stride)
    if total != layout.total_bytes:
        raise _mismatch(name, "total bytes", layout.total_bytes, total)
    if file_size != total:
        raise _mismatch(name, "file size", total, file_size, "the file is truncated or was extended")
    return layout


# -- slot header ------------------------------------------------------------------------

class SlotHeader(NamedTuple):
    """What one side of an exchange stores in the slot before handing it over.

    A NamedTuple, not a frozen dataclass: it is built twice per request, and
    a frozen dataclass costs several times more to construct.
    """

    id: int
    payload_bytes: int
    kind: int
    meta_len: int
    typestr: str = ""
    shape: tuple[int, ...] = ()
    client_pid: int = 0
    posted_ns: int = 0


def pack_slot(buf: object, layout: Layout, index: int, h: SlotHeader) -> None:
    """Write every slot header field but the state word (the protocol moves that)."""
    shape = h.shape + (0,) * (MAX_DIMS - len(h.shape))
    _SLOT_FIELDS.pack_into(buf, layout.slot_offset(index) + S_ID, h.id, h.payload_bytes, h.kind,  # type: ignore[arg-type]
                           h.meta_len, h.typestr.encode("ascii"), len(h.shape), h.client_pid, *shape,
                           h.posted_ns)


def unpack_slot(buf: object, layout: Layout, index: int) -> SlotHeader:
    """Read the slot header fields after the state word (check them before trusting them)."""
    ident, nbytes, kind, meta_len, typestr, ndim, pid, *rest = _SLOT_FIELDS.unpack_from(
        buf, layout.slot_offset(index) + S_ID)  # type: ignore[arg-type]
    shape, posted_ns = rest[:MAX_DIMS], rest[MAX_DIMS]
    ndim = min(ndim, MAX_DIMS)
    return SlotHeader(ident, nbytes, kind, meta_len, typestr.rstrip(b"\x00").decode("ascii", "replace"),
                      tuple(shape[:ndim]), pid, posted_ns)


def check_slot(layout: Layout, h: SlotHeader, name: str) -> None:
    """Refuse a slot header no honest peer writes (a corrupt or hostile file).

    Raises:
        LayoutError: the field, the limit and the value.
    """
    if h.kind not in KINDS:
        raise _mismatch(name, "slot kind", f"one of {KINDS}", h.kind)
    if h.payload_bytes > layout.slot_bytes:
        raise _mismatch(name, "slot payload bytes", f"<= {layout.slot_bytes}", h.payload_bytes)
    if h.meta_len > layout.meta_bytes:
        raise _mismatch(name, "slot meta length", f"<= {layout.meta_bytes}", h.meta_len)
