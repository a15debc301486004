"""``shmring watch NAME``: a live view of a ring's rate, its readers' lag and losses, its writer.

Watching never attaches: no reader entry is taken (a watcher must not pin
frames under the ``block`` policy), only the header and reader table are read.
The ring is opened anew at each tick, so a ring removed or re-created under
the same name is noticed at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click
from rich.console import Group, RenderableType
from rich.live import Live

from .. import Ring, RingStats, SegmentNotFoundError
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
            R.echo_json(sample.to_dict())
        return
    console = R.console()
    if not console.is_terminal:
        for sample in samples:  # piped: one table per sample, nothing redrawn in place
            console.print(_view(sample))
        return
    with Live(console=console, refresh_per_second=4) as live:
        for sample in samples:
            live.update(_view(sample))


@dataclass(frozen=True)
class _Sample:
    """``Ring.stats()`` at one tick plus the rates measured since the previous tick."""

    stats: RingStats
    time_ns: int
    frames_per_s: float | None
    bytes_per_s: float | None
    lost: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON line ``watch --json`` prints: the stats' fields, then the measured ones."""
        return {**self.stats.to_dict(), "time_ns": self.time_ns, "frames_per_s": self.frames_per_s,
                "bytes_per_s": self.bytes_per_s, "lost": self.lost}


def _samples(target: Any, interval: float, seconds: float | None, count: int | None) -> Iterator[_Sample]:
    """A sample of the ring every ``interval`` s, with rates over the time since the previous one."""
    end = None if seconds is None else time.monotonic() + seconds
    previous: tuple[float, RingStats] | None = None
    taken = 0
    while True:
        now = time.monotonic()
        sample = _sample(target, previous, now)
        yield sample
        previous, taken = (now, sample.stats), taken + 1
        if count is not None and taken >= count:
            return
        pause = interval if end is None else min(interval, end - time.monotonic())
        if pause <= 0:
            return
        time.sleep(pause)  # pacing the display: there is nothing to wake up for


def _sample(target: Any, previous: tuple[float, RingStats] | None, now: float) -> _Sample:
    """``Ring.stats()`` plus the measured frame and byte rates and the readers' total losses."""
    try:
        with Ring.open(target) as ring:
            stats = ring.stats()
    except SegmentNotFoundError:
        raise click.ClickException(f"ring {str(target)!r} does not exist (or was removed)") from None
    frames_per_s = None
    if previous is not None and previous[1].created_ns == stats.created_ns and now > previous[0]:
        frames_per_s = round((stats.write_seq - previous[1].write_seq) / (now - previous[0]), 3)
    size = _frame_bytes(stats)
    return _Sample(stats, time.time_ns(), frames_per_s,
                   None if frames_per_s is None or size is None else frames_per_s * size,
                   sum(r.lost for r in stats.readers))


def _frame_bytes(stats: RingStats) -> int | None:
    if stats.dtype is None or stats.shape is None:
        return None
    import numpy as np

    return int(np.dtype(stats.dtype).itemsize * int(np.prod(stats.shape)))


def _view(sample: _Sample) -> RenderableType:
    s, now = sample.stats, sample.time_ns
    fps = "-" if sample.frames_per_s is None else f"{sample.frames_per_s:.1f}/s"
    mbps = "" if sample.bytes_per_s is None else f", {sample.bytes_per_s / 1e6:.1f} MB/s"
    head = R.key_values(f"ring {s.name}", {
        "frames": f"{s.write_seq} written, {fps}{mbps} (ring estimate {s.rate_hz:.1f} Hz)",
        "writer": "alive" if s.writer_alive else "none",
        "last write": f"{R.age(s.last_write_ns, now)} ago" if s.last_write_ns else "never",
        "readers": f"{sum(r.alive for r in s.readers)} live, "
                   f"{sum(not r.alive for r in s.readers)} dead, {sample.lost} frames lost in all",
    })
    if not s.readers:
        return head
    return Group(head, R.table(None, R.READER_COLUMNS, R.reader_rows(s.readers, now)))
