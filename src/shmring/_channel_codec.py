"""What a channel message carries (bytes or a numpy array, plus metadata) and how it enters a slot.

Both sides of an exchange use these: a client for its request, the server for
its reply. Payloads are copied once, straight into the slot (no pickle); an
error reply carries a small UTF-8 JSON object naming the remote exception.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Union

import numpy as np

from . import _channel_format as CF
from . import _meta
from ._errors import FrameError, LayoutError

#: A request or reply: bytes-like data, or a numpy array of a bool/int/float/complex dtype.
Payload = Union[bytes, bytearray, memoryview, "np.ndarray[Any, Any]"]
_ARRAY_KINDS = "biufc"


@dataclass(frozen=True)
class Message:
    """A reply with its metadata (from ``Channel.call``), or what a handler returns to attach metadata.

    Attributes:
        data: ``bytes``, or a numpy array (a copy, yours to keep).
        meta: a dict of str to int/float/str/bool.
        id: the correlation id of the exchange (0 in a handler's own Message).
    """

    data: Payload
    meta: dict[str, Any] = field(default_factory=dict)
    id: int = 0


class Encoded(NamedTuple):
    """A payload ready to copy into a slot: its kind, array type and raw bytes."""

    kind: int
    raw: memoryview
    typestr: str = ""
    shape: tuple[int, ...] = ()


def encode(data: object, what: str) -> Encoded:
    """Describe ``data`` for a slot; TypeError naming ``what`` when it is neither bytes nor an array."""
    if isinstance(data, np.ndarray):
        return _encode_array(data, what)
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = memoryview(data).cast("B") if isinstance(data, memoryview) else memoryview(data)
        return Encoded(CF.KIND_BYTES, raw)
    raise TypeError(f"{what} must be bytes, bytearray, memoryview or a numpy array, got {type(data).__name__}")


def _encode_array(array: np.ndarray[Any, Any], what: str) -> Encoded:
    if array.dtype.kind not in _ARRAY_KINDS or array.dtype.fields is not None:
        raise TypeError(f"{what} array must have a bool, integer, float or complex dtype, got {array.dtype}")
    if array.ndim > CF.MAX_DIMS:
        raise ValueError(f"{what} array has {array.ndim} dimensions, a channel carries at most {CF.MAX_DIMS}")
    contiguous = np.ascontiguousarray(array)  # a copy only for a strided array
    return Encoded(CF.KIND_ARRAY, contiguous.reshape(-1).view(np.uint8).data,
                   contiguous.dtype.str, tuple(int(n) for n in contiguous.shape))


def encode_error(err: BaseException, limit: int, *, broken: bool = False) -> tuple[Encoded, bytes]:
    """An error reply: no payload; the exception's type and message as JSON in the metadata area.

    The metadata area (``meta_bytes``, 4 KiB by default) holds the text even
    when slots are small; a message too long for it is cut, never refused.
    """
    message = str(err)
    while True:
        body = json.dumps({"type": type(err).__name__, "message": message, "broken": broken}).encode("utf-8")
        if len(body) <= limit or not message:
            break
        message = message[: max(0, len(message) - (len(body) - limit) - 3)] + "..." if len(message) > 3 else ""
    return Encoded(CF.KIND_ERROR, memoryview(b"")), body if len(body) <= limit else b""


def decode_error(raw: bytes) -> dict[str, Any]:
    """The fields of an error reply; an unreadable one still reads as an error."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        body = None
    if not isinstance(body, dict):
        text = "(slot_bytes too small for its text)" if not raw else f"unreadable error reply {raw[:60]!r}"
        return {"type": "?", "message": text, "broken": False}
    return body


def encode_meta(meta: object, limit: int, name: str) -> bytes:
    """Metadata as stored; FrameError (naming the channel) when it does not fit ``limit`` bytes."""
    try:
        return _meta.encode(meta, limit)
    except FrameError as err:
        raise FrameError(f"channel {name!r}: {err}", **err.__dict__) from None


def check_fits(enc: Encoded, slot_bytes: int, name: str, what: str) -> None:
    """FrameError when a payload is larger than the channel's slots."""
    if enc.raw.nbytes > slot_bytes:
        raise FrameError(f"{what} is {enc.raw.nbytes:,} bytes; channel {name!r} carries at most "
                         f"{slot_bytes:,} (slot_bytes)", size=enc.raw.nbytes, limit=slot_bytes, name=name)


def decode(buf: memoryview, header: CF.SlotHeader, start: int) -> bytes | np.ndarray[Any, Any]:
    """Copy a payload out of a slot: bytes, or an array of the stored type and shape."""
    raw = buf[start:start + header.payload_bytes]
    if header.kind != CF.KIND_ARRAY:
        return bytes(raw)
    dtype = _stored_dtype(header)
    return np.frombuffer(raw, dtype).reshape(header.shape).copy()


def _stored_dtype(header: CF.SlotHeader) -> np.dtype[Any]:
    """The array type a slot declares, checked against its payload size."""
    text = header.typestr
    dtype = _numpy_type(text)
    # Python ints, not np.prod: a hostile shape such as (2**62, 2**62) must not wrap to 0 in int64.
    if dtype is None or dtype.itemsize * math.prod(header.shape) != header.payload_bytes:
        raise LayoutError(
            f"channel slot declares a {header.shape} {text!r} array in {header.payload_bytes} bytes",
            field="slot array", expected="dtype and shape matching the payload", found=(text, header.shape))
    return dtype


def _numpy_type(text: str) -> np.dtype[Any] | None:
    """The numpy type of a typestr a peer wrote, or None when numpy has none (``<i3``, ``<c4``, ``<u0``)."""
    if not (len(text) >= 3 and text[0] in "<>|=" and text[1] in _ARRAY_KINDS and text[2:].isdigit()):
        return None
    try:
        return np.dtype(text)
    except TypeError:
        return None
