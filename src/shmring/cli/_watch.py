"""``shmring watch NAME``: a live view of a ring's rate, its readers' lag and losses, its writer.

Watching never attaches: no reader entry is taken (a watcher must not pin
frames under the ``block`` policy), only the header and reader table are read.
The ring is opened anew at each tick, so a ring removed or re-created under
the same name is noticed at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import click
from rich.console import Group, RenderableType
from rich.live import Live

from .. import Ring, SegmentNotFoundError
from . import _render as R
from ._app import cli
from ._options import ring_argument


@cli.command()
@click.argument("name")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(min=0.05),
              help="Seconds between samples.")
@click.option("--seconds", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many samples.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per sample instead of a live table.")
def watch(name: str, interval: float, seconds: float | None, count: int | None, as_json: bool) -> None:
    """Show the write rate, each reader's lag and losses, and whether the writer lives; Ctrl-C ends."""
    target = ring_argument(name)
    samples = _samples(target, interval, seconds, count)
    if as_json:
        for sample in samples:
            R.echo_json(sample)
        return
    console = R.console()
    if not console.is_terminal:
        for sample in samples:  # piped: one table per sample, nothing redrawn in place
            console.print(_view(sample))
        return
    with Live(console=console, refresh_per_second=4) as live:
        for sample in samples:
            live.update(_view(sample))


def _samples(target: Any, interval: float, seconds: float | None, count: int | None) -> Iterator[dict[str, Any]]:
    """A sample of the ring every ``interval`` s, with rates over the time since the previous one."""
    end = None if seconds is None else time.monotonic() + seconds
    previous: tuple[float, dict[str, Any]] | None = None
    taken = 0
    while True:
        now = time.monotonic()
        sample = _sample(target, previous, now)
        yield sample
        previous, taken = (now, sample), taken + 1
        if count is not None and taken >= count:
            return
        pause = interval if end is None else min(interval, end - time.monotonic())
        if pause <= 0:
            return
        time.sleep(pause)  # pacing the display: there is nothing to wake up for


def _sample(target: Any, previous: tuple[float, dict[str, Any]] | None, now: float) -> dict[str, Any]:
    """``Ring.stats()`` plus the measured frame and byte rates and the readers' total losses."""
    try:
        with Ring.open(target) as ring:
            stats = ring.stats()
    except SegmentNotFoundError:
        raise click.ClickException(f"ring {str(target)!r} does not exist (or was removed)") from None
    stats["time_ns"] = time.time_ns()
    stats["frames_per_s"] = None
    if previous is not None and previous[1]["created_ns"] == stats["created_ns"] and now > previous[0]:
        stats["frames_per_s"] = round((stats["write_seq"] - previous[1]["write_seq"]) / (now - previous[0]), 3)
    size = _frame_bytes(stats)
    stats["bytes_per_s"] = None if stats["frames_per_s"] is None or size is None else stats["frames_per_s"] * size
    stats["lost"] = sum(r["lost"] for r in stats["readers"])
    return stats


def _frame_bytes(stats: dict[str, Any]) -> int | None:
    if stats["dtype"] is None:
        return None
    import numpy as np

    return int(np.dtype(stats["dtype"]).itemsize * int(np.prod(stats["shape"])))


def _view(s: dict[str, Any]) -> RenderableType:
    now = s["time_ns"]
    fps = "-" if s["frames_per_s"] is None else f"{s['frames_per_s']:.1f}/s"
    mbps = "" if s["bytes_per_s"] is None else f", {s['bytes_per_s'] / 1e6:.1f} MB/s"
    head = R.key_values(f"ring {s['name']}", {
        "frames": f"{s['write_seq']} written, {fps}{mbps} (ring estimate {s['rate_hz']:.1f} Hz)",
        "writer": "alive" if s["writer_alive"] else "none",
        "last write": f"{R.age(s['last_write_ns'], now)} ago" if s["last_write_ns"] else "never",
        "readers": f"{sum(r['alive'] for r in s['readers'])} live, "
                   f"{sum(not r['alive'] for r in s['readers'])} dead, {s['lost']} frames lost in all",
    })
    if not s["readers"]:
        return head
    return Group(head, R.table(None, R.READER_COLUMNS, R.reader_rows(s["readers"], now)))
