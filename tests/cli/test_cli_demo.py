"""The main job, ``shmring demo``, through the real command: a clean run, and Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path

from cli_helpers import COMMAND_TIMEOUT_S, Run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_demo_runs_three_seconds_and_writes_a_png(shmring: Run, shm_dir: Path, tmp_path: Path) -> None:
    done = shmring("demo", "--seconds", "3", "--json", "--png", "snap.png", timeout=90)
    summary = json.loads(done.stdout)
    assert summary["ok"] is True and summary["problems"] == []
    assert len(summary["readers"]) == 2
    assert all(r["frames"] > 0 and r["torn"] == 0 for r in summary["readers"])
    assert summary["camera"]["frames"] > 0
    png = (tmp_path / "snap.png").read_bytes()
    assert png[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (2048, 2048)
    from PIL import Image

    with Image.open(tmp_path / "snap.png") as image:
        low, high = image.getextrema()
        assert image.size == (2048, 2048) and high > low  # stars on a sky, not a blank
    assert summary["snapshot"]["path"] == str(tmp_path / "snap.png")
    assert os.listdir(shm_dir) == [], "the demo left its ring behind"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_ctrl_c_stops_every_process_and_removes_the_ring(shm_dir: Path, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "shmring.cli", "demo", "--seconds", "60", "--shape", "256x256"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path) as proc:
        assert proc.stderr is not None
        started = proc.stderr.readline()  # the demo announces its processes once they are ready
        match = re.search(r"pids=([\d,]+)", started)
        assert match, f"the demo did not announce its processes: {started!r}"
        pids = [int(p) for p in match.group(1).split(",")]
        assert len(pids) == 3 and len(os.listdir(shm_dir)) == 1
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=COMMAND_TIMEOUT_S)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert os.listdir(shm_dir) == [], "the ring was not removed"
    assert [pid for pid in pids if not _gone(pid)] == [], "child processes outlived the demo"
    assert not (tmp_path / "shmring-demo.png").exists()
