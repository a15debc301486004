"""Parsers for the values users type: shapes, byte sizes, dtypes, modes and KEY=VALUE metadata.

Each parser raises :class:`click.BadParameter` naming the option, the rule and
the value, so a typo is a usage error (exit 2) with a message that says how to fix it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click
import numpy as np

from .._format import ALLOWED_KINDS  # the one list of frame dtype kinds

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 1000**2, "mb": 1000**2,
          "mib": 1 << 20, "g": 1000**3, "gb": 1000**3, "gib": 1 << 30}
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([a-zA-Z]*)\s*")


def ring_dir() -> Path:
    """Where bare ring names live: ``$SHMRING_DIR`` or /dev/shm (the library's rule)."""
    from .. import segment_dir

    return segment_dir()


def parse_size(text: str, option: str) -> int:
    """``"32MiB"``, ``"4096"``, ``"1.5GB"`` -> bytes."""
    match = _SIZE_RE.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise click.BadParameter(f"{text!r} is not a size (e.g. 4096, 64KiB, 32MiB, 1GB)",
                                 param_hint=option)
    return int(float(match.group(1)) * _UNITS[unit])


def parse_shape(text: str, option: str) -> tuple[int, ...]:
    """``"2048x1536"`` (WIDTHxHEIGHT) -> numpy shape ``(1536, 2048)``; ``"3x480x640"`` likewise reversed.

    Dimensions are written fastest-varying first, as image sizes are; the numpy
    shape lists them slowest first.
    """
    parts = text.lower().replace("*", "x").split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        dims = []
    if not 1 <= len(dims) <= 4 or any(d < 1 for d in dims):
        raise click.BadParameter(f"{text!r} is not a shape: 1 to 4 positive integers joined by 'x', "
                                 "width first (e.g. 2048x2048)", param_hint=option)
    return tuple(reversed(dims))


def format_shape(shape: tuple[int, ...] | list[int] | None) -> str:
    """The inverse of :func:`parse_shape`: ``(1536, 2048)`` -> ``"2048x1536"``."""
    if shape is None:
        return "-"
    return "x".join(str(d) for d in reversed(shape)) if shape else "scalar"


def parse_dtype(text: str, option: str) -> np.dtype[Any]:
    """A numpy dtype name (``uint16``, ``float32``, ``<u2``) of a kind frames may have."""
    try:
        dtype = np.dtype(text)
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in ALLOWED_KINDS or dtype.fields is not None:
        raise click.BadParameter(f"{text!r} is not a frame dtype (a bool, integer, float or complex "
                                 "type such as uint8, uint16, float32)", param_hint=option)
    return dtype


def parse_mode(text: str, option: str) -> int:
    """Octal permission bits: ``660`` or ``0o660``."""
    try:
        mode = int(text.removeprefix("0o"), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777:
        raise click.BadParameter(f"{text!r} is not an octal file mode (000..777, e.g. 660)",
                                 param_hint=option)
    return mode


def parse_meta(items: tuple[str, ...], option: str = "--meta") -> dict[str, int | float | str | bool]:
    """``("EXPTIME=0.5", "OBJECT=M31")`` -> ``{"EXPTIME": 0.5, "OBJECT": "M31"}`` (numbers and booleans typed)."""
    meta: dict[str, int | float | str | bool] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=option)
        meta[key] = _typed(value)
    return meta


def parse_keywords(items: tuple[str, ...], option: str = "--keyword") -> list[tuple[str, object, str]]:
    """``("TELESCOP=1m RC / the telescope",)`` -> ``[("TELESCOP", "1m RC", "the telescope")]``.

    As FITS writes it, `` / `` (with the spaces) starts the card's comment;
    values are typed as for ``--meta``.
    """
    cards: list[tuple[str, object, str]] = []
    for item in items:
        key, sep, rest = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE or KEY=VALUE / COMMENT", param_hint=option)
        value, _, comment = rest.partition(" / ")
        cards.append((key.strip(), _typed(value.strip()), comment.strip()))
    return cards


def _typed(value: str) -> int | float | str | bool:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def ring_argument(name: str) -> str | Path:
    """A ring given on the command line: a bare name, or a path when it contains '/'."""
    return Path(name) if os.sep in name else name
