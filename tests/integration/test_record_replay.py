"""shmring.record / shmring.replay through the public API, with a writer in another process."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

import numpy as np
import pytest
from _stream_children import write_numbered
from astropy.io import fits

import shmring

FRAMES = 12


def wait_for_reader(ring: shmring.Ring, name: str, timeout: float = 30.0) -> None:
    """Until a live reader called ``name`` is attached. Attaching wakes nobody, so this looks (bounded)."""
    deadline = time.monotonic() + timeout
    while not any(r.name == name and r.alive for r in ring.readers()):
        assert time.monotonic() < deadline, f"no reader {name!r} attached within {timeout} s"
        time.sleep(0.01)


def _record_from_child(ring: shmring.Ring, out: Path, fmt: str, spawn: Callable[..., BaseProcess]
                       ) -> shmring.Recording:
    """Record FRAMES frames a child writes into the block ring; the child starts once the recorder is there."""
    import threading

    result: list[shmring.Recording] = []
    recorder = threading.Thread(target=lambda: result.append(
        shmring.record(ring.name, out, format=fmt, frames=FRAMES)), daemon=True)
    recorder.start()
    wait_for_reader(ring, "record")
    child = spawn(write_numbered, ring.name, FRAMES)
    recorder.join(60)
    child.join(30)
    assert not recorder.is_alive() and result, "the recording did not finish within 60 s"
    assert child.exitcode == 0, f"the writer child exited with {child.exitcode}"
    return result[0]


@pytest.mark.parametrize("fmt", ["npy", "fits", "cube"])
def test_a_block_ring_is_recorded_whole_and_replays_the_same(
        shm_dir: Path, tmp_path: Path, unique_name: str, fmt: str, spawn: Callable[..., BaseProcess]) -> None:
    with shmring.Ring.create(unique_name, slots=3, slot_bytes=64, policy="block", keywords={"TELESCOP": "T1"}) as ring:
        done = _record_from_child(ring, tmp_path / "rec", fmt, spawn)
    assert (done.frames, done.lost, done.interrupted) == (FRAMES, 0, False), "a block ring loses nothing"
    index = [json.loads(line) for line in (tmp_path / "rec" / "frames.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in index] == list(range(FRAMES))
    assert index[3]["cards"] == [["EXPTIME", 0.3, "exposure (s)"], ["HISTORY", "frame 3", ""]]
    if fmt != "cube":
        files = sorted(p.name for p in (tmp_path / "rec").glob(f"*.{fmt}"))
        assert files == [f"{k:09d}.{fmt}" for k in range(FRAMES)], "zero-padded names sort in frame order"

    target = f"{unique_name}-copy"
    with shmring.Ring.create(target, slots=FRAMES, slot_bytes=64) as copy, copy.reader() as reader:
        assert shmring.replay(tmp_path / "rec", target, rate=math.inf) == FRAMES
        got = [reader.get(timeout=5) for _ in range(FRAMES)]
    assert [int(f.data[0, 0]) for f in got] == list(range(FRAMES)) and all(f.data.shape == (4, 5) for f in got)
    assert [f.flags for f in got] == list(range(FRAMES))
    assert got[5].meta == {"EXPTIME": 0.5} and got[5].meta.comment("EXPTIME") == "exposure (s)"  # type: ignore[attr-defined]
    assert ("HISTORY", "frame 5", "") in got[5].cards


def test_a_fits_recording_carries_seq_timestamps_and_stream_keywords(
        shm_dir: Path, tmp_path: Path, unique_name: str, spawn: Callable[..., BaseProcess]) -> None:
    with shmring.Ring.create(unique_name, slots=3, slot_bytes=64, policy="block", keywords={"TELESCOP": "T1"}) as ring:
        _record_from_child(ring, tmp_path / "rec", "fits", spawn)
    index = [json.loads(line) for line in (tmp_path / "rec" / "frames.jsonl").read_text().splitlines()]
    with fits.open(tmp_path / "rec" / "000000007.fits") as hdus:
        header = hdus[0].header
        assert (header["TELESCOP"], header["SHMSEQ"], header["SHMFLAGS"]) == ("T1", 7, 7)
        assert header["SHMTIME"] == index[7]["timestamp_ns"]
        assert (hdus[0].data == 7).all()


def test_a_cube_has_a_table_of_seq_and_timestamps(
        shm_dir: Path, tmp_path: Path, unique_name: str, spawn: Callable[..., BaseProcess]) -> None:
    with shmring.Ring.create(unique_name, slots=3, slot_bytes=64, policy="block") as ring:
        _record_from_child(ring, tmp_path / "rec", "cube", spawn)
    index = [json.loads(line) for line in (tmp_path / "rec" / "frames.jsonl").read_text().splitlines()]
    with fits.open(tmp_path / "rec" / "cube.fits") as hdus:
        assert hdus[0].data.shape == (FRAMES, 4, 5) and [int(p[0, 0]) for p in hdus[0].data] == list(range(FRAMES))
        table = hdus["FRAMES"].data
        assert list(table["SEQ"]) == list(range(FRAMES))
        assert list(table["TIMESTAMP_NS"]) == [e["timestamp_ns"] for e in index]
        assert list(table["MONOTONIC_NS"]) == [e["monotonic_ns"] for e in index]
    assert not (tmp_path / "rec" / ".cube.raw").exists()


def test_an_overwrite_ring_that_outruns_the_recorder_counts_every_lost_frame(
        shm_dir: Path, tmp_path: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=64) as ring, ring.writer() as writer:
        writer.put(b"0")

        def burst(done: int, lost: int) -> None:
            if done == 1:  # the disk "stalls" after the first frame while the writer goes on
                for k in range(1, 6):
                    writer.put(str(k).encode())

        done = shmring.record(unique_name, tmp_path / "rec", frames=3, start="oldest", progress=burst)
    assert (done.frames, done.lost) == (3, 3), "frames 1, 2 and 3 were overwritten before they were read"
    index = [json.loads(line) for line in (tmp_path / "rec" / "frames.jsonl").read_text().splitlines()]
    assert [(e["seq"], e["lost"]) for e in index] == [(0, 0), (4, 3), (5, 0)]


def test_seconds_end_a_recording_of_a_quiet_ring(shm_dir: Path, tmp_path: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=64):
        done = shmring.record(unique_name, tmp_path / "rec", seconds=0.3)
    assert (done.frames, done.lost) == (0, 0) and (tmp_path / "rec" / "frames.jsonl").read_text() == ""


def test_a_cube_refuses_a_frame_of_another_shape(shm_dir: Path, tmp_path: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=64) as ring, ring.writer() as writer:
        writer.put(np.zeros(4, np.uint8))
        writer.put(np.zeros(5, np.uint8))
        with pytest.raises(shmring.FrameError, match=r"frame 1 is \(5,\) uint8, the first was \(4,\) uint8"):
            shmring.record(unique_name, tmp_path / "rec", format="cube", frames=2, start="oldest")


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"format": "tiff"}, "format must be one of npy, fits, cube; got 'tiff'"),
    ({"frames": 0}, "frames must be an int >= 1 or None, got 0"),
    ({"seconds": -1.0}, "seconds must be > 0 or None, got -1.0"),
])
def test_bad_record_arguments_name_themselves(shm_dir: Path, tmp_path: Path, unique_name: str,
                                              kwargs: dict[str, object], says: str) -> None:
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=64), pytest.raises(ValueError) as err:
        shmring.record(unique_name, tmp_path / "rec", **kwargs)  # type: ignore[arg-type]
    assert says in str(err.value)


def test_a_recording_is_never_overwritten_and_replay_needs_one(shm_dir: Path, tmp_path: Path,
                                                              unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=64):
        shmring.record(unique_name, tmp_path / "rec", seconds=0.05)
        with pytest.raises(ValueError, match="holds a recording already"):
            shmring.record(unique_name, tmp_path / "rec", seconds=0.05)
        with pytest.raises(ValueError, match="holds no recording"):
            shmring.replay(tmp_path, unique_name)
        with pytest.raises(ValueError, match="rate must be > 0"):
            shmring.replay(tmp_path / "rec", unique_name, rate=0)


@pytest.mark.parametrize("rate", [None, 20.0])
def test_replay_never_puts_a_frame_before_it_is_due(shm_dir: Path, tmp_path: Path, unique_name: str,
                                                    rate: float | None) -> None:
    """Pacing sleeps to each frame's due time, so the lower bound holds however loaded the machine is."""
    rec = tmp_path / "rec"
    rec.mkdir()
    recorded_ns = [0, 150_000_000, 160_000_000, 400_000_000]  # the writer's clock at each recorded frame
    (rec / "ring.json").write_text(json.dumps({"slots": 8, "slot_bytes": 64, "meta_bytes": 512, "policy": "overwrite",
                                               "dtype": None, "shape": None, "keywords": []}))
    lines = []
    for i, mono in enumerate(recorded_ns):
        np.save(rec / f"{i:09d}.npy", np.full(4, i, dtype=np.uint8))
        lines.append(json.dumps({"index": i, "file": f"{i:09d}.npy", "seq": 40 + i, "timestamp_ns": 0,
                                 "monotonic_ns": 10**12 + mono, "flags": 0, "lost": 0, "cards": []}))
    (rec / "frames.jsonl").write_text("\n".join(lines) + "\n")
    assert shmring.replay(rec, unique_name, rate=rate) == 4
    with shmring.Ring.open(unique_name) as ring, ring.reader(start="oldest") as reader:
        got = [reader.get(timeout=5) for _ in range(4)]
    assert [int(f.data[0]) for f in got] == [0, 1, 2, 3]
    due = recorded_ns if rate is None else [int(i / rate * 1e9) for i in range(4)]
    since_first = [f.monotonic_ns - got[0].monotonic_ns for f in got]
    early = [i for i, (s, d) in enumerate(zip(since_first, due, strict=True)) if s < d]
    assert not early, f"frames {early} went out early: {since_first} ns after the first, due {due}"
