"""``shmring demo``: a synthetic camera, statistics readers, a live table, a summary and a PNG snapshot.

The ring is created here and removed on every exit path; the processes are
managed by :class:`~shmring.cli.demo._run.DemoRun`, the live numbers by
:class:`~shmring.cli.demo._view.Monitor`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from ... import Ring, ShmringError
from .. import _png
from .. import _render as R
from .._app import cli
from .._options import format_shape, parse_shape
from ._run import DemoRun, sigint_ignored
from ._starfield import DTYPES, verify
from ._view import Monitor, summary_table

#: Seconds between redraws of the live table.
REFRESH_S = 0.25


@cli.command()
@click.option("--seconds", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="How long the camera writes.")
@click.option("--shape", default="2048x2048", show_default=True, help="Frame size, WIDTHxHEIGHT.")
@click.option("--dtype", default="uint16", show_default=True, type=click.Choice(DTYPES), help="Pixel type.")
@click.option("--rate", default=50.0, show_default=True, type=click.FloatRange(min=0),
              help="Frames per second the camera aims at (0: as fast as it can).")
@click.option("--readers", default=2, show_default=True, type=click.IntRange(1, 16),
              help="Reader processes computing per-frame statistics.")
@click.option("--slots", default=8, show_default=True, type=click.IntRange(2, 1024), help="Ring slots.")
@click.option("--png", "png_path", default="shmring-demo.png", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Where to write the last frame as PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of tables.")
def demo(seconds: float, shape: str, dtype: str, rate: float, readers: int, slots: int, png_path: Path,
         as_json: bool) -> None:
    """Run a synthetic camera into a ring, read it from other processes, and report.

    Exits 0 only when every reader received frames and none was torn.
    """
    dims = parse_shape(shape, "--shape")
    if len(dims) != 2 or min(dims) < 16:
        raise click.BadParameter(f"{shape!r}: the demo needs a 2-D frame of at least 16x16", param_hint="--shape")
    ring = Ring.create(f"shmring-demo-{os.getpid()}", slots=slots, dtype=np.dtype(dtype), shape=dims)
    run = DemoRun(ring.name, readers, rate)
    try:
        summary = _run(ring, run, seconds, png_path, as_json)
    except KeyboardInterrupt:
        R.note(f"interrupted: stopping {len(run.procs)} processes and removing ring {ring.name}")
        raise
    finally:
        with sigint_ignored():
            run.shutdown()
            ring.unlink()
            ring.close()
    _report(summary, as_json)


def _run(ring: Ring, run: DemoRun, seconds: float, png_path: Path, as_json: bool) -> dict[str, Any]:
    run.start()
    pids = ",".join(str(p.pid) for p in run.procs)
    R.note(f"demo: ring {ring.path} ({format_shape(ring.shape)} {ring.dtype}, {ring.slots} slots): "
           f"camera and {len(run.reader_procs)} readers started, pids={pids}")
    monitor = Monitor(run.board, ring, seconds)
    live = not as_json and sys.stdout.isatty()
    with monitor.live() if live else contextlib.nullcontext():
        run.go()
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            run.wait(min(REFRESH_S, seconds - elapsed))
            run.check_alive()
            monitor.update(elapsed)
        elapsed = time.monotonic() - started
        problems = run.stop()
        monitor.update(elapsed, final=True)
    summary = monitor.summary(elapsed, problems)
    summary["snapshot"] = _snapshot(ring, png_path, summary["problems"])
    summary["ok"] = not summary["problems"]
    return summary


def _snapshot(ring: Ring, png_path: Path, problems: list[str]) -> dict[str, Any] | None:
    """Write the newest frame still in the ring as an asinh-stretched PNG."""
    try:
        with ring.reader(start="latest", name="snapshot") as reader:
            frame = reader.get(timeout=1.0)
    except ShmringError as err:
        problems.append(f"no frame for the snapshot: {err}")
        return None
    problem, _ = verify(frame.data, int(frame.meta.get("FRAME", -1)))
    if problem:
        problems.append(f"snapshot frame {frame.seq} is torn: {problem}")
    _png.write(png_path, _png.asinh_stretch(frame.data))
    return {"path": str(png_path.resolve()), "seq": frame.seq, "date_obs": frame.meta.get("DATE-OBS")}


def _report(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        R.echo_json(summary)
    else:
        out = R.console()
        out.print(summary_table(summary))
        snap = summary["snapshot"]
        if snap:
            out.print(f"snapshot of frame {snap['seq']} ({snap['date_obs']}): {snap['path']}")
    if not summary["ok"]:
        raise click.ClickException("; ".join(summary["problems"]))
