"""Every use of a library name that the coming "Shape" refactor renames, in one place.

After it lands: ``Ring.list`` becomes ``Ring.names``, ``Ring.stats()`` returns a
``RingStats`` dataclass (``.to_dict()`` gives today's dict), and the legacy
modules move into the ``shmring.legacy`` package. The viewer reaches those
names only through the functions here, so the switch is one edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import Ring
from .. import _legacy_format as legacy_format
from ..legacy import SharedMem
from ..legacy import inspect as inspect_legacy

__all__ = ["BUFH_MAT_RGB", "BUFH_UYVY", "SharedMem", "inspect_legacy", "legacy_slot", "ring_names", "ring_stats",
           "unpack_buf_header"]

BUFH_UYVY = legacy_format.BUFH_UYVY
BUFH_MAT_RGB = legacy_format.BUFH_MAT_RGB


def ring_names(directory: Path) -> list[str]:
    """Names of the files in ``directory`` that start with the ring magic, sorted."""
    lister = getattr(Ring, "names", None) or Ring.list
    return list(lister(directory))


def ring_stats(ring: Ring) -> dict[str, Any]:
    """``ring.stats()`` as a plain dict (reader rows as dicts too), whichever type it returns."""
    stats: Any = ring.stats()
    out: dict[str, Any] = stats.to_dict() if hasattr(stats, "to_dict") else dict(stats)
    out["readers"] = [row.to_dict() if hasattr(row, "to_dict") else dict(row) for row in out.get("readers", [])]
    return out


def legacy_slot(item_size: int, index: int) -> tuple[int, int]:
    """Where slot ``index`` of a legacy queue starts (its BufHeader) and how long that header is."""
    return legacy_format.slot_offset(item_size, index), legacy_format.BUF_HEADER.size


def unpack_buf_header(raw: bytes) -> tuple[int, int, int, int, int]:
    """(put_counter, buf_len, width, height, flags) of a legacy BufHeader's bytes."""
    put_counter, buf_len, width, height, flags = legacy_format.BUF_HEADER.unpack(raw)
    return put_counter, buf_len, width, height, flags
