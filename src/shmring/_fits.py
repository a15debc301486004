"""Cards to and from ``astropy.io.fits.Header``; astropy is imported only when this is used.

astropy is the ``[fits]`` extra: shmring's core never needs it, and its absence
is one clear ImportError naming the extra.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections.abc import Iterable, Iterator
from typing import Any

#: Keywords of FITS commentary cards: their "value" is free text, and they may repeat.
COMMENTARY = ("COMMENT", "HISTORY", "")
#: What a FITS keyword of a plain card may be; anything else is written as a HIERARCH card.
_STANDARD_KEYWORD = re.compile(r"[A-Z0-9_-]{1,8}")


def astropy_fits() -> Any:
    """The ``astropy.io.fits`` module, or ImportError saying which extra provides it."""
    try:
        return importlib.import_module("astropy.io.fits")
    except ImportError as err:
        raise ImportError("FITS headers need astropy: pip install 'shmring[fits]'") from err


def from_header(header: Any) -> Iterator[tuple[str, Any, str]]:
    """(keyword, value, comment) of every card of an astropy Header, in order.

    HIERARCH keywords come without the ``HIERARCH`` prefix (as astropy names
    them); long strings arrive whole (astropy joins CONTINUE cards).
    """
    for card in header.cards:
        yield card.keyword, card.value, card.comment


def to_header(cards: Iterable[tuple[str, Any, str]]) -> Any:
    """An astropy Header holding ``cards`` (keyword, value, comment) in order."""
    fits = astropy_fits()
    header = fits.Header()
    for card in cards:
        header.append(_fits_card(fits, card), end=True)
    return header


def _fits_card(fits: Any, card: tuple[str, Any, str]) -> Any:
    keyword, value, comment = card
    if keyword in COMMENTARY:
        return fits.Card(keyword, "" if value is None else str(value))
    name = keyword if _STANDARD_KEYWORD.fullmatch(keyword) else f"HIERARCH {keyword}"
    return fits.Card(name, fits.card.UNDEFINED if value is None else value, comment)


#: The keywords shmring writes for a frame it saves (regenerated on output, dropped on input).
FRAME_KEYWORDS = ("SHMSEQ", "SHMTIME", "SHMDATE", "SHMMONO", "SHMFLAGS", "SHMLOST")


def frame_cards(seq: int, timestamp_ns: int, monotonic_ns: int, flags: int, lost: int) -> list[tuple[str, Any, str]]:
    """shmring's own cards for a saved frame: seq, timestamps, flags, frames lost before it."""
    when = dt.datetime.fromtimestamp(timestamp_ns / 1e9, tz=dt.timezone.utc)
    return [
        ("SHMSEQ", seq, "shmring frame sequence number"),
        ("SHMTIME", timestamp_ns, "[ns] published, since 1970-01-01 UTC"),
        ("SHMDATE", when.strftime("%Y-%m-%dT%H:%M:%S.%f"), "frame published (UTC)"),
        ("SHMMONO", monotonic_ns, "[ns] writer monotonic clock at publication"),
        ("SHMFLAGS", flags, "shmring user flags"),
        ("SHMLOST", lost, "frames missed just before this one"),
    ]


def set_cards(header: Any, cards: Iterable[tuple[str, Any, str]]) -> Any:
    """Set (replace or append) each card in an astropy Header; returns it."""
    for keyword, value, comment in cards:
        header.set(keyword, value, comment)
    return header
