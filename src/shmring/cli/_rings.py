"""``shmring create | ls | info | rm | gc``: make, list, inspect and clean up rings."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from .. import Channel, Ring, RingStats, SegmentNotFoundError, ShmringError
from .. import _channel_format as CF
from ..legacy import lock_files, remove_unused_lock_file
from ..legacy._format import is_legacy_header
from . import _render as R
from ._app import cli
from ._options import parse_dtype, parse_keywords, parse_mode, parse_shape, parse_size, ring_argument, ring_dir
from ._scan import channel_rows, file_held, legacy_row, legacy_rows, native_rows, stale_tmp_files

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
_LEGACY_DIR = "/tmp"


@cli.command()
@click.argument("name")
@click.option("--slots", default=8, show_default=True, type=click.IntRange(min=2), help="Number of frame slots.")
@click.option("--slot-bytes", help="Largest frame payload, e.g. 32MiB (default: the --shape/--dtype size).")
@click.option("--meta-bytes", default="4KiB", show_default=True, help="Largest metadata per frame.")
@click.option("--policy", default="overwrite", show_default=True,
              type=click.Choice(["overwrite", "block", "drop"]), help="What a writer does when the ring is full.")
@click.option("--mode", default="600", show_default=True, help="Octal permissions (660 shares with the group).")
@click.option("--dtype", help="Fix the frame dtype (with --shape).")
@click.option("--shape", help="Fix the frame shape, WIDTHxHEIGHT[x...] (with --dtype).")
@click.option("--keyword", "keyword_items", multiple=True, metavar="K=V[ / COMMENT]",
              help="A stream keyword every reader sees (repeatable; numbers and true/false are typed).")
@_JSON
def create(name: str, slots: int, slot_bytes: str | None, meta_bytes: str, policy: str, mode: str,
           dtype: str | None, shape: str | None, keyword_items: tuple[str, ...], as_json: bool) -> None:
    """Create the ring NAME (in $SHMRING_DIR or /dev/shm; a path if NAME contains '/')."""
    if (dtype is None) != (shape is None):
        raise click.UsageError("--dtype and --shape go together (a fixed frame type needs both)")
    if slot_bytes is None and shape is None:
        raise click.UsageError("give --slot-bytes (e.g. 32MiB), or --shape and --dtype to size the slots")
    with Ring.create(ring_argument(name), slots=slots,
                     slot_bytes=None if slot_bytes is None else parse_size(slot_bytes, "--slot-bytes"),
                     meta_bytes=parse_size(meta_bytes, "--meta-bytes"), policy=policy,
                     mode=parse_mode(mode, "--mode"),
                     dtype=None if dtype is None else parse_dtype(dtype, "--dtype"),
                     shape=None if shape is None else parse_shape(shape, "--shape"),
                     keywords=parse_keywords(keyword_items) or None) as ring:
        info = ring.info()
    if as_json:
        R.echo_json(info.to_dict())
    else:
        click.echo(f"created {info.path}: {info.slots} x {R.nbytes(info.slot_bytes)}, "
                   f"{info.policy}, frames {R.schema_text(info.dtype, info.shape)}, "
                   f"{R.nbytes(info.total_bytes)} in all")


# -- ls ------------------------------------------------------------------------------------


@cli.command("ls")
@click.option("--legacy-dir", default=_LEGACY_DIR, show_default=True, type=click.Path(file_okay=False),
              help="Where to look for original SharedMem files (smem_*).")
@click.option("--no-legacy", is_flag=True, help="List native rings only.")
@_JSON
def ls(legacy_dir: str, no_legacy: bool, as_json: bool) -> None:
    """List the rings and channels in $SHMRING_DIR (or /dev/shm) and original SharedMem files in /tmp."""
    rows = native_rows(ring_dir()) + channel_rows(ring_dir())
    if not no_legacy:
        rows += legacy_rows(Path(legacy_dir))
    if as_json:
        R.echo_json(rows)
        return
    if not rows:
        R.note(f"no rings in {ring_dir()}" + ("" if no_legacy else f" and no smem_* files in {legacy_dir}"))
        return
    R.console().print(R.table(f"rings in {ring_dir()}" + ("" if no_legacy else f" and {legacy_dir}"),
                              _LS_COLUMNS, (_ls_cells(r) for r in rows)))


_LS_COLUMNS = ("name", "layout", "slots x size", "policy", "frames>", "rate>", "writer", "readers",
               "last write>", "note")


def _ls_cells(row: dict[str, Any]) -> list[str]:
    if "slots" not in row:
        held = row.get("held")
        note = row.get("problem") or f"{R.nbytes(row.get('size'))}, no SharedMem header"
        if held:
            note = f"HELD by a live process; {note}"
        return [row["name"], row["layout"], "-", "-", "-", "-", "-", "-", "-", note]
    if "requests" in row:
        # A channel's server shows in the writer column; its requests in the frames column.
        return [row["name"], row["layout"], f"{row['slots']} x {R.nbytes(row['slot_bytes'])}", "-",
                f"{row['requests']} req", "-", R.yes_no(row["server_alive"]), "-", "-",
                f"{row['slots_busy']} busy"]
    legacy = row["layout"] == "legacy"
    frames = f"{row['queued']} queued" if legacy else str(row["frames"])
    readers = "-" if legacy else f"{row['readers_live']} live, {row['readers_dead']} dead"
    rate = "-" if legacy else f"{row['rate_hz']:.1f} Hz"
    last = "-" if legacy else R.age(row["last_write_ns"])
    note = str(row["path"]) if legacy else R.schema_text(row["dtype"], row["shape"])
    return [row["name"], row["layout"], f"{row['slots']} x {R.nbytes(row['slot_bytes'])}", row["policy"],
            frames, rate, R.yes_no(row.get("writer_alive")), readers, last, note]


# -- info -------------------------------------------------------------------------------------


@cli.command()
@click.argument("name")
@_JSON
def info(name: str, as_json: bool) -> None:
    """Show the header and the reader table of the ring NAME (or of a channel, or an original SharedMem file)."""
    target = ring_argument(name)
    if _has_magic(target, CF.MAGIC):
        _print_channel(target, as_json)
        return
    legacy = _legacy_target(target)
    if legacy is not None:
        row = legacy_row(legacy)
        if row["layout"] == "corrupt":
            raise click.ClickException(row["problem"])
        _print_legacy(row, as_json)
        return
    with Ring.open(target) as ring:
        stats = ring.stats()
    if as_json:
        R.echo_json(stats.to_dict())
        return
    now = time.time_ns()
    out = R.console()
    out.print(R.key_values(f"ring {stats.name}", _info_pairs(stats, now)))
    if stats.readers:
        out.print(R.table("readers", R.READER_COLUMNS, R.reader_rows(stats.readers, now)))
    else:
        out.print("readers: none attached")


def _legacy_target(target: str | Path) -> Path | None:
    """The legacy file meant, if ``target`` names one: a path that starts with the original signature."""
    if not isinstance(target, Path):
        return None
    try:
        with open(target, "rb") as f:
            head = f.read(4)
    except OSError:
        return None
    return target if is_legacy_header(head) else None


def _has_magic(target: str | Path, magic: bytes) -> bool:
    path = target if isinstance(target, Path) else ring_dir() / target
    try:
        with open(path, "rb") as f:
            return f.read(len(magic)) == magic
    except OSError:
        return False


def _print_channel(target: str | Path, as_json: bool) -> None:
    with Channel.open(target) as channel:
        info = channel.info()
    if as_json:
        R.echo_json(info)
        return
    slots = zip(info["slot_phases"], info["slot_clients_alive"], strict=True)
    phases = ", ".join(f"{i}: {p}{'' if alive or p == 'free' else ' (client gone)'}"
                       for i, (p, alive) in enumerate(slots))
    pairs = {"path": info["path"], "layout": f"channel v{info['layout_version']}",
             "slots": f"{info['slots']} x {R.nbytes(info['slot_bytes'])} payload",
             "metadata": f"{R.nbytes(info['meta_bytes'])} per message", "total": R.nbytes(info["total_bytes"]),
             "requests": str(info["requests"]), "server": "alive" if info["server_alive"] else "none",
             "servers so far": str(info["server_epoch"]), "slot phases": phases}
    R.console().print(R.key_values(f"channel {info['name']}", pairs))


def _print_legacy(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        R.echo_json(row)
        return
    pairs = {k: str(row[k]) for k in ("path", "layout", "slots", "slot_bytes", "memsize", "flags",
                                      "head", "tail", "queued")}
    R.console().print(R.key_values(f"legacy SharedMem {row['name']}", pairs))


def _info_pairs(s: RingStats, now_ns: int) -> dict[str, str]:
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.created_ns / 1e9))
    return {
        "path": s.path, "layout": f"native v{s.layout_version}",
        "slots": f"{s.slots} x {R.nbytes(s.slot_bytes)} payload (stride {R.nbytes(s.slot_stride)})",
        "metadata": f"{R.nbytes(s.meta_bytes)} per frame", "total": R.nbytes(s.total_bytes),
        "policy": s.policy, "frames": R.schema_text(s.dtype, s.shape),
        "created": f"{created} ({R.age(s.created_ns, now_ns)} ago)",
        "written": f"{s.write_seq} frames (queue position {s.queue_seq})",
        "rate": f"{s.rate_hz:.1f} Hz", "last write": R.age(s.last_write_ns, now_ns),
        "writer": "alive" if s.writer_alive else "none",
        **{f"keyword {k}": _card_text(v, c) for k, v, c in s.keywords},
    }


def _card_text(value: object, comment: str) -> str:
    return f"{value!r} / {comment}" if comment else repr(value)


# -- rm and gc ----------------------------------------------------------------------------------


@cli.command()
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Remove files that do not parse as rings too.")
def rm(names: tuple[str, ...], force: bool) -> None:
    """Remove the rings NAMES; processes attached keep working until they close."""
    failed = 0
    for name in names:
        try:
            _remove(ring_argument(name), force)
        except (ShmringError, OSError) as err:
            R.note(f"shmring: error: {err}")
            failed += 1
    if failed:
        click.get_current_context().exit(1)


def _remove(target: str | Path, force: bool) -> None:
    """Remove a ring's or a channel's name through its own handle; ``force``: also a file that does not parse."""
    kind, opener = ("channel", Channel.open) if _has_magic(target, CF.MAGIC) else ("ring", Ring.open)
    try:
        handle = opener(target)
    except SegmentNotFoundError:
        raise
    except ShmringError:
        if not force:
            raise
        path = target if isinstance(target, Path) else ring_dir() / target
        os.unlink(path)
        R.note(f"removed {path} (not a readable {kind})")
        return
    with handle:
        handle.unlink()
        R.note(f"removed {handle.path}")


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@click.option("--include-unused", is_flag=True,
              help="Also remove rings never used: no frame written and no reader entry (pre-created ones).")
@_JSON
def gc(dry_run: bool, include_unused: bool, as_json: bool) -> None:
    """Remove rings and channels nobody holds, corrupt ones, Locker files nobody has open, stale temporary files.

    Liveness is the kernel's: a ring is kept while any process holds a lock on
    it (a live writer or reader, an open handle), whatever its state. A ring
    nobody ever used (made by ``shmring create`` for a writer still to come)
    is kept unless --include-unused.
    """
    directory = ring_dir()
    verdicts = [_gc_verdict(row, include_unused) for row in native_rows(directory)]
    verdicts += [_channel_verdict(row, include_unused) for row in channel_rows(directory)]
    verdicts += [_locker_verdict(path, dry_run) for path in lock_files(directory)]
    verdicts += [{"name": p.name, "path": str(p), "reason": "stale temporary file of an interrupted create",
                  "remove": True} for p in stale_tmp_files(directory, time.time())]
    for v in verdicts:
        if v.pop("_collected", False) or not v["remove"] or dry_run:
            continue
        _unlink_quietly(Path(v["path"]))
    if as_json:
        R.echo_json({"dry_run": dry_run, "removed" if not dry_run else "would_remove":
                     [v for v in verdicts if v["remove"]], "kept": [v for v in verdicts if not v["remove"]]})
        return
    for v in verdicts:
        verb = ("would remove" if dry_run else "removed") if v["remove"] else "kept"
        click.echo(f"{verb} {v['name']}: {v['reason']}")
    if not verdicts:
        R.note(f"nothing to collect in {directory}")


def _gc_verdict(row: dict[str, Any], include_unused: bool) -> dict[str, Any]:
    path = Path(row["path"])
    held = file_held(path)
    out = {"name": row["name"], "path": row["path"]}
    if held is None or row["layout"] == "no access":
        return {**out, "reason": "cannot check who holds it (permission)", "remove": False}
    if held:
        return {**out, "reason": "held by a live writer or reader", "remove": False}
    if row["layout"] == "corrupt":
        return {**out, "reason": f"corrupt and unheld ({row['problem']})", "remove": True}
    if row["frames"] == 0 and row["readers_live"] + row["readers_dead"] == 0 and not include_unused:
        return {**out, "reason": "never used (no frame written, no reader entry): kept for the writer "
                                 "it was created for (--include-unused removes it)", "remove": False}
    return {**out, "reason": f"no live writer or reader ({row['readers_dead']} dead reader entries, "
                             f"{row['frames']} frames written)", "remove": True}


def _channel_verdict(row: dict[str, Any], include_unused: bool) -> dict[str, Any]:
    """A channel is held while a server or any client has it open (every handle holds its attached lock)."""
    held = file_held(Path(row["path"]))
    out = {"name": row["name"], "path": row["path"]}
    if held is None or row["layout"] == "no access":
        return {**out, "reason": "cannot check who holds it (permission)", "remove": False}
    if held:
        return {**out, "reason": "channel open in a live server or client", "remove": False}
    if row["layout"] == "corrupt":
        return {**out, "reason": f"corrupt and unheld ({row['problem']})", "remove": True}
    if row["requests"] == 0 and not include_unused:
        return {**out, "reason": "channel never used (no request made): kept for the server it was "
                                 "created for (--include-unused removes it)", "remove": False}
    return {**out, "reason": f"channel nobody has open ({row['requests']} requests made)", "remove": True}


def _locker_verdict(path: Path, dry_run: bool) -> dict[str, Any]:
    """Collect a legacy Locker file now (the check and the removal must be one step), or say why not."""
    out: dict[str, Any] = {"name": path.name, "path": str(path)}
    in_use = {**out, "reason": "legacy Locker file open in a live process", "remove": False}
    try:
        if dry_run:
            return in_use if file_held(path) else {**out, "reason": "legacy Locker file nobody has open",
                                                   "remove": True}
        removed = remove_unused_lock_file(path)
    except (ShmringError, OSError) as err:
        return {**out, "reason": f"cannot check the legacy Locker file ({err})", "remove": False}
    return {**out, "reason": "legacy Locker file nobody had open", "remove": True, "_collected": True} \
        if removed else in_use


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass  # someone else removed it meanwhile: the goal is reached
