"""shmring bench through the real command: the tables come out with every row and numbers that parse."""

from __future__ import annotations

import json
import re

from cli_helpers import Run

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
