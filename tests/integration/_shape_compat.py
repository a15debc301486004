"""The one place these tests touch API names that the "Shape" refactor renames or reshapes.

Before it, ``Ring.info()``/``stats()`` are dicts and ``Ring.readers()`` rows are
``ReaderInfo`` dataclasses; after it, they are frozen dataclasses with ``to_dict()``.
"""

from __future__ import annotations

from typing import Any

import shmring


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if to_dict is not None else dict(value.__dict__)


def reader_rows(ring: shmring.Ring) -> list[dict[str, Any]]:
    """One dict per reader entry in use (``name``, ``alive``, ``lost``, ...)."""
    return [_as_dict(row) for row in ring.readers()]


def write_seq(ring: shmring.Ring) -> int:
    """Frames committed to the ring so far."""
    return int(_as_dict(ring.info())["write_seq"])
