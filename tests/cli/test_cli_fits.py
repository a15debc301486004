"""FITS through the real command: put a file, get it back with every card, seq and timestamps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from astropy.io import fits
from cli_helpers import Run

from shmring import Ring


def _source_file(path: Path) -> fits.Header:
    header = fits.Header()
    header["EXPTIME"] = (1.5, "exposure time (s)")
    header["OBJECT"] = ("NGC 891", "target name")
    header["HIERARCH ESO INS FILT1 NAME"] = ("R", "filter")
    header["NOTES"] = ("long " * 30).strip()
    header.add_comment("a comment card")
    header.add_history("raw frame")
    fits.PrimaryHDU(data=np.arange(20, dtype=np.uint16).reshape(4, 5), header=header).writeto(path)
    return header


def test_put_then_get_keeps_every_card_and_adds_frame_and_stream_keywords(
        shmring: Run, tmp_path: Path, unique_name: str) -> None:
    shmring("create", unique_name, "--slot-bytes", "4KiB", "--keyword", "TELESCOP=1m RC / the telescope",
            "--keyword", "GAIN=2")
    source = tmp_path / "in.fits"
    original = _source_file(source)
    shmring("put", unique_name, str(source), "--flags", "3", "--meta", "AIRMASS=1.2")
    shmring("get", unique_name, "--start", "oldest", "-o", str(tmp_path / "out.fits"), "--timeout", "10")
    with fits.open(tmp_path / "out.fits") as hdus:
        header, data = hdus[0].header, hdus[0].data
        assert data.tolist() == np.arange(20, dtype=np.uint16).reshape(4, 5).tolist()
        for card in original.cards:
            if card.keyword not in ("COMMENT", "HISTORY"):
                assert (header[card.keyword], header.comments[card.keyword]) == (card.value, card.comment), card
        assert list(header["HISTORY"]) == ["raw frame"] and "a comment card" in list(header["COMMENT"])
        assert (header["TELESCOP"], header.comments["TELESCOP"], header["GAIN"]) == ("1m RC", "the telescope", 2)
        assert header["AIRMASS"] == 1.2
        assert (header["SHMSEQ"], header["SHMFLAGS"], header["SHMLOST"]) == (0, 3, 0)
        with Ring.open(unique_name) as ring, ring.reader(start="oldest") as reader:
            assert header["SHMTIME"] == reader.get(timeout=5).timestamp_ns
        assert header["SHMDATE"].startswith("20")


def test_get_json_shows_the_cards_a_dict_cannot(shmring: Run, tmp_path: Path, unique_name: str) -> None:
    shmring("create", unique_name, "--slot-bytes", "4KiB")
    source = tmp_path / "in.fits"
    _source_file(source)
    shmring("put", unique_name, str(source))
    record = json.loads(shmring("get", unique_name, "--start", "oldest", "--timeout", "10").stdout)
    assert record["meta"]["EXPTIME"] == 1.5
    assert ["EXPTIME", 1.5, "exposure time (s)"] in record["cards"]
    assert ["HISTORY", "raw frame", ""] in record["cards"]


def test_info_shows_stream_keywords(shmring: Run, unique_name: str) -> None:
    shmring("create", unique_name, "--slot-bytes", "4KiB", "--keyword", "INSTRUME=guider / which camera")
    info = json.loads(shmring("info", unique_name, "--json").stdout)
    assert info["keywords"] == [["INSTRUME", "guider", "which camera"]]
    assert "guider" in shmring("info", unique_name).stdout


def test_a_keyword_without_a_value_is_a_usage_error(shmring: Run, unique_name: str) -> None:
    done = shmring("create", unique_name, "--slot-bytes", "4KiB", "--keyword", "TELESCOP", check=2)
    assert "'TELESCOP' is not KEY=VALUE" in done.stderr


def test_get_writer_gone_raise_fails_at_once_once_the_writer_left(shmring: Run, unique_name: str) -> None:
    with Ring.create(unique_name, slots=2, slot_bytes=64) as ring, ring.writer() as writer:
        writer.put(b"only")
    done = shmring("get", unique_name, "--start", "oldest", "-n", "2", "--timeout", "50", "--writer-gone", "raise",
                   check=1)
    assert json.loads(done.stdout.splitlines()[0])["seq"] == 0, "frames still there come first"
    assert "writer is gone" in done.stderr
