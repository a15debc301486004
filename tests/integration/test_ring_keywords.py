"""Stream keywords: set once at create, read by every process that opens the ring."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import shmring
from shmring import _format as F


def test_keywords_set_at_create_are_read_by_every_opener(shm_dir: Path, unique_name: str) -> None:
    header = fits.Header()
    header["TELESCOP"] = ("1m RC", "telescope")
    header["HIERARCH DETECTOR SERIAL"] = "A-113"
    header.add_comment("stream of the guide camera")
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=4096, keywords=header) as ring:
        assert ring.keywords["TELESCOP"] == "1m RC"
        with shmring.Ring.open(unique_name) as other:
            assert other.keywords == {"TELESCOP": "1m RC", "DETECTOR SERIAL": "A-113"}
            assert other.keywords.comment("TELESCOP") == "telescope"
            assert ("COMMENT", "stream of the guide camera", "") in other.keywords.cards
            assert other.info().to_dict()["keywords"][0] == ["TELESCOP", "1m RC", "telescope"]


def test_frames_of_a_ring_with_keywords_land_after_the_keyword_pages(shm_dir: Path, unique_name: str) -> None:
    keywords = {f"K{i}": "v" * 60 for i in range(100)}  # more than one page encoded
    with shmring.Ring.create(unique_name, slots=3, slot_bytes=64, keywords=keywords) as ring, \
            ring.writer() as w, ring.reader(start="oldest") as r:
        for seq in range(5):
            w.put(np.full(8, seq, dtype=np.uint8))
        assert [r.get(timeout=5).data[0] for _ in range(3)] == [2, 3, 4]
    raw = (shm_dir / unique_name).read_bytes()
    (header_bytes,) = struct.unpack_from("<I", raw, 12)
    (keywords_len,) = struct.unpack_from("<I", raw, F.OFF_KEYWORDS_LEN)
    assert header_bytes == 4096 + -(-keywords_len // 4096) * 4096 and header_bytes >= 3 * 4096
    layout = F.read_header(raw, len(raw), unique_name)
    assert os.path.getsize(shm_dir / unique_name) == header_bytes + 3 * layout.slot_stride


def test_a_ring_without_keywords_keeps_the_layout_of_before(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=64) as ring:
        assert ring.keywords == {} and ring.keywords.cards == ()
    raw = (shm_dir / unique_name).read_bytes()
    assert struct.unpack_from("<I", raw, 12) == (4096,) and raw[512:1024] == bytes(512)
    assert len(raw) == 4096 + 2 * 8192, "header page, then two slots of 4 KiB metadata + 64 B payload, page-rounded"


def test_a_header_that_disagrees_with_its_keywords_is_refused(shm_dir: Path, unique_name: str) -> None:
    shmring.Ring.create(unique_name, slots=2, slot_bytes=64, keywords={"A": 1}).close()
    path = shm_dir / unique_name
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, F.OFF_KEYWORDS_LEN, 5000)  # would need two keyword pages
    path.write_bytes(raw)
    with pytest.raises(shmring.LayoutError, match="header bytes is 8192, expected 12288"):
        shmring.Ring.open(unique_name)


def test_keywords_that_cannot_be_stored_are_an_argument_error(shm_dir: Path, unique_name: str) -> None:
    with pytest.raises(ValueError, match=r"keywords: meta\['A'\] must be int, float, str, bool or None"):
        shmring.Ring.create(unique_name, slots=2, slot_bytes=64, keywords={"A": [1, 2]})
    with pytest.raises(ValueError, match=r"keywords are 1,\d{3},\d{3} bytes encoded, a ring holds at most 1,048,576"):
        shmring.Ring.create(unique_name, slots=2, slot_bytes=64, keywords={"A": "x" * (1 << 20)})
    assert shmring.Ring.names() == []


def test_the_numpy_only_example_reads_a_ring_with_keywords_and_cards(shm_dir: Path, unique_name: str) -> None:
    import runpy

    example = runpy.run_path(str(Path(__file__).parents[2] / "examples" / "numpy_only_reader.py"))
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=64, keywords={"TELESCOP": "x" * 5000}) as ring, \
            ring.writer() as w:
        w.put(np.arange(6, dtype=np.int32).reshape(2, 3), meta=[("EXPTIME", 1.5, "s"), ("HISTORY", "raw")])
        seq, data, meta = example["read_latest"](str(ring.path))
    assert (seq, data.tolist(), meta) == (0, [[0, 1, 2], [3, 4, 5]], {"EXPTIME": 1.5})
