"""The native ring layout, version 1: the only module that knows an offset.

docs/format.md is the normative description; this module implements it and
names every offset once. All integers are little-endian::

    0        4096       H                  H+stride            H+slots*stride
    +--------+----------+------------------+------------------+ ... +
    | header | keywords | slot 0           | slot 1           |     |
    +--------+----------+------------------+------------------+ ... +

    H = header_bytes = 4096 + round_up(keywords_len, 4096): 4096 for a ring
    without stream keywords (the keywords area is then absent).

    header page (4096 bytes), 64-byte cache lines:
      line 0   identity   magic "SHMRING\\0", version, header bytes, total bytes,
                          slots, policy, slot stride, slot bytes, meta bytes,
                          reader entries, created ns
      line 1   schema     has schema, ndim, dtype typestr, shape[4]
      line 2   write      write_seq u64 (frames committed), writer lock byte
      line 3   notify     notify u32 (futex), waiters u32
      line 4   queue      queue_seq u64 (next frame a queue reader claims)
      line 5   space      space u32 (futex), waiters u32
      line 6   writer     writer-lock wake word (2 x u32)
      line 7   lock bytes: 448 writer presence, 449 writer put lock, 450 attached
      line 8   keywords   keywords_len u32: bytes of the stream keywords at 4096
      1024     reader table: READER_ENTRIES entries of 64 bytes

    slot (stride a multiple of 4096):
      0    seqlock u64    odd 2s+1: frame s being written; even 2s+2: frame s committed
      8    seq u64        16 payload bytes u64   24 timestamp ns (CLOCK_REALTIME)
      32   monotonic ns   40 flags u32           44 meta length u32
      48   dtype typestr (8 ASCII bytes, NUL padded)   56 ndim u32
      64   shape u64[4]   96..127 reserved
      128  metadata (UTF-8 JSON object, meta_bytes at most)
      payload at a 64-byte aligned offset after the metadata area
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass

from ._errors import LayoutError

MAGIC = b"SHMRING\x00"
#: The original ``io.files.SharedMem`` file's signature (its first uint32, little-endian;
#: docs/format-legacy.md). Named here, with the native magic it must never equal, so that
#: both layouts' formats share it without the native one importing the legacy package.
LEGACY_SIGNATURE = 0x11031973
LEGACY_SIGNATURE_BYTES = LEGACY_SIGNATURE.to_bytes(4, "little")
VERSION = 1
HEADER_BYTES = 4096
PAGE = 4096
LINE = 64
MAX_DIMS = 4
READER_ENTRIES = 48
MAX_SLOTS = 1 << 20

POLICIES = ("overwrite", "block", "drop")

# -- header: identity (line 0) and schema (line 1) -------------------------
_IDENTITY = struct.Struct("<8sIIQIIQQIIQ")  # see field order in pack_identity
_SCHEMA = struct.Struct("<II8s4Q")
OFF_IDENTITY = 0
OFF_SCHEMA = 64

# -- header: hot words, each group on its own cache line --------------------
OFF_WRITE_SEQ = 128          # u64: number of frames committed (next seq to write)
# A WakeWord is a pair of u32: a counter sleepers futex-wait on, then the sleeper count.
WAKE_COUNTER = 0
WAKE_SLEEPERS = 4
OFF_NOTIFY = 192             # u32 futex word, bumped after commits readers wait for
OFF_NOTIFY_WAITERS = OFF_NOTIFY + WAKE_SLEEPERS  # u32 readers asleep on OFF_NOTIFY (a WakeWord pair)
OFF_QUEUE_SEQ = 256          # u64: next frame a queue-mode reader claims
OFF_SPACE = 320              # u32 futex word, bumped when readers release frames
OFF_SPACE_WAITERS = OFF_SPACE + WAKE_SLEEPERS  # u32 writers asleep on OFF_SPACE (a WakeWord pair)
OFF_WRITER_WAKE = 384        # WakeWord (2 x u32) of the shared-writer lock

# -- stream keywords: written once at create, before the file gets its name ---------
OFF_KEYWORDS_LEN = 512       # u32: length of the keywords block (0: none, header_bytes 4096)
OFF_KEYWORDS = HEADER_BYTES  # the block (metadata encoding), padded with zeros to a page multiple
MAX_KEYWORDS_BYTES = 1 << 20

# -- lock bytes (file offsets used only for OFD locks, never read or written) --
LOCK_WRITER_PRESENCE = 448   # writers hold it while attached: exclusive, or shared
LOCK_WRITER_PUT = 449        # shared writers take it around each put
LOCK_ATTACHED = 450          # every open Ring handle holds it shared: "someone has it open"

# -- reader table -----------------------------------------------------------
OFF_READERS = 1024
READER_ENTRY = 64
R_CURSOR = 0        # u64 next seq this reader reads
R_RELEASE = 8       # u64 frames < this are released (block policy waits on it)
R_ATTACHED_NS = 16  # u64 CLOCK_REALTIME at attach
R_ACTIVE_NS = 24    # u64 CLOCK_REALTIME of the last get
R_LOST = 32         # u64 frames this reader missed
R_RECEIVED = 40     # u64 frames this reader got
R_STATE = 48        # u32 STATE_*
R_PID = 52          # u32 informational only (liveness is the lease)
R_NAME = 56         # 8 ASCII bytes
NAME_BYTES = 8
STATE_FREE, STATE_BROADCAST, STATE_QUEUE = 0, 1, 2
NO_PIN = (1 << 64) - 1  # R_RELEASE of a reader that pins nothing

# -- slot header --------------------------------------------------------------
SLOT_HEADER = 128
S_SEQLOCK = 0
_SLOT_FIELDS = struct.Struct("<QQQQII8sI4x4Q")  # seq..shape, packed at S_SEQ
S_SEQ = 8
S_META = SLOT_HEADER

# -- seqlock encoding: frame s being written reads 2s+1 (odd), committed 2s+2 (even; 0: never written)
SEQLOCK_STRIDE = 2
SEQLOCK_WRITING = 1
SEQLOCK_COMMITTED = 2

# -- dtypes: numpy typestrs of these byte orders and kinds, items of at most MAX_ITEMSIZE bytes
TYPESTR_BYTEORDERS = "<>|="
ALLOWED_KINDS = "biufc"
MAX_ITEMSIZE = 32

Buffer = bytes | bytearray | memoryview | mmap.mmap
WritableBuffer = bytearray | memoryview | mmap.mmap



def is_legacy_header(head: bytes) -> bool:
    """Whether a file's first bytes ``head`` start with the legacy signature (nothing else is checked)."""
    return bytes(head[: len(LEGACY_SIGNATURE_BYTES)]) == LEGACY_SIGNATURE_BYTES

def _round_up(n: int, to: int) -> int:
    return -(-n // to) * to


def reader_offset(index: int) -> int:
    """Offset of reader entry ``index``; its first byte is also its lease byte."""
    return OFF_READERS + index * READER_ENTRY


@dataclass(frozen=True)
class Schema:
    """A fixed frame type: numpy ``typestr`` (e.g. ``'<u2'``) and shape."""

    typestr: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Layout:
    """Sizes of one ring and every offset derived from them."""

    slots: int
    slot_bytes: int
    meta_bytes: int
    policy: str
    created_ns: int = 0
    schema: Schema | None = None
    keywords_len: int = 0

    @property
    def header_bytes(self) -> int:
        """Where slot 0 starts: the header page, plus the stream keywords' pages if any."""
        return HEADER_BYTES + _round_up(self.keywords_len, PAGE)

    @property
    def payload_offset(self) -> int:
        """Offset of the payload inside a slot (64-byte aligned)."""
        return _round_up(SLOT_HEADER + self.meta_bytes, LINE)

    @property
    def slot_stride(self) -> int:
        return _round_up(self.payload_offset + self.slot_bytes, PAGE)

    @property
    def total_bytes(self) -> int:
        return self.header_bytes + self.slots * self.slot_stride

    def slot_offset(self, seq: int) -> int:
        """Offset of the slot that frame ``seq`` lives in."""
        return self.header_bytes + (seq % self.slots) * self.slot_stride


def check_sizes(slots: int, slot_bytes: int, meta_bytes: int, policy: str) -> None:
    """Raise TypeError (not an int) or ValueError (out of range) naming the parameter."""
    for param, value in (("slots", slots), ("slot_bytes", slot_bytes), ("meta_bytes", meta_bytes)):
        if not isinstance(value, int):
            raise TypeError(f"{param} must be an int (bytes or a count), got {value!r}")
    if not 2 <= slots <= MAX_SLOTS:
        raise ValueError(f"slots must be an int in 2..{MAX_SLOTS}, got {slots!r}")
    if slot_bytes < 1:
        raise ValueError(f"slot_bytes must be an int >= 1, got {slot_bytes!r}")
    if not 0 <= meta_bytes <= 1 << 20:
        raise ValueError(f"meta_bytes must be an int in 0..{1 << 20}, got {meta_bytes!r}")
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}; got {policy!r}")


# -- header encode / decode ----------------------------------------------------

def check_keywords_len(size: int) -> None:
    """ValueError if an encoded keywords block of ``size`` bytes is more than a ring holds."""
    if size > MAX_KEYWORDS_BYTES:
        raise ValueError(f"keywords are {size:,} bytes encoded, a ring holds at most {MAX_KEYWORDS_BYTES:,}")


def write_header(buf: WritableBuffer, layout: Layout, keywords: bytes = b"") -> None:
    """Write the identity, schema and keywords of a fresh (zero-filled) ring.

    ``keywords`` is the encoded block, ``layout.keywords_len`` bytes long.
    """
    if len(keywords) != layout.keywords_len:
        raise ValueError(f"keywords block is {len(keywords)} bytes, the layout says {layout.keywords_len}")
    struct.pack_into("<I", buf, OFF_KEYWORDS_LEN, layout.keywords_len)
    buf[OFF_KEYWORDS: OFF_KEYWORDS + len(keywords)] = keywords
    _IDENTITY.pack_into(
        buf, OFF_IDENTITY, MAGIC, VERSION, layout.header_bytes, layout.total_bytes, layout.slots,
        POLICIES.index(layout.policy), layout.slot_stride, layout.slot_bytes, layout.meta_bytes,
        READER_ENTRIES, layout.created_ns,
    )
    schema = layout.schema
    shape = list(schema.shape) + [0] * (MAX_DIMS - len(schema.shape)) if schema else [0] * MAX_DIMS
    _SCHEMA.pack_into(
        buf, OFF_SCHEMA, 1 if schema else 0, len(schema.shape) if schema else 0,
        schema.typestr.encode("ascii") if schema else b"", *shape,
    )


def _mismatch(name: str, field: str, expected: object, found: object, why: str = "") -> LayoutError:
    text = f"{name}: not a shmring ring of layout v{VERSION}: {field} is {found!r}, expected {expected}"
    return LayoutError(text + (f" ({why})" if why else ""), field=field, expected=expected, found=found)


def read_header(buf: Buffer, file_size: int, name: str) -> Layout:
    """Parse and validate a ring header against the file size.

    Raises:
        LayoutError: naming the first field that is not what layout v1 requires.
    """
    if file_size < HEADER_BYTES:
        raise _mismatch(name, "file size", f">= {HEADER_BYTES}", file_size, "truncated")
    (magic, version, header_bytes, total, slots, policy, stride, slot_bytes, meta_bytes,
     entries, created_ns) = _IDENTITY.unpack_from(buf, OFF_IDENTITY)
    if magic != MAGIC:
        why = "this is a legacy SharedMem file" if is_legacy_header(magic) else ""
        raise _mismatch(name, "magic", repr(MAGIC), magic, why)
    if version != VERSION:
        raise _mismatch(name, "version", VERSION, version, "written by another shmring version")
    (keywords_len,) = struct.unpack_from("<I", buf, OFF_KEYWORDS_LEN)
    if keywords_len > MAX_KEYWORDS_BYTES:
        raise _mismatch(name, "keywords length", f"0..{MAX_KEYWORDS_BYTES}", keywords_len)
    _expect(name, "header bytes", HEADER_BYTES + _round_up(keywords_len, PAGE), header_bytes)
    _expect(name, "reader entries", READER_ENTRIES, entries)
    if policy >= len(POLICIES):
        raise _mismatch(name, "policy", f"0..{len(POLICIES) - 1}", policy)
    try:
        check_sizes(slots, slot_bytes, meta_bytes, POLICIES[policy])
    except ValueError as err:
        raise _mismatch(name, "sizes", "in range", (slots, slot_bytes, meta_bytes), str(err)) from None
    schema = _read_schema(buf, name)
    if schema is not None and schema_bytes(schema) > slot_bytes:
        raise _mismatch(name, "schema size", f"<= slot bytes {slot_bytes}", schema_bytes(schema),
                        f"a {schema.shape} {schema.typestr} frame cannot fit a slot")
    layout = Layout(slots, slot_bytes, meta_bytes, POLICIES[policy], created_ns, schema, keywords_len)
    _expect(name, "slot stride", layout.slot_stride, stride)
    _expect(name, "total bytes", layout.total_bytes, total)
    if file_size != total:
        raise _mismatch(name, "file size", total, file_size, "the file is truncated or was extended")
    return layout


def read_keywords(buf: Buffer, layout: Layout) -> bytes:
    """The encoded stream keywords block of a validated ring (``b""`` if none)."""
    return bytes(buf[OFF_KEYWORDS: OFF_KEYWORDS + layout.keywords_len])


def _expect(name: str, field: str, expected: int, found: int) -> None:
    if expected != found:
        raise _mismatch(name, field, expected, found)


def _read_schema(buf: Buffer, name: str) -> Schema | None:
    has, ndim, typestr, *shape = _SCHEMA.unpack_from(buf, OFF_SCHEMA)
    if not has:
        return None
    if not 1 <= ndim <= MAX_DIMS:
        raise _mismatch(name, "schema ndim", f"1..{MAX_DIMS}", ndim)
    text = typestr.rstrip(b"\x00").decode("ascii", "replace")
    if not is_valid_typestr(text):
        raise _mismatch(name, "schema dtype", "a numpy typestr like '<u2'", text)
    return Schema(text, tuple(shape[:ndim]))


def schema_bytes(schema: Schema) -> int:
    """Payload bytes of one frame of ``schema`` (item size from the typestr, times every dim)."""
    count = 1
    for dim in schema.shape:
        count *= dim
    return int(schema.typestr[2:]) * count


#: The item sizes numpy has for each kind shmring stores (``<c1`` or ``<f3`` are no numpy type).
ITEM_SIZES = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8, 16), "c": (8, 16, 32)}


def is_valid_typestr(text: str) -> bool:
    """Whether ``text`` is a typestr shmring stores: byte order, kind b/i/u/f/c, an item size of that kind."""
    return (len(text) >= 3 and text[0] in TYPESTR_BYTEORDERS and text[1] in ALLOWED_KINDS
            and text[2:].isdigit() and int(text[2:]) in ITEM_SIZES[text[1]])


# -- slot header ------------------------------------------------------------------

@dataclass(frozen=True)
class SlotHeader:
    """The fields a writer stores before committing a slot."""

    seq: int
    payload_bytes: int
    timestamp_ns: int
    monotonic_ns: int
    flags: int
    meta_len: int
    typestr: str
    shape: tuple[int, ...]


def pack_slot(buf: WritableBuffer, offset: int, h: SlotHeader) -> None:
    """Write every slot header field but the seqlock (the protocol writes that)."""
    shape = h.shape + (0,) * (MAX_DIMS - len(h.shape))
    _SLOT_FIELDS.pack_into(buf, offset + S_SEQ, h.seq, h.payload_bytes, h.timestamp_ns, h.monotonic_ns,
                           h.flags, h.meta_len, h.typestr.encode("ascii"), len(h.shape), *shape)


def unpack_slot(buf: Buffer, offset: int) -> SlotHeader:
    """Read the slot header fields after the seqlock (validate before trusting them)."""
    seq, nbytes, ts, mono, flags, meta_len, typestr, ndim, *shape = _SLOT_FIELDS.unpack_from(
        buf, offset + S_SEQ)
    ndim = min(ndim, MAX_DIMS)
    return SlotHeader(seq, nbytes, ts, mono, flags, meta_len,
                      typestr.rstrip(b"\x00").decode("ascii", "replace"), tuple(shape[:ndim]))


def committed(seq: int) -> int:
    """Seqlock value of a slot holding committed frame ``seq``."""
    return SEQLOCK_STRIDE * seq + SEQLOCK_COMMITTED


def writing(seq: int) -> int:
    """Seqlock value of a slot while frame ``seq`` is written into it."""
    return SEQLOCK_STRIDE * seq + SEQLOCK_WRITING


# -- the C fast path's view of the layout -----------------------------------------

_S_FIELD_OFFSETS = {  # slot header fields after the seqlock, in _SLOT_FIELDS order
    "s_seq": 8, "s_payload_bytes": 16, "s_timestamp": 24, "s_monotonic": 32, "s_flags": 40,
    "s_meta_len": 44, "s_dtype": 48, "s_ndim": 56, "s_shape": 64,
}


def core_layout(layout: Layout) -> dict[str, int | str | tuple[int, ...]]:
    """Everything ``shmring._core.Core`` knows of the layout, so the C code defines none of it itself.

    Every offset and size, the seqlock encoding (see :func:`writing` and
    :func:`committed`) and the typestr rules (see :func:`is_valid_typestr`).
    """
    return {
        "write_seq": OFF_WRITE_SEQ, "notify": OFF_NOTIFY, "notify_waiters": OFF_NOTIFY_WAITERS,
        "queue_seq": OFF_QUEUE_SEQ, "space": OFF_SPACE, "space_waiters": OFF_SPACE_WAITERS,
        "header_bytes": layout.header_bytes, "slot_stride": layout.slot_stride,
        "payload_offset": layout.payload_offset, "slots": layout.slots, "slot_bytes": layout.slot_bytes,
        "meta_bytes": layout.meta_bytes, "s_seqlock": S_SEQLOCK, "s_meta": S_META, **_S_FIELD_OFFSETS,
        "readers": OFF_READERS, "reader_entry": READER_ENTRY, "reader_count": READER_ENTRIES,
        "r_cursor": R_CURSOR, "r_release": R_RELEASE, "r_active": R_ACTIVE_NS, "r_lost": R_LOST,
        "r_received": R_RECEIVED, "r_state": R_STATE, "state_queue": STATE_QUEUE,
        "seqlock_stride": SEQLOCK_STRIDE, "seqlock_writing": SEQLOCK_WRITING,
        "seqlock_committed": SEQLOCK_COMMITTED, "typestr_byteorders": TYPESTR_BYTEORDERS,
        "typestr_kinds": ALLOWED_KINDS, "typestr_max_itemsize": MAX_ITEMSIZE,
        "typestr_size_masks": typestr_size_masks(),
    }


def typestr_size_masks() -> tuple[int, ...]:
    """For each kind of :data:`ALLOWED_KINDS`, in order, the item sizes it has as bits (size s: ``1 << s``)."""
    return tuple(sum(1 << size for size in ITEM_SIZES[kind]) for kind in ALLOWED_KINDS)
