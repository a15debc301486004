"""The bridge's bytes on the wire: every field of every message, and its validation.

The normative description is docs/bridge.md ("Wire format"); this module is the
only place that packs or unpacks them. All integers are little-endian.

A FRAME message is three ZeroMQ parts ``[header, meta, payload]``; a BEAT is the
header alone; a CREDIT (receiver to sender, lossless mode) is one part of its own
layout::

    header (136 bytes)
    0   magic "SRB1"      4    version (1)   5  kind    6  ndim   7  ring_flags
    8   ring_id (u64: the sender ring's created_ns)
    16  session (u64: random, one per sender process)
    24  seq  32 write_seq  40 sender_lost  48 timestamp_ns  56 monotonic_ns (u64 each)
    64  flags (u32)   68 meta_len (u32)   72 payload_len (u64)
    80  typestr (8 bytes, ASCII, NUL-padded)   88 shape (4 x u64)
    120 slots (u32)   124 meta_bytes (u32)   128 slot_bytes (u64)

    credit (40 bytes)
    0 magic "SRB1"  4 version  5 kind (3)  6 reserved (u16, 0)
    8 session (u64: random, one per receiver process)  16 ring_id (u64, 0: none yet)
    24 next_seq (u64)  32 window (u32)  36 reserved (u32, 0)

Nothing here trusts a field: :func:`parse` checks every one against the others
and against the receiver's limits before anything touches a local ring.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

MAGIC = b"SRB1"
VERSION = 1
KIND_FRAME, KIND_BEAT, KIND_CREDIT = 1, 2, 3

#: ring_flags bit: the frame's dtype and shape are the sender ring's fixed schema.
RING_FIXED_SCHEMA = 0x1
#: ring_flags bit: the sender holds frames until acknowledged (lossless mode).
RING_LOSSLESS = 0x2
_KNOWN_RING_FLAGS = RING_FIXED_SCHEMA | RING_LOSSLESS

HEADER = struct.Struct("<4sBBBBQQQQQQQIIQ8s4QIIQ")
CREDIT = struct.Struct("<4sBBHQQQII")
MAX_DIMS = 4
TYPESTR_BYTES = 8
#: Sequence numbers at or above this are refused: the ring's seqlock holds 2*seq+2 in 64 bits.
MAX_SEQ = 1 << 62
MAX_SLOTS = 1 << 20
_KINDS = "biufc"
_MAX_ITEMSIZE = 32


class WireError(Exception):
    """A message that breaks the wire format; ``reason`` is the counter it is dropped under."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Header:
    """One FRAME or BEAT header, every field checked (see the module docstring)."""

    kind: int
    ring_flags: int
    ring_id: int
    session: int
    seq: int
    write_seq: int
    sender_lost: int
    timestamp_ns: int
    monotonic_ns: int
    flags: int
    meta_len: int
    payload_len: int
    typestr: str
    shape: tuple[int, ...]
    slots: int
    meta_bytes: int
    slot_bytes: int

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(self.typestr)


@dataclass(frozen=True)
class Credit:
    """The receiver's standing order: everything below ``next_seq`` is written; send below ``next_seq + window``."""

    session: int
    ring_id: int
    next_seq: int
    window: int


def pack_header(h: Header) -> bytes:
    """The 136 header bytes of ``h``."""
    shape = list(h.shape) + [0] * (MAX_DIMS - len(h.shape))
    return HEADER.pack(MAGIC, VERSION, h.kind, len(h.shape), h.ring_flags, h.ring_id, h.session, h.seq,
                       h.write_seq, h.sender_lost, h.timestamp_ns, h.monotonic_ns, h.flags, h.meta_len,
                       h.payload_len, h.typestr.encode("ascii"), *shape, h.slots, h.meta_bytes, h.slot_bytes)


def pack_credit(c: Credit) -> bytes:
    """The 40 credit bytes of ``c``."""
    return CREDIT.pack(MAGIC, VERSION, KIND_CREDIT, 0, c.session, c.ring_id, c.next_seq, c.window, 0)


def encode_meta(meta: dict[str, Any]) -> bytes:
    """Frame metadata as the ring stores it: a UTF-8 JSON object (empty bytes for none)."""
    return json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode("utf-8") if meta else b""


def parse(parts: list[Any], max_frame_bytes: int) -> tuple[Header, dict[str, Any], memoryview | None]:
    """Check a FRAME or BEAT message; return its header, metadata and payload (None for a beat).

    Raises:
        WireError: the first field that does not hold, with the counter name as ``reason``.
    """
    if not parts:
        raise WireError("parts", "empty message")
    header = _parse_header(_bytes(parts[0]), max_frame_bytes)
    want = 3 if header.kind == KIND_FRAME else 1
    if len(parts) != want:
        raise WireError("parts", f"a kind-{header.kind} message has {want} parts, got {len(parts)}")
    if header.kind == KIND_BEAT:
        return header, {}, None
    meta_raw, payload = _bytes(parts[1]), memoryview(_buffer(parts[2]))
    if len(meta_raw) != header.meta_len:
        raise WireError("meta length", f"header says {header.meta_len} bytes, the part has {len(meta_raw)}")
    if payload.nbytes != header.payload_len:
        raise WireError("payload length", f"header says {header.payload_len:,} bytes, the part has "
                                          f"{payload.nbytes:,}")
    return header, _parse_meta(meta_raw), payload


def parse_credit(raw: bytes) -> Credit:
    """Check a CREDIT message.

    Raises:
        WireError: wrong size, magic, version, kind or a field out of range.
    """
    if len(raw) != CREDIT.size:
        raise WireError("header size", f"a credit is {CREDIT.size} bytes, got {len(raw)}")
    magic, version, kind, _, session, ring_id, next_seq, window, _ = CREDIT.unpack(raw)
    _check_identity(magic, version)
    if kind != KIND_CREDIT:
        raise WireError("kind", f"expected a credit (kind {KIND_CREDIT}), got kind {kind}")
    if next_seq >= MAX_SEQ or not 1 <= window <= MAX_SLOTS:
        raise WireError("credit", f"next_seq {next_seq} must be < 2**62 and window {window} in 1..{MAX_SLOTS}")
    return Credit(session, ring_id, next_seq, window)


def _check_identity(magic: bytes, version: int) -> None:
    if magic != MAGIC:
        raise WireError("magic", f"expected {MAGIC!r}, got {magic!r}")
    if version != VERSION:
        raise WireError("version", f"this receiver speaks version {VERSION}, got {version}")


def _parse_header(raw: bytes, max_frame_bytes: int) -> Header:
    if len(raw) != HEADER.size:
        raise WireError("header size", f"a header is {HEADER.size} bytes, got {len(raw)}")
    (magic, version, kind, ndim, ring_flags, ring_id, session, seq, write_seq, sender_lost, ts, mono,
     flags, meta_len, payload_len, typestr_raw, *dims, slots, meta_bytes, slot_bytes) = HEADER.unpack(raw)
    _check_identity(magic, version)
    if kind not in (KIND_FRAME, KIND_BEAT):
        raise WireError("kind", f"expected a frame or a beat (kind 1 or 2), got kind {kind}")
    if ring_flags & ~_KNOWN_RING_FLAGS:
        raise WireError("ring flags", f"unknown bits in ring_flags {ring_flags:#x}")
    if seq >= MAX_SEQ or write_seq >= MAX_SEQ or sender_lost >= MAX_SEQ:
        raise WireError("seq", f"seq {seq}, write_seq {write_seq}, sender_lost {sender_lost}: each must be < 2**62")
    _check_geometry(slots, slot_bytes, meta_bytes, max_frame_bytes)
    if ndim > MAX_DIMS or any(dims[ndim:]):
        raise WireError("ndim", f"ndim {ndim} with shape {dims}: at most {MAX_DIMS} dims, unused ones 0")
    typestr = _parse_typestr(typestr_raw)
    shape = tuple(dims[:ndim])
    if kind == KIND_FRAME or ring_flags & RING_FIXED_SCHEMA:
        _check_size(typestr, shape, payload_len if kind == KIND_FRAME else None, slot_bytes)
    if kind == KIND_FRAME and meta_len > meta_bytes:
        raise WireError("meta length", f"{meta_len:,} bytes of metadata, more than the ring's {meta_bytes:,}")
    if kind == KIND_BEAT and (meta_len or payload_len):
        raise WireError("beat", f"a beat carries no data, got meta_len {meta_len} and payload_len {payload_len}")
    return Header(kind, ring_flags, ring_id, session, seq, write_seq, sender_lost, ts, mono, flags, meta_len,
                  payload_len, typestr, shape, slots, meta_bytes, slot_bytes)


def _check_geometry(slots: int, slot_bytes: int, meta_bytes: int, max_frame_bytes: int) -> None:
    if not 2 <= slots <= MAX_SLOTS:
        raise WireError("ring geometry", f"slots {slots} is outside 2..{MAX_SLOTS}")
    if not 1 <= slot_bytes <= max_frame_bytes:
        raise WireError("ring geometry", f"slot_bytes {slot_bytes:,} is outside 1..{max_frame_bytes:,} "
                                         "(the receiver's max_frame_bytes)")
    if meta_bytes > 1 << 24:
        raise WireError("ring geometry", f"meta_bytes {meta_bytes:,} is above 16 MiB")


def _parse_typestr(raw: bytes) -> str:
    text = raw.rstrip(b"\0")
    if b"\0" in text or not text.isascii():
        raise WireError("dtype", f"typestr {raw!r} is not NUL-padded ASCII")
    typestr = text.decode("ascii")
    digits = typestr[2:]
    if (len(typestr) < 3 or typestr[0] not in "<>|=" or typestr[1] not in _KINDS or not digits.isdigit()
            or not 1 <= int(digits) <= _MAX_ITEMSIZE):
        raise WireError("dtype", f"typestr {typestr!r} is not a bool/int/uint/float/complex numpy typestr")
    return typestr


def _check_size(typestr: str, shape: tuple[int, ...], payload_len: int | None, slot_bytes: int) -> None:
    # Python ints do not overflow: a hostile shape gives a huge product, never a wrapped small one.
    nbytes = int(typestr[2:]) * math.prod(shape)
    if payload_len is not None and nbytes != payload_len:
        raise WireError("shape", f"shape {shape} of {typestr} makes {nbytes:,} bytes, payload_len says "
                                 f"{payload_len:,}")
    if nbytes > slot_bytes:
        raise WireError("shape", f"shape {shape} of {typestr} makes {nbytes:,} bytes, more than slot_bytes "
                                 f"{slot_bytes:,}")


def _parse_meta(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise WireError("meta", f"metadata is not UTF-8 JSON: {err}") from None
    if not isinstance(value, dict) or not all(
            isinstance(v, (bool, int, float, str)) for v in value.values()):
        raise WireError("meta", "metadata must be a JSON object of str to int/float/str/bool")
    return value


def _bytes(part: Any) -> bytes:
    return part if isinstance(part, bytes) else bytes(_buffer(part))


def _buffer(part: Any) -> Any:
    """The bytes of a ZeroMQ part: a ``zmq.Frame`` (``.buffer``) or anything with the buffer protocol."""
    return getattr(part, "buffer", part)
