"""Find and describe rings without disturbing them: the data behind ``ls``, ``info`` and ``gc``.

Looking never attaches: no writer, no reader entry, no lock taken. Liveness is
asked of the kernel (who holds an OFD lock on the file), so a process that
crashed counts as dead at once, whatever its pid is now used for.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from .. import Channel, RangeLock, Ring, SegmentPermissionError, ShmringError
from .. import _channel_format as CF
from .._segment import names_with_magic
from ..legacy import inspect as inspect_legacy

#: How old a creator's hidden temporary file must be before gc calls it stale:
#: creation takes milliseconds, so a minute-old one was left by a crash.
STALE_TMP_S = 60.0


def native_row(path: Path, now_ns: int) -> dict[str, Any]:
    """One ``ls`` row for a file that starts with the ring magic (corrupt ones included)."""
    try:
        with Ring.open(path) as ring:
            stats = ring.stats()
    except (SegmentPermissionError, PermissionError) as err:
        # A ring of another user's: not ours to read, and nothing wrong with it.
        return {"name": path.name, "path": str(path), "layout": "no access", "problem": str(err),
                "held": file_held(path)}
    except (ShmringError, OSError) as err:
        return {"name": path.name, "path": str(path), "layout": "corrupt", "problem": str(err),
                "held": file_held(path)}
    readers = stats.readers
    live = sum(1 for r in readers if r.alive)
    last = stats.last_write_ns or None
    return {
        "name": stats.name, "path": str(path), "layout": f"native v{stats.layout_version}",
        "slots": stats.slots, "slot_bytes": stats.slot_bytes, "policy": stats.policy,
        "dtype": stats.dtype, "shape": None if stats.shape is None else list(stats.shape),
        "frames": stats.write_seq,
        "writer_alive": stats.writer_alive, "readers_live": live, "readers_dead": len(readers) - live,
        "rate_hz": round(stats.rate_hz, 3), "last_write_ns": last,
        "last_write_age_s": None if last is None else round((now_ns - last) / 1e9, 3),
        "problem": None,
    }


def native_rows(directory: Path) -> list[dict[str, Any]]:
    """Every ring file in ``directory``, healthy or not, sorted by name."""
    now = time.time_ns()
    return [native_row(directory / name, now) for name in Ring.names(directory)]


def channel_row(path: Path) -> dict[str, Any]:
    """One ``ls`` row for a file that starts with the channel magic (corrupt ones included).

    Opening a channel takes only its shared "attached" lock, as any client
    does; it posts nothing and claims no slot.
    """
    row: dict[str, Any] = {"name": path.name, "path": str(path), "layout": "channel"}
    try:
        with Channel.open(path) as channel:
            info = channel.info()
    except (SegmentPermissionError, PermissionError) as err:
        return {**row, "layout": "no access", "problem": str(err), "held": file_held(path)}
    except (ShmringError, OSError) as err:
        return {**row, "layout": "corrupt", "problem": str(err), "held": file_held(path)}
    phases = info["slot_phases"]
    return {**row, "layout": f"channel v{info['layout_version']}", "slots": info["slots"],
            "slot_bytes": info["slot_bytes"], "policy": "request/reply", "requests": info["requests"],
            "server_alive": info["server_alive"], "slots_busy": sum(1 for p in phases if p != "free"),
            "problem": None}


def channel_rows(directory: Path) -> list[dict[str, Any]]:
    """Every channel file in ``directory``, healthy or not, sorted by name."""
    return [channel_row(directory / name) for name in names_with_magic(CF.MAGIC, directory)]


def legacy_row(path: Path) -> dict[str, Any]:
    """One ``ls`` row for an original SharedMem file (read, never locked or written)."""
    row: dict[str, Any] = {"name": path.name, "path": str(path), "layout": "legacy"}
    try:
        header = inspect_legacy(path)
    except ShmringError as err:
        return {**row, "layout": "corrupt", "problem": str(err)}
    except OSError as err:
        return {**row, "layout": "unreadable", "problem": err.strerror}
    if header is None:  # the seed's raw self-test and send/answer files carry no header
        return {**row, "layout": "legacy raw", "size": path.stat().st_size, "problem": None}
    return {**row, "slots": header.item_alloc, "slot_bytes": header.item_size, "policy": "drop",
            "frames": None, "queued": header.count, "head": header.head, "tail": header.tail,
            "flags": header.flags, "memsize": header.memsize, "problem": None}


def legacy_rows(directory: Path) -> list[dict[str, Any]]:
    """Every ``smem_*`` regular file in ``directory`` (the original's location is /tmp)."""
    try:
        paths = sorted(p for p in directory.glob("smem_*") if p.is_file() and not p.is_symlink())
    except OSError:
        return []
    return [legacy_row(p) for p in paths]


def file_held(path: Path) -> bool | None:
    """Whether any process holds a lock on any byte of the file (a live writer or reader).

    Every lease of a ring (writer presence, reader entries) is a lock on a
    byte of it, so probing the whole file needs no knowledge of offsets and
    works for files too damaged to parse. None when we may not ask (permissions).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        probe = RangeLock(fd, 0, max(1, os.fstat(fd).st_size))
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        return probe.is_held_by_someone_else()
    finally:
        probe.close()


def stale_tmp_files(directory: Path, now: float) -> list[Path]:
    """Hidden ``.NAME.<hex>.tmp`` files an interrupted create left, older than :data:`STALE_TMP_S`."""
    out = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if entry.is_file(follow_symlinks=False) and now - st.st_mtime >= STALE_TMP_S:
            out.append(Path(entry.path))
    return sorted(out)
