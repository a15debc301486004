"""FITS headers through a ring: what the writer gives is what every reader gets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import shmring


def test_header_in_header_out_with_frame_keywords(shm_dir: Path, unique_name: str) -> None:
    header = fits.Header()
    header["EXPTIME"] = (0.25, "exposure (s)")
    header["HIERARCH ESO DET NDIT"] = (4, "sub-integrations")
    header.add_history("bias subtracted")
    image = np.arange(12, dtype=np.uint16).reshape(3, 4)
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=1024) as ring, ring.writer() as w, \
            ring.reader(start="oldest") as r:
        w.put(image, meta=header, flags=2)
        frame = r.get(timeout=5)
    assert frame.meta["EXPTIME"] == 0.25 and frame.meta.comment("EXPTIME") == "exposure (s)"  # type: ignore[attr-defined]
    out = frame.fits_header()
    assert out.comments["EXPTIME"] == "exposure (s)" and out["HIERARCH ESO DET NDIT"] == 4
    assert list(out["HISTORY"]) == ["bias subtracted"]
    assert (out["SHMSEQ"], out["SHMFLAGS"], out["SHMLOST"]) == (0, 2, 0)
    assert (out["SHMTIME"], out["SHMMONO"]) == (frame.timestamp_ns, frame.monotonic_ns)
    when = dt.datetime.fromtimestamp(frame.timestamp_ns / 1e9, tz=dt.timezone.utc).replace(tzinfo=None)
    assert out["SHMDATE"].startswith(when.strftime("%Y-%m-%dT%H:%M:%S"))


def test_numpy_scalar_metadata_reaches_the_reader_as_plain_values(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=64) as ring, ring.writer() as w, \
            ring.reader(start="oldest") as r:
        w.put(b"x", meta={"GAIN": np.uint16(3), "ON": np.bool_(False), "N": np.int64(-5)})
        assert r.get(timeout=5).meta == {"GAIN": 3, "ON": False, "N": -5}


def test_metadata_that_cannot_be_stored_is_refused_and_nothing_is_published(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=64) as ring, ring.writer() as w:
        with pytest.raises(shmring.FrameError, match=r"meta\['Z'\] must be int, float, str, bool or None, got complex"):
            w.put(b"x", meta={"Z": 1j})
        assert ring.info().write_seq == 0
