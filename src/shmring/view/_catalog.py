"""The list of rings the page shows: native rings and legacy SharedMem files, healthy or not.

Looking never attaches (no reader entry, no lock), as ``shmring ls``: the
rows come from the header and the reader table. A file the server may not
read is left out; a corrupt one is listed with what is wrong with it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import Ring, SegmentPermissionError, ShmringError
from ._library import inspect_legacy, ring_names, ring_stats

#: Prefix the original SharedMem gives its files (``/tmp/smem_<name>``).
LEGACY_PREFIX = "smem_"


def native_row(path: Path) -> dict[str, Any] | None:
    """The page's row for a native ring file; None if the server may not read it."""
    try:
        with Ring.open(path) as ring:
            stats = ring_stats(ring)
    except (SegmentPermissionError, PermissionError):
        return None
    except (ShmringError, OSError) as err:
        return {"name": path.name, "path": str(path), "kind": "corrupt", "problem": str(err)}
    readers = [r for r in stats["readers"] if r["alive"] and r["name"] != VIEW_READER_NAME]
    return {
        "name": path.name, "path": str(path), "kind": "native", "problem": None,
        "dtype": stats["dtype"], "shape": stats["shape"], "policy": stats["policy"],
        "slots": stats["slots"], "frames": stats["write_seq"], "rate_hz": round(stats["rate_hz"], 2),
        "writer_alive": stats["writer_alive"], "readers": len(readers),
        "lag": max((r["lag"] for r in readers), default=0), "lost": sum(r["lost"] for r in stats["readers"]),
        "last_write_age_s": _age(stats["last_write_ns"]),
    }


def legacy_row(path: Path) -> dict[str, Any] | None:
    """The page's row for an original SharedMem file; None if unreadable or not a queue."""
    if not os.access(path, os.R_OK):
        return None
    try:
        header = inspect_legacy(path)
    except ShmringError as err:
        return {"name": path.name, "path": str(path), "kind": "corrupt", "problem": str(err)}
    except OSError:
        return None
    if header is None:  # the seed's raw self-test and message files hold no frames
        return None
    return {"name": path.name, "path": str(path), "kind": "legacy", "problem": None, "dtype": None,
            "shape": None, "policy": "drop", "slots": header.item_alloc, "frames": None, "rate_hz": None,
            "writer_alive": None, "readers": None, "lag": None, "lost": None, "queued": header.count,
            "last_write_age_s": None}


def catalog(directory: Path, legacy_dir: Path | None, only: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Every readable ring in ``directory`` and SharedMem file in ``legacy_dir``; only ``only`` if given."""
    wanted = set(only)
    rows = [native_row(directory / name) for name in ring_names(directory)]
    if legacy_dir is not None:
        rows += [legacy_row(p) for p in _legacy_files(legacy_dir)]
    found = [r for r in rows if r is not None and (not wanted or r["name"] in wanted or r["path"] in wanted)]
    found += [_missing(name, directory) for name in sorted(wanted - _known(found))]
    return found


def _known(rows: list[dict[str, Any]]) -> set[str]:
    return {r["name"] for r in rows} | {r["path"] for r in rows}


def _missing(name: str, directory: Path) -> dict[str, Any]:
    """A row for a ring asked for on the command line that is not (or no longer) there."""
    path = Path(name) if "/" in name else directory / name
    if path.is_file():  # asked for by path: a ring or SharedMem file outside the listed directories
        row = legacy_row(path) if path.name.startswith(LEGACY_PREFIX) else native_row(path)
        if row is not None:
            return row
    return {"name": name, "path": str(path), "kind": "missing", "problem": "no such ring (yet)"}


def _legacy_files(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.glob(LEGACY_PREFIX + "*") if p.is_file() and not p.is_symlink())
    except OSError:
        return []


def _age(ns: int | None) -> float | None:
    return None if not ns else round((time.time_ns() - ns) / 1e9, 3)


#: The reader name the viewer's short-lived snapshot readers take (left out of the lag column).
VIEW_READER_NAME = "view"
