"""``shmring bench``: shmring's benchmark on this machine, against the floors measured in the same run.

The loops, checks and floors are the ones ``benchmarks/compare.py`` runs over the
peer libraries (``shmring._bench``); this command runs shmring alone, so it needs
no peer and no matplotlib.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .._bench import report, runner
from .._bench.measures import MEASURES
from . import _render as R
from ._app import cli

SUBJECTS = ("shmring", "shmring-spin", *runner.FLOORS)


def _names(value: str | None, known: tuple[str, ...], option: str) -> list[str]:
    if value is None:
        return list(known)
    names = [v for v in value.split(",") if v]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise click.BadParameter(f"unknown {', '.join(unknown) or 'empty list'}; choose from {','.join(known)}",
                                 param_hint=option)
    return names


@cli.command()
@click.option("--quick", is_flag=True, help="Fewer messages and one repetition (under a minute; no spread).")
@click.option("--reps", type=click.IntRange(min=1), help="Repetitions of every trial (default 5; 1 with --quick).")
@click.option("--measures", "measure_names", metavar="LIST",
              help=f"Comma-separated measures (default all): {','.join(MEASURES)}.")
@click.option("--placement", type=click.Choice([*runner.PLACEMENTS, "both"]), default="both", show_default=True,
              help="Both processes on different cores, on one core, or both.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Also write results.md and results.json into this directory.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of markdown tables.")
def bench(quick: bool, reps: int | None, measure_names: str | None, placement: str, out: Path | None,
          as_json: bool) -> None:
    """Measure shmring between two processes here: round trip, msg/s, frame GB/s, in place µs/frame.

    Prints markdown tables (shmring, shmring with a spinning reader, and the floors:
    a bare np.copyto, pipe, futex and busy-poll ping-pongs) with ratios.
    """
    measures = _names(measure_names, tuple(MEASURES), "--measures")
    places = list(runner.PLACEMENTS) if placement == "both" else [placement]
    if (os.cpu_count() or 1) < 2:
        R.note("note: one CPU only; cross-core numbers are meaningless")
    started = time.monotonic()
    results = _run(measures, places, quick, reps)
    results["config"]["wall_secs"] = round(time.monotonic() - started, 1)
    if out is not None:
        report.write(results, out)
    if as_json:
        click.echo(json.dumps(results, allow_nan=True))
    else:
        click.echo(report.markdown(results), nl=False)
    failed = [r for r in results["rows"] if r["status"] != "ok"]
    if failed:
        raise click.ClickException(f"{len(failed)} trial(s) failed: "
                                   + "; ".join(f"{r['subject']} {r['measure']}: {r['status']}" for r in failed))


def _run(measures: list[str], places: list[str], quick: bool, reps: int | None) -> dict[str, Any]:
    # No auto-refresh: a refresh thread must not be running while the runner forks its workers.
    columns = (TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), auto_refresh=False, transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def progress(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)
            bar.refresh()

        return runner.run(list(SUBJECTS), measures, quick=quick, reps=reps, placements=places, progress=progress)
