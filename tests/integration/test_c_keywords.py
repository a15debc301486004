"""Stream keywords and card-form metadata between libshmring (C) and shmring (Python), both ways."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import _c_frames as frames
import _libshmring as lib
import pytest

import shmring

pytestmark = pytest.mark.usefixtures("shm_dir")

WAIT_S = 60.0
N = 500


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lib.build_peer(tmp_path_factory.mktemp("ringpeer"))


def _peer(peer: Path, *args: str) -> str:
    done = subprocess.run([str(peer), *args], capture_output=True, text=True, timeout=WAIT_S, check=False)
    assert done.returncode == 0, f"ring_peer {' '.join(args)} failed: {done.stdout} {done.stderr}"
    return done.stdout


def _python_keywords() -> list[tuple[str, object, str]]:
    """Cards that need the card form and more than one page of keywords."""
    cards: list[tuple[str, object, str]] = [("TELESCOP", "1m RC", "telescope"), ("ESO DET DIT", 0.001, ""),
                                            ("COMMENT", "guide camera", "")]
    return cards + [(f"K{i}", "v" * 60, "") for i in range(100)]


def test_c_reads_frames_and_keywords_of_a_python_ring(peer: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=16, slot_bytes=frames.SLOT_BYTES, meta_bytes=256, policy="block",
                             keywords=_python_keywords()) as ring:
        reader = subprocess.Popen([str(peer), "read", unique_name, "0"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            assert reader.stdout is not None and reader.stdout.readline().strip() == "ready", "C reader attached"
            with ring.writer() as w:
                for i in range(N):
                    w.put(frames.array(i), meta=frames.meta(i), flags=frames.FINAL if i == N - 1 else i,
                          timeout=WAIT_S)
            out, err = reader.communicate(timeout=WAIT_S)
        finally:
            if reader.poll() is None:
                reader.kill()
            reader.wait(WAIT_S)
        assert reader.returncode == 0, f"C reader failed: {out} {err}"
        words = out.split()
        got = {words[k]: int(words[k + 1]) for k in range(0, len(words) - 1, 2)}
        assert got["received"] == N and got["bad"] == 0 and got["lost"] == 0, f"C reader: {got}"
        word, length, block = _peer(peer, "keywords", unique_name).rstrip("\n").split(" ", 2)
        assert word == "keywords" and int(length) == len(block.encode()) > 4096, "more than one keywords page"
        assert [tuple(card) for card in json.loads(block)] == _python_keywords(), "C reads the cards Python wrote"


def test_python_reads_keywords_and_card_metadata_of_a_c_ring(peer: Path, unique_name: str) -> None:
    assert _peer(peer, "create-cards", unique_name, "5").split() == ["written", "5"]
    with shmring.Ring.open(unique_name) as ring:
        assert ring.keywords == {"TELESCOP": "1 m", "DETECTOR SERIAL": "A-113"}
        assert ring.keywords.comment("TELESCOP") == "telescope"
        assert ring.keywords.cards[2] == ("COMMENT", "stream of the guide camera", "")
        reader = ring.reader(start="oldest")
        for i in range(5):
            frame = reader.get(timeout=WAIT_S)
            assert frame.seq == i and frame.data.tobytes() == frames.payload(i), f"frame {i} intact"
            assert frame.meta == {"i": i, "EXPTIME": i / 1000, "UNDEF": None}
            assert frame.meta.comment("EXPTIME") == "exposure time (s)"
            assert frame.cards == (("i", i, ""), ("EXPTIME", i / 1000, "exposure time (s)"),
                                   ("UNDEF", None, ""), ("HISTORY", "dark subtracted", ""),
                                   ("HISTORY", "flat fielded", ""))


def test_c_plain_metadata_stays_an_object(peer: Path, shm_dir: Path, unique_name: str) -> None:
    """Plain keyword = value cards keep the object form readers before card metadata understand."""
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=frames.SLOT_BYTES, meta_bytes=256) as ring:
        reader = ring.reader()
        _peer(peer, "write-shared", unique_name, "3", "1")
        frame = reader.get(timeout=WAIT_S)
        assert frame.meta == frames.meta(3)
    start = b'{"i":3,"fnv":"' + frames.meta(3)["fnv"].encode()
    assert start in (shm_dir / unique_name).read_bytes(), f"the slot holds an object starting {start!r}"
