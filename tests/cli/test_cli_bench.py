"""shmring bench through the real command: the tables come out with every row and numbers that parse."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from cli_helpers import COMMAND_TIMEOUT_S, Run

# The smallest run that still crosses every kind of measure: one size each, one placement.
MEASURES = "rtt64,msg64,copy1M,inplace1M"
ARGS = ("bench", "--quick", "--reps", "1", "--measures", MEASURES, "--placement", "cross-core")
BENCH_TIMEOUT_S = 90.0
NUMBER = re.compile(r"^\d+(\.\d+)?( [kM])?$")


def _rows(markdown: str) -> dict[str, list[str]]:
    """The first table's rows: measure label -> cells (unit first)."""
    table = markdown.split("## cross-core", 1)[1].split("\n\n")[1]
    rows = [line.strip("|").split(" | ") for line in table.splitlines()[2:]]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows}


def test_bench_prints_every_row_with_numbers(shmring: Run) -> None:
    out = shmring(*ARGS, timeout=BENCH_TIMEOUT_S).stdout
    rows = _rows(out)
    expected = ["64 B round trip, median", "64 B round trip, p99", "64 B one-way", "1 MiB frame, copy-in",
                "1 MiB frame, in place"]
    assert list(rows) == expected, out
    header = out.split("## cross-core", 1)[1].split("\n\n")[1].splitlines()[0]
    assert "| shmring | shmring-spin | copyto | pipe | futex | spin |" in header, header
    for label, cells in rows.items():
        shmring_cells = cells[1:3]  # shmring and shmring-spin have a number in every row
        assert all(NUMBER.match(c) for c in shmring_cells), f"{label}: {cells}"
    assert NUMBER.match(rows["1 MiB frame, copy-in"][3]), rows  # the copyto floor
    assert all(NUMBER.match(c) for c in rows["64 B round trip, median"][4:]), rows  # pipe, futex, spin
    assert "Ratios shmring / other (cross-core)" in out


def test_bench_json_holds_every_trial(shmring: Run) -> None:
    results = json.loads(shmring(*ARGS, "--json", timeout=BENCH_TIMEOUT_S).stdout)
    rows = {(r["subject"], r["measure"]): r for r in results["rows"]}
    assert all(r["status"] == "ok" for r in rows.values()), rows
    assert rows["shmring", "msg64"]["metrics"]["msgs_per_s"]["median"] > 0
    assert rows["shmring", "copy1M"]["metrics"]["gb_per_s"]["median"] > 0
    assert rows["shmring", "inplace1M"]["metrics"]["us_per_frame"]["median"] > 0
    assert rows["futex", "rtt64"]["metrics"]["median_us"]["median"] > 0
    assert results["config"]["measures"] == MEASURES.split(",")


def test_bench_refuses_an_unknown_measure(shmring: Run) -> None:
    done = shmring("bench", "--measures", "rtt64,nope", check=2)
    assert "nope" in done.stderr and "--measures" in done.stderr


def test_ctrl_c_stops_the_bench_and_removes_its_rings(shm_dir: Path, tmp_path: Path) -> None:
    # A new session stands for the terminal's foreground group: Ctrl-C reaches every process.
    with subprocess.Popen([sys.executable, "-m", "shmring.cli", *ARGS], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=tmp_path, start_new_session=True) as proc:
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while not os.listdir(shm_dir) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)  # until a trial's rings exist
        assert os.listdir(shm_dir), "no trial started (or it ended before it could be seen)"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=COMMAND_TIMEOUT_S)
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert os.listdir(shm_dir) == [], "the bench left rings behind"
