"""The frames the interop tests send between C and Python (tests/integration/c/ring_peer.c has the same table).

Frame ``i`` (the writer's attempt index) is kind ``i % 7``; payload byte ``j`` is
``(7*i + 13*j) & 0xff``; metadata ``{"i": i, "fnv": <FNV-1a 64 of the payload, hex>,
"EXPTIME": i / 1000}``; flags ``i`` (``FINAL`` on the last frame).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

FINAL = 0x80000000
KINDS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("|u1", (1000,)), ("<u2", (30, 40)), ("<f4", (8, 8, 3)), ("<f8", (2, 3, 4, 5)),
    ("<i4", (17,)), ("<c8", (4, 4)), ("<i8", (1, 3)),
)
SLOT_BYTES = 4096  # the largest kind is 2400 bytes


@cache
def _raw(kind: int, phase: int) -> bytes:
    typestr, shape = KINDS[kind]
    n = int(typestr[2:]) * math.prod(shape)
    return ((phase + 13 * np.arange(n, dtype=np.int64)) & 0xFF).astype(np.uint8).tobytes()


@cache
def _fnv(kind: int, phase: int) -> str:
    h = 0xCBF29CE484222325
    for b in _raw(kind, phase):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def payload(i: int) -> bytes:
    """The payload bytes of frame ``i``."""
    return _raw(i % len(KINDS), (7 * i) & 0xFF)


def array(i: int) -> np.ndarray[Any, Any]:
    """Frame ``i`` as the array a writer puts."""
    typestr, shape = KINDS[i % len(KINDS)]
    return np.frombuffer(payload(i), dtype=np.dtype(typestr)).reshape(shape)


def meta(i: int) -> dict[str, Any]:
    """The metadata frame ``i`` carries."""
    return {"i": i, "fnv": _fnv(i % len(KINDS), (7 * i) & 0xFF), "EXPTIME": i / 1000}


def problem(data: np.ndarray[Any, Any], frame_meta: dict[str, Any], flags: int) -> str | None:
    """What is wrong with a frame received, or None when it is exactly frame ``meta["i"]``."""
    i = frame_meta.get("i")
    if not isinstance(i, int):
        return f"no frame index in metadata {frame_meta!r}"
    typestr, shape = KINDS[i % len(KINDS)]
    if (data.dtype.str, data.shape) != (typestr, shape):
        return f"frame {i}: {data.shape} {data.dtype.str}, expected {shape} {typestr}"
    if data.tobytes() != payload(i):
        return f"frame {i}: payload differs from the pattern"
    if frame_meta != meta(i):
        return f"frame {i}: metadata {frame_meta!r}, expected {meta(i)!r}"
    if flags not in (i, FINAL):
        return f"frame {i}: flags {flags:#x}"
    return None
