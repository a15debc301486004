"""``shmring record | replay``: a ring's frames to a directory, and a directory back into a ring."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import Recording, record, replay
from . import _render as R
from ._app import cli
from ._exit import EXIT_INTERRUPTED
from ._options import ring_argument


@contextmanager
def _bar(what: str, total: int | None) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr; yields ``update(done, lost)``."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[lost]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total, lost="")

        def update(done: int, lost: int) -> None:
            bar.update(task, completed=done, lost=f"{lost} lost" if lost else "")

        yield update


@cli.command("record")
@click.argument("name")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the recording (created; must not hold one already).")
@click.option("--format", "fmt", default="npy", show_default=True, type=click.Choice(["npy", "fits", "cube"]),
              help="npy/fits: one zero-padded file per frame; cube: one FITS cube with a FRAMES table.")
@click.option("--frames", type=click.IntRange(min=1), help="Stop after this many frames.")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), help="Stop after this many seconds.")
@click.option("--start", default="next", show_default=True, type=click.Choice(["next", "oldest", "latest"]),
              help="First frame: the next one written, the oldest still in the ring, or the newest.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def record_command(name: str, output: Path, fmt: str, frames: int | None, seconds: float | None, start: str,
                   as_json: bool) -> None:
    """Record the frames of ring NAME into a directory (until --frames, --seconds or Ctrl-C).

    On a block ring nothing is lost while the disk keeps up (the writer waits
    for the recorder); on others, frames overwritten before they were recorded
    are counted exactly and reported.
    """
    with _bar(f"recording {name}", frames) as update:
        done = record(ring_argument(name), output, format=fmt, frames=frames, seconds=seconds, start=start,
                      progress=update)
    _report(done, as_json)
    if done.interrupted:
        click.get_current_context().exit(EXIT_INTERRUPTED)


def _report(done: Recording, as_json: bool) -> None:
    if as_json:
        R.echo_json({"directory": str(done.directory), "format": done.format, "frames": done.frames,
                     "lost": done.lost, "interrupted": done.interrupted})
        return
    click.echo(f"recorded {done.frames} frames to {done.directory} ({done.format}), {done.lost} lost"
               + (" (interrupted)" if done.interrupted else ""))


@cli.command("replay")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("name")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True),
              help="Frames per second instead of the original timing.")
@click.option("--fast", is_flag=True, help="As fast as the ring takes them.")
@click.option("--realtime", is_flag=True, help="Keep the original timing (the default).")
def replay_command(directory: Path, name: str, rate: float | None, fast: bool, realtime: bool) -> None:
    """Put a recording's frames into ring NAME (created like the recorded one if missing), with their timing."""
    if sum((rate is not None, fast, realtime)) > 1:
        raise click.UsageError("choose one of --rate, --fast and --realtime")
    with _bar(f"replaying into {name}", None) as update:
        put = replay(directory, ring_argument(name), rate=math.inf if fast else rate, progress=update)
    click.echo(f"replayed {put} frames from {directory} into {name}")
