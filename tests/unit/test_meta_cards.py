"""Metadata as FITS cards: comments, commentary, HIERARCH keys, numpy scalars, astropy Headers."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from astropy.io import fits

from shmring import Card, FrameError, Meta, _meta


def _header() -> fits.Header:
    header = fits.Header()
    header["EXPTIME"] = (2.5, "exposure time (s)")
    header["OBJECT"] = ("M 31", "target")
    header["NFRAMES"] = 12
    header["COOLED"] = (True, "sensor at setpoint")
    header["HIERARCH ESO DET DIT"] = (0.001, "detector integration time")
    header["LONGSTR"] = "x" * 150  # CONTINUE cards in a file
    header["UNDEF"] = (None, "no value yet")
    header.add_comment("taken on the 1 m telescope")
    header.add_history("dark subtracted")
    header.add_history("flat fielded")
    return header


def test_plain_dict_keeps_the_object_form_readers_know() -> None:
    raw = _meta.encode({"EXPTIME": 1.5, "N": 2}, 4096)
    assert json.loads(raw) == {"EXPTIME": 1.5, "N": 2}


def test_numpy_scalars_are_stored_as_the_values_they_equal() -> None:
    meta = {"GAIN": np.uint16(7), "BIG": np.int64(2**40), "ON": np.bool_(True), "T": np.float32(0.5),
            "NAME": np.str_("cam"), "D": np.float64(1.25)}
    back = _meta.decode(_meta.encode(meta, 4096))
    assert back == {"GAIN": 7, "BIG": 2**40, "ON": True, "T": 0.5, "NAME": "cam", "D": 1.25}
    assert [type(v) for v in back.values()] == [int, int, bool, float, str, float]


def test_an_astropy_header_survives_every_card() -> None:
    header = _header()
    back = _meta.decode(_meta.encode(header, 8192))
    assert isinstance(back, Meta)
    expected = [(c.keyword, None if c.value is fits.card.UNDEFINED else c.value, c.comment) for c in header.cards]
    assert [tuple(c) for c in back.cards] == expected
    assert back["EXPTIME"] == 2.5 and type(back["NFRAMES"]) is int and back["COOLED"] is True
    assert back.comment("EXPTIME") == "exposure time (s)"
    assert back["ESO DET DIT"] == 0.001
    assert "HISTORY" not in back, "commentary cards live in .cards, not in the dict"


def test_the_header_comes_back_as_an_astropy_header() -> None:
    header = _header()
    again = _meta.decode(_meta.encode(header, 8192)).to_fits_header()  # type: ignore[union-attr]
    assert [(c.keyword, c.value, c.comment) for c in again.cards] == [
        (c.keyword, c.value, c.comment) for c in header.cards]
    assert str(again) == str(header), "the same 80-character cards, HIERARCH and CONTINUE included"
    assert list(again["HISTORY"]) == ["dark subtracted", "flat fielded"]
    assert again["HIERARCH ESO DET DIT"] == 0.001
    assert again.comments["OBJECT"] == "target"


def test_stored_cards_are_plain_json_arrays() -> None:
    raw = _meta.encode([("EXPTIME", 2.5, "s"), ("COMMENT", "hello"), ("N", 3)], 4096)
    assert json.loads(raw) == [["EXPTIME", 2.5, "s"], ["COMMENT", "hello", ""], ["N", 3, ""]]
    assert b"2.5" in raw and b'"N",3,' in raw, "a real is written with a point, an integer without"


def test_value_comment_pairs_in_a_dict_become_cards() -> None:
    back = _meta.decode(_meta.encode({"EXPTIME": (2.0, "s"), "N": 1}, 4096))
    assert back.cards == (Card("EXPTIME", 2.0, "s"), Card("N", 1, ""))  # type: ignore[union-attr]
    assert type(back["EXPTIME"]) is float


def test_forwarding_a_meta_keeps_comments_and_honours_edits() -> None:
    got = _meta.decode(_meta.encode(_header(), 8192))
    assert isinstance(got, Meta)
    got["EXPTIME"] = 3.0
    del got["OBJECT"]
    got["SEQ"] = 5
    again = _meta.decode(_meta.encode(got, 8192))
    assert again["EXPTIME"] == 3.0 and again.comment("EXPTIME") == "exposure time (s)"
    assert "OBJECT" not in again and again["SEQ"] == 5
    assert [c.value for c in again.cards if c.keyword == "HISTORY"] == ["dark subtracted", "flat fielded"]  # type: ignore[union-attr]


def test_meta_pickles_with_its_cards() -> None:
    got = _meta.decode(_meta.encode([("A", 1, "one"), ("HISTORY", "h")], 4096))
    again = pickle.loads(pickle.dumps(got))
    assert again == got and again.cards == got.cards  # type: ignore[union-attr]


@pytest.mark.parametrize(("meta", "says"), [
    ([("A", 1j, "")], "meta['A'] must be int, float, str, bool or None, got complex"),
    ([("A", 1, 2)], "the comment of meta['A'] must be str, got int"),
    ([["A", 1]], "meta cards must be (keyword, value) or (keyword, value, comment) tuples"),
    ({"A": np.zeros(3)}, "meta['A'] must be int, float, str, bool or None, got ndarray"),
    (42, "meta must be a dict"),
    ({"T": float("nan")}, "meta['T'] is nan: metadata holds finite numbers only"),
    ([("T", float("-inf"), "c")], "meta['T'] is -inf: metadata holds finite numbers only"),
])
def test_what_cannot_be_a_card_is_refused_by_name(meta: object, says: str) -> None:
    with pytest.raises(FrameError) as err:
        _meta.encode(meta, 4096)
    assert says in str(err.value)


def test_a_malformed_card_array_reads_as_invalid_never_raises() -> None:
    assert "_invalid" in _meta.decode(b'[["A", 1]]')
    assert "_invalid" in _meta.decode(b'[["A", [1], ""]]')
