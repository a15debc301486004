"""Frame and ring metadata: FITS-style cards (keyword, value, comment), stored as UTF-8 JSON.

Two stored forms (docs/format.md, "Metadata"), both plain JSON so a C or
MATLAB reader parses them with any JSON library:

* an **object** ``{"EXPTIME": 2.5, "OBJECT": "M31"}`` when every card is a
  plain keyword = value (what a ``dict`` gives; the only form before cards);
* an **array of cards** ``[["EXPTIME", 2.5, "exposure (s)"], ["COMMENT", "text", ""]]``
  when a card has a comment, is commentary (``COMMENT``, ``HISTORY``, blank)
  or repeats a keyword: what a FITS header needs to survive.

The writer picks the first form that holds the cards exactly, so plain
metadata stays byte-for-byte what it always was. Values are int, float, str,
bool or None (FITS's undefined value); numpy scalars are accepted and stored
as the Python value they equal. Keys keep their case and may be longer than
8 characters or contain spaces (FITS ``HIERARCH`` keywords).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

from ._errors import FrameError
from ._fits import COMMENTARY, from_header, set_cards, to_header

Value = int | float | str | bool | None
_VALUE_TYPES = (bool, int, float, str)


class Card(NamedTuple):
    """One metadata card, as in a FITS header.

    Attributes:
        keyword: the key, case kept (``"EXPTIME"``, ``"ESO DET DIT"``; ``"COMMENT"``,
            ``"HISTORY"`` or ``""`` for commentary cards).
        value: int, float, str, bool, or None (FITS's undefined value); the text of a
            commentary card.
        comment: the card's comment (``""`` if none).
    """

    keyword: str
    value: Value
    comment: str = ""


class Meta(dict[str, Value]):
    """Metadata as read: a dict of keyword to value, plus every card in order.

    The dict holds the first value of each keyword (commentary cards are not
    in it); :attr:`cards` holds everything stored, comments, ``COMMENT`` and
    ``HISTORY`` included. Passing a Meta back as ``meta`` (forwarding a frame)
    stores its cards with the dict's current values: keys changed, added or
    deleted in the dict are honoured, comments and commentary are kept.

    Metadata stored in the object form (plain keyword = value) keeps no card
    list of its own: its cards are the dict's items, comments empty.
    """

    def __init__(self, cards: Iterable[Card] = ()) -> None:
        super().__init__()
        self._cards: tuple[Card, ...] | None = tuple(cards)
        for card in self._cards:
            if card.keyword not in COMMENTARY:
                self.setdefault(card.keyword, card.value)

    @classmethod
    def _plain(cls, items: dict[str, Value]) -> Meta:
        """A Meta of keyword = value items only (the object form): the per-frame fast path."""
        meta = cls()
        dict.update(meta, items)
        meta._cards = None
        return meta

    @property
    def cards(self) -> tuple[Card, ...]:
        """The cards, in stored order (COMMENT, HISTORY and comments included)."""
        if self._cards is None:
            return tuple(Card(k, v) for k, v in self.items())
        return self._cards

    def comment(self, keyword: str) -> str:
        """The comment of the first card of ``keyword`` (``""`` if it has none or is absent)."""
        return next((c.comment for c in self.cards if c.keyword == keyword), "")

    def to_cards(self) -> list[Card]:
        """The cards to store: :attr:`cards` brought up to date with the dict's contents."""
        out, seen = [], set()
        for card in self.cards:
            if card.keyword in COMMENTARY:
                out.append(card)
            elif card.keyword in self:
                first = card.keyword not in seen
                seen.add(card.keyword)
                out.append(card._replace(value=self[card.keyword]) if first else card)
        out += [Card(k, v) for k, v in self.items() if k not in seen]
        return out

    def to_fits_header(self) -> Any:
        """An ``astropy.io.fits.Header`` of these cards (needs the ``[fits]`` extra).

        Keywords longer than 8 characters, or with characters FITS keywords may
        not hold, become ``HIERARCH`` cards; long strings become ``CONTINUE`` cards.
        """
        return to_header(self.to_cards())

    def to_fits_header_with(self, own: Iterable[tuple[str, Any, str]]) -> Any:
        """:meth:`to_fits_header` with ``own`` cards set last (replacing cards of the same keyword)."""
        return set_cards(self.to_fits_header(), own)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Meta, (self.to_cards(),))


# -- the caller's metadata -> cards ---------------------------------------------------------


def to_cards(meta: object) -> list[Card]:
    """Cards of any accepted ``meta``: a Meta, a mapping, an astropy Header, or a sequence of cards.

    Raises:
        FrameError: a key or value that cannot be stored (the message names it).
    """
    if isinstance(meta, Meta):
        return [_checked(c.keyword, c.value, c.comment) for c in meta.to_cards()]
    if type(meta).__module__.startswith("astropy.io.fits"):
        return [_checked(*card) for card in from_header(meta)]
    if isinstance(meta, Mapping):
        return [_mapping_card(key, value) for key, value in meta.items()]
    if isinstance(meta, (list, tuple)):
        return [_sequence_card(item) for item in meta]
    raise FrameError("meta must be a dict of str to int/float/str/bool/None, an astropy.io.fits.Header, "
                     f"or a list of (keyword, value, comment) cards; got {type(meta).__name__}")


def _mapping_card(key: object, value: object) -> Card:
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str):
        return _checked(key, value[0], value[1])  # astropy's header[key] = (value, comment)
    return _checked(key, value, "")


def _sequence_card(item: object) -> Card:
    if isinstance(item, tuple) and len(item) in (2, 3):
        return _checked(*item)
    raise FrameError(f"meta cards must be (keyword, value) or (keyword, value, comment) tuples, got {item!r}")


def _checked(key: object, value: object, comment: object = "") -> Card:
    if not isinstance(key, str):
        raise FrameError(f"meta keys must be str, got {key!r}", key=key)
    if not isinstance(comment, str):
        raise FrameError(f"the comment of meta[{key!r}] must be str, got {type(comment).__name__}", key=key)
    return Card(key, _plain_value(key, value), comment)


def _plain_value(key: str, value: object) -> Value:
    if isinstance(value, np.generic):  # numpy scalars: np.uint16, np.float32, np.bool_, np.str_, ...
        value = value.item()
    for kind in _VALUE_TYPES:  # bool first: it is also an int
        if isinstance(value, kind):
            return kind(value)  # a subclass (np.float64, an IntEnum) is stored as the plain value
    if value is None or type(value).__name__ == "Undefined":  # astropy.io.fits's undefined value
        return None
    raise FrameError(f"meta[{key!r}] must be int, float, str, bool or None, got {type(value).__name__}",
                     key=key)


# -- bytes ------------------------------------------------------------------------------------


def encode(meta: object, limit: int) -> bytes:
    """Serialise ``meta``; FrameError if a key or value is not allowed or it exceeds ``limit`` bytes."""
    if meta is None:
        return b""
    if _is_plain(meta):  # the common case, per frame: a dict of plain values, stored as it is
        form: object = meta
    else:
        cards = to_cards(meta)
        form = _stored_form(cards)
    if not form:
        return b""
    try:
        data = json.dumps(form, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except ValueError:  # NaN or infinity: JSON (RFC 8259) and FITS headers hold finite numbers only
        raise _not_finite(meta) from None
    if len(data) > limit:
        raise FrameError(
            f"metadata is {len(data):,} bytes encoded, the ring allows {limit:,} (meta_bytes)",
            size=len(data), limit=limit)
    return data


def _not_finite(meta: object) -> FrameError:
    key, value = next((c.keyword, c.value) for c in to_cards(meta)
                      if isinstance(c.value, float) and not math.isfinite(c.value))
    return FrameError(f"meta[{key!r}] is {value}: metadata holds finite numbers only (JSON and FITS have "
                      "no NaN or infinity); store it as a string or leave the key out", key=key)


_PLAIN_TYPES = frozenset((bool, int, float, str, type(None)))


def _is_plain(meta: object) -> bool:
    """A dict (or an object-form Meta) of str keys to values of exactly the plain types."""
    if type(meta) is not dict and not (type(meta) is Meta and meta._cards is None):
        return False
    return all(type(k) is str and type(v) in _PLAIN_TYPES for k, v in meta.items())


def _stored_form(cards: list[Card]) -> object:
    """The object form when it holds the cards exactly, else the array of cards."""
    keys = [c.keyword for c in cards]
    plain = all(not c.comment and c.keyword not in COMMENTARY for c in cards) and len(set(keys)) == len(keys)
    if plain:
        return {c.keyword: c.value for c in cards}
    return [list(c) for c in cards]


def decode(data: bytes) -> Meta | dict[str, Any]:
    """Parse stored metadata; an unreadable block reads as ``{"_invalid": <reason>}``, never raises."""
    if not data:
        return {}
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:  # "[[[[..." nests past the parser's limit
        return {"_invalid": f"metadata is not JSON: {err}"}
    if isinstance(value, dict):
        return Meta._plain(value)
    if isinstance(value, list) and all(_is_stored_card(c) for c in value):
        return Meta(Card(*c) for c in value)
    return {"_invalid": "metadata is neither a JSON object nor an array of [keyword, value, comment] cards"}


def _is_stored_card(item: object) -> bool:
    return (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str) and isinstance(item[2], str)
            and (item[1] is None or isinstance(item[1], _VALUE_TYPES)))


def cards_of(meta: Mapping[str, Any]) -> tuple[Card, ...]:
    """The cards behind metadata as read (a Meta's own, or one plain card per key of a dict)."""
    if isinstance(meta, Meta):
        return meta.cards
    return tuple(Card(k, v) for k, v in meta.items())
