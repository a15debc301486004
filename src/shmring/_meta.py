"""Frame metadata: a small map of str keys to int, float, str or bool values.

Stored in a slot as a UTF-8 JSON object, so a C or MATLAB reader can parse
it with any JSON library. Keys keep their case (FITS keywords such as
``EXPTIME`` fit as they are); values come back equal and of the same type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ._errors import FrameError

Meta = dict[str, "int | float | str | bool"]
_VALUE_TYPES = (bool, int, float, str)


def encode(meta: Mapping[str, object] | None, limit: int) -> bytes:
    """Serialise ``meta``; FrameError if a key or value is not allowed or it exceeds ``limit`` bytes."""
    if not meta:
        return b""
    if not isinstance(meta, Mapping):
        raise FrameError(f"meta must be a dict of str to int/float/str/bool, got {type(meta).__name__}")
    for key, value in meta.items():
        if not isinstance(key, str):
            raise FrameError(f"meta keys must be str, got {key!r}", key=key)
        if not isinstance(value, _VALUE_TYPES):
            raise FrameError(
                f"meta[{key!r}] must be int, float, str or bool, got {type(value).__name__}", key=key)
    data = json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(data) > limit:
        raise FrameError(
            f"metadata is {len(data):,} bytes encoded, the ring allows {limit:,} (meta_bytes)",
            size=len(data), limit=limit)
    return data


def decode(data: bytes) -> Meta:
    """Parse stored metadata; an unreadable block reads as ``{"_invalid": <reason>}``, never raises."""
    if not data:
        return {}
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        return {"_invalid": f"metadata is not JSON: {err}"}
    if not isinstance(value, dict):
        return {"_invalid": "metadata is not a JSON object"}
    return value
