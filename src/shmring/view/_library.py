"""What the viewer reads of the library: ring names and statistics as plain data, legacy slots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import Ring
from ..legacy import SharedMem
from ..legacy import _format as legacy_format
from ..legacy import inspect as inspect_legacy

__all__ = ["BUFH_MAT_RGB", "BUFH_UYVY", "SharedMem", "inspect_legacy", "legacy_slot", "ring_names", "ring_stats",
           "unpack_buf_header"]

BUFH_UYVY = legacy_format.BUFH_UYVY
BUFH_MAT_RGB = legacy_format.BUFH_MAT_RGB


def ring_names(directory: Path) -> list[str]:
    """Names of the files in ``directory`` that start with the ring magic, sorted."""
    return Ring.names(directory)


def ring_stats(ring: Ring) -> dict[str, Any]:
    """``ring.stats()`` as plain JSON-able data (reader rows as dicts too), as the page receives it."""
    return ring.stats().to_dict()


def legacy_slot(item_size: int, index: int) -> tuple[int, int]:
    """Where slot ``index`` of a legacy queue starts (its BufHeader) and how long that header is."""
    return legacy_format.slot_offset(item_size, index), legacy_format.BUF_HEADER.size


def unpack_buf_header(raw: bytes) -> tuple[int, int, int, int, int]:
    """(put_counter, buf_len, width, height, flags) of a legacy BufHeader's bytes."""
    put_counter, buf_len, width, height, flags = legacy_format.BUF_HEADER.unpack(raw)
    return put_counter, buf_len, width, height, flags
