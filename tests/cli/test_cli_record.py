"""``shmring record`` and ``shmring replay`` through the real command, with a writer in another process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

import numpy as np
from _peer_children import write_frames
from astropy.io import fits
from cli_helpers import COMMAND_TIMEOUT_S, Run

from shmring import Ring

FRAMES = 10


def _wait_for_reader(ring: Ring, name: str, timeout: float = 30.0) -> None:
    """Until a live reader called ``name`` is attached. Attaching wakes nobody, so this looks (bounded)."""
    deadline = time.monotonic() + timeout
    while not any(r.name == name and r.alive for r in ring.readers()):
        assert time.monotonic() < deadline, f"no reader {name!r} attached within {timeout} s"
        time.sleep(0.01)


def test_record_a_block_ring_then_replay_it(shmring: Run, shm_dir: Path, tmp_path: Path, unique_name: str,
                                            spawn: Callable[..., BaseProcess]) -> None:
    shmring("create", unique_name, "--slots", "3", "--slot-bytes", "4KiB", "--policy", "block",
            "--keyword", "INSTRUME=guider")
    with Ring.open(unique_name) as ring:
        command = subprocess.Popen(
            [sys.executable, "-m", "shmring.cli", "record", unique_name, "-o", str(tmp_path / "rec"),
             "--format", "fits", "--frames", str(FRAMES), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        try:
            _wait_for_reader(ring, "record")
            writer = spawn(write_frames, unique_name, FRAMES)
            out, err = command.communicate(timeout=COMMAND_TIMEOUT_S)
        finally:
            command.kill()
        writer.join(30)
    assert command.returncode == 0, err
    summary = json.loads(out)
    assert (summary["frames"], summary["lost"], summary["format"]) == (FRAMES, 0, "fits")
    names = sorted(p.name for p in (tmp_path / "rec").glob("*.fits"))
    assert names == [f"{k:09d}.fits" for k in range(FRAMES)]
    with fits.open(tmp_path / "rec" / names[4]) as hdus:
        assert (hdus[0].header["INSTRUME"], hdus[0].header["SHMSEQ"]) == ("guider", 4)
        assert (hdus[0].data == 4).all()

    copy = f"{unique_name}-replayed"
    done = shmring("replay", str(tmp_path / "rec"), copy, "--fast")
    assert f"replayed {FRAMES} frames" in done.stdout
    with Ring.open(copy) as again, again.reader(start="oldest") as reader:
        assert again.policy == "block" and again.keywords == {"INSTRUME": "guider"}, "made like the recorded ring"
        assert [int(reader.get(timeout=5).data[0]) for _ in range(3)] == [FRAMES - 3, FRAMES - 2, FRAMES - 1]


def test_record_stops_after_seconds_and_writes_a_cube(shmring: Run, tmp_path: Path, unique_name: str) -> None:
    with Ring.create(unique_name, slots=4, slot_bytes=64) as ring, ring.writer() as writer:
        for k in range(3):
            writer.put(np.full(6, k, dtype=np.int16))
        done = shmring("record", unique_name, "-o", str(tmp_path / "cube"), "--format", "cube", "--start", "oldest",
                       "--seconds", "0.5")
    assert "recorded 3 frames" in done.stdout and "0 lost" in done.stdout
    with fits.open(tmp_path / "cube" / "cube.fits") as hdus:
        assert hdus[0].data.tolist() == [[k] * 6 for k in range(3)]
        assert list(hdus["FRAMES"].data["SEQ"]) == [0, 1, 2]


def test_replay_timing_options_exclude_each_other(shmring: Run, tmp_path: Path, unique_name: str) -> None:
    (tmp_path / "rec").mkdir()
    done = shmring("replay", str(tmp_path / "rec"), unique_name, "--rate", "5", "--fast", check=2)
    assert "choose one of --rate, --fast and --realtime" in done.stderr
    done = shmring("replay", str(tmp_path / "rec"), unique_name, check=1)
    assert "holds no recording" in done.stderr
