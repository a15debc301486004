"""Every use of ring-inspection names that the coming "Shape" refactor renames, in one place.

Today ``Ring.info()``/``Ring.stats()`` return dicts and reader rows are dataclass-like
objects; after the refactor they are frozen dataclasses with ``.to_dict()``. The bridge
only ever sees plain dicts, through :func:`ring_info` and :func:`ring_stats`.
"""

from __future__ import annotations

from typing import Any

from .. import Ring


def _as_dict(value: Any) -> dict[str, Any]:
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    return dict(value) if isinstance(value, dict) else dict(vars(value))


def ring_info(ring: Ring) -> dict[str, Any]:
    """``ring.info()`` as a dict (keys: name, slots, slot_bytes, meta_bytes, policy, created_ns, ...)."""
    return _as_dict(ring.info())


def ring_stats(ring: Ring) -> dict[str, Any]:
    """``ring.stats()`` as a dict, its ``readers`` rows as dicts too."""
    stats = _as_dict(ring.stats())
    stats["readers"] = [_as_dict(row) for row in stats.get("readers", [])]
    return stats
