"""Output shared by the commands: JSON lines, rich tables, and human units.

Data goes to stdout (JSON with ``--json``, tables otherwise); messages that are
not data go to stderr, so ``shmring get X | jq`` never sees them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .. import ReaderInfo
from ._options import format_shape


def echo_json(value: Any) -> None:
    """One JSON document on one line of stdout, flushed (consumers see it at once)."""
    sys.stdout.write(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_jsonable) + "\n")
    sys.stdout.flush()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return str(value)


def note(message: str) -> None:
    """A message for the person at the terminal (stderr), not data."""
    click.echo(message, err=True)


def console() -> Console:
    """A rich console on stdout; plain and wide (no colour codes, no squeezed columns) when piped."""
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, soft_wrap=False, width=200 if wide else None)


def nbytes(n: float | None) -> str:
    """``33554432`` -> ``"32 MiB"``."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" or value >= 100 else f"{value:.3g} {unit}"
        value /= 1024
    return f"{value:.3g} GiB"


def age(ns: int | None, now_ns: int | None = None) -> str:
    """How long ago a CLOCK_REALTIME time in ns was: ``"0.4 s"``, ``"3 min"``, ``"never"``."""
    if not ns:
        return "never"
    seconds = max(0.0, ((now_ns or time.time_ns()) - ns) / 1e9)
    for limit, unit, div in ((120, "s", 1), (7200, "min", 60), (172800, "h", 3600)):
        if seconds < limit:
            return f"{seconds / div:.1f} {unit}" if seconds < 10 else f"{seconds / div:.0f} {unit}"
    return f"{seconds / 86400:.0f} d"


def yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> Table:
    """A rich table; numbers right-aligned (columns whose name ends in ``>``, stripped)."""
    out = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for name in columns:
        right = name.endswith(">")
        out.add_column(name.rstrip(">"), justify="right" if right else "left", no_wrap=True)
    for row in rows:
        out.add_row(*row)
    return out


def key_values(title: str, pairs: Mapping[str, str]) -> Table:
    """A two-column table of fields and values."""
    out = Table(title=title, title_justify="left", show_header=False, show_edge=False, box=None)
    out.add_column(style="bold", no_wrap=True)
    out.add_column()
    for key, value in pairs.items():
        out.add_row(key, value)
    return out


def reader_rows(readers: Iterable[ReaderInfo], now_ns: int) -> list[list[str]]:
    """Rows of a ring's reader table for display."""
    return [[str(r.index), r.name or "-", r.mode, yes_no(r.alive), str(r.pid),
             str(r.cursor), str(r.lag), str(r.lost), str(r.received),
             age(r.active_ns, now_ns)] for r in readers]


READER_COLUMNS = ("#>", "name", "mode", "alive", "pid>", "cursor>", "lag>", "lost>", "received>",
                  "last read>")


def schema_text(dtype: str | None, shape: tuple[int, ...] | list[int] | None) -> str:
    """The fixed frame type of a ring, or ``"any"``."""
    if dtype is None:
        return "any"
    return f"{format_shape(shape)} {_dtype_name(dtype)}"


def _dtype_name(typestr: str) -> str:
    import numpy as np

    return str(np.dtype(typestr))
