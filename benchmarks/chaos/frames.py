"""Checksummed frames: any process can make one and any reader can tell whether it is whole.

A frame's words are a pattern drawn from a random 32-bit tag; its metadata
carries the CRC-32 of the payload bytes. A reader that gets a frame whose CRC
does not match has got a torn (or corrupted) frame, whichever writer wrote it.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

__all__ = ["CRC_KEY", "fill", "is_whole", "make", "words_for"]

CRC_KEY = "CRC"
_SPREAD = np.uint32(2654435761)


def words_for(tag: int, max_words: int) -> int:
    """How many uint32 words the frame of ``tag`` has (varies, so frames end at different places)."""
    return 1 + tag % max_words


def fill(out: np.ndarray[Any, Any], tag: int) -> dict[str, int]:
    """Fill ``out`` (uint32 words) with the pattern of ``tag``; return the metadata to publish with it."""
    out[:] = np.arange(out.size, dtype=np.uint32) * _SPREAD
    out ^= np.uint32(tag & 0xFFFFFFFF)
    return {CRC_KEY: zlib.crc32(out.tobytes())}


def make(tag: int, max_words: int) -> tuple[np.ndarray[Any, Any], dict[str, int]]:
    """A fresh frame of ``tag`` and its metadata."""
    frame = np.empty(words_for(tag, max_words), np.uint32)
    return frame, fill(frame, tag)


def is_whole(data: np.ndarray[Any, Any], meta: dict[str, Any]) -> bool:
    """Whether the frame's bytes match the CRC its writer published with them."""
    return meta.get(CRC_KEY) == zlib.crc32(data.tobytes())
