"""The demo's numbers: a live rich table with a progress bar, and the final summary."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ... import Ring
from .. import _render as R
from ._procs import Board

_COLUMNS = ("process", "frames>", "frames/s>", "MB/s>", "latency ms>", "max ms>", "lost>", "overrun>",
            "torn>", "mean>", "max>", "centroid x, y>")


class Monitor:
    """Turns the board's counters into rates, a live table, and the summary."""

    def __init__(self, board: Board, ring: Ring, seconds: float) -> None:
        self.board = board
        self.ring_name = ring.name
        self.frame_bytes = int(ring.dtype.itemsize * int(np.prod(ring.shape))) if ring.dtype and ring.shape else 0
        self.shape = list(ring.shape or ())
        self.dtype = str(ring.dtype)
        self.seconds = seconds
        self._last: tuple[float, list[float]] = (time.monotonic(), self._counts())
        self._rates = [0.0] * (board.readers + 1)
        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                  TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn())
        self._task = self._progress.add_task(f"demo on ring {ring.name}", total=seconds)
        self._live: Live | None = None

    def _counts(self) -> list[float]:
        return [self.board.get(None, "written")] + [self.board.get(i, "frames") for i in range(self.board.readers)]

    @contextmanager
    def live(self) -> Iterator[None]:
        """Redraw the table in place while the block runs."""
        with Live(self._render(), refresh_per_second=4, transient=False) as live:
            self._live = live
            try:
                yield
            finally:
                self._live = None

    def update(self, elapsed: float, final: bool = False) -> None:
        """Take a new sample of the counters (rates are over the time since the last one)."""
        now, counts = time.monotonic(), self._counts()
        then, before = self._last
        if now - then >= 0.2:
            self._rates = [(c - b) / (now - then) for c, b in zip(counts, before, strict=True)]
            self._last = (now, counts)
        self._progress.update(self._task, completed=self.seconds if final else min(elapsed, self.seconds))
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> RenderableType:
        return Group(live_table(self._rows(self._rates)), self._progress)

    def _rows(self, rates: list[float]) -> list[dict[str, Any]]:
        cam = self.board.row(None)
        rows = [{"process": "camera", "frames": int(cam["written"]), "fps": rates[0],
                 "mb_per_s": rates[0] * self.frame_bytes / 1e6}]
        for i in range(self.board.readers):
            rows.append(self._reader_row(i, rates[i + 1]))
        return rows

    def _reader_row(self, index: int, fps: float) -> dict[str, Any]:
        r = self.board.row(index)
        frames = int(r["frames"])
        return {"process": f"reader {index}", "frames": frames, "fps": fps,
                "mb_per_s": fps * self.frame_bytes / 1e6,
                "latency_mean_ms": 1e3 * r["latency_sum_s"] / frames if frames else None,
                "latency_max_ms": 1e3 * r["latency_max_s"] if frames else None,
                "lost": int(r["lost"]), "overrun": int(r["overrun"]), "torn": int(r["torn"]),
                "last": {"seq": int(r["last_seq"]), "mean": round(r["mean"], 3), "max": r["max"],
                         "cx": round(r["cx"], 3), "cy": round(r["cy"], 3)} if frames else None}

    def summary(self, elapsed: float, problems: list[str]) -> dict[str, Any]:
        """Totals over the whole run, and everything that went wrong."""
        rows = self._rows([0.0] * (self.board.readers + 1))
        for row in rows:
            row["fps"] = round(row["frames"] / elapsed, 2) if elapsed > 0 else 0.0
            row["mb_per_s"] = round(row["fps"] * self.frame_bytes / 1e6, 2)
        cam = self.board.row(None)
        rows[0]["render_ms"] = round(1e3 * cam["render_s"] / cam["written"], 3) if cam["written"] else None
        problems = list(problems)
        problems += [f"{r['process']} received no frames" for r in rows[1:] if not r["frames"]]
        problems += [f"{r['process']} saw {r['torn']} torn frames" for r in rows[1:] if r["torn"]]
        return {"ring": self.ring_name, "shape": self.shape, "dtype": self.dtype,
                "frame_bytes": self.frame_bytes, "seconds": round(elapsed, 3),
                "camera": rows[0], "readers": rows[1:], "problems": problems}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _cells(row: dict[str, Any]) -> list[str]:
    last = row.get("last")
    where = f"{last['cx']:.1f}, {last['cy']:.1f}" if last else "-"
    return [row["process"], str(row["frames"]), f"{row['fps']:.1f}", f"{row['mb_per_s']:.0f}",
            _ms(row.get("latency_mean_ms")), _ms(row.get("latency_max_ms")),
            str(row.get("lost", "-")), str(row.get("overrun", "-")), str(row.get("torn", "-")),
            f"{last['mean']:.1f}" if last else "-", f"{last['max']:.0f}" if last else "-", where]


def live_table(rows: list[dict[str, Any]], title: str | None = None) -> Table:
    """The table of the camera and each reader."""
    return R.table(title, _COLUMNS, (_cells(r) for r in rows))


def summary_table(summary: dict[str, Any]) -> Table:
    """The final table: averages over the run."""
    title = (f"shmring demo: {summary['seconds']:.1f} s, {R.nbytes(summary['frame_bytes'])} frames "
             f"({'x'.join(map(str, reversed(summary['shape'])))} {summary['dtype']}), "
             f"{'OK' if not summary['problems'] else 'FAILED'}")
    return live_table([summary["camera"], *summary["readers"]], title)
