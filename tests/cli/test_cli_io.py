"""put and get through the real command: files in, frames out, JSON lines, errors, closed pipes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import COMMAND_TIMEOUT_S, Run


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=">i4").reshape(3, 4),
    np.linspace(0, 1, 2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5),
    np.arange(640 * 480, dtype=np.uint16).reshape(480, 640),
], ids=["big-endian-int32", "float32-3d", "uint16-image"])
def test_npy_round_trip_keeps_dtype_shape_and_values(shmring: Run, tmp_path: Path, unique_name: str,
                                                     array: np.ndarray) -> None:
    np.save(tmp_path / "in.npy", array)
    shmring("create", unique_name, "--slot-bytes", "1MiB")
    shmring("put", unique_name, "in.npy", "--meta", "EXPTIME=0.5", "--meta", "OBJECT=M31")
    shmring("get", unique_name, "-o", "out.npy", "--timeout", "5")
    out = np.load(tmp_path / "out.npy")
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


def test_get_prints_one_json_line_per_frame_with_meta_and_text(shmring: Run, unique_name: str) -> None:
    shmring("create", unique_name, "--slot-bytes", "64KiB")
    shmring("put", unique_name, "--text", "hello", "--text", "wörld", "--meta", "N=3")
    lines = [json.loads(line) for line in shmring("get", unique_name, "-n", "2", "--start", "oldest",
                                                  "--timeout", "5").stdout.splitlines()]
    assert [line["seq"] for line in lines] == [0, 1]
    assert [line["text"] for line in lines] == ["hello", "wörld"]
    assert lines[1]["meta"]["N"] == 3 and lines[1]["dtype"] == "|u1" and lines[1]["shape"] == [6]
    assert all(line["lost"] == 0 and line["timestamp"].endswith("Z") for line in lines)


def test_get_on_an_idle_ring_times_out_with_a_clear_message(shmring: Run, unique_name: str) -> None:
    shmring("create", unique_name, "--slot-bytes", "4KiB")
    done = shmring("get", unique_name, "--timeout", "0.3", check=1)
    assert done.stdout == ""
    assert done.stderr.startswith("shmring: error: no frame on ring")
    assert unique_name in done.stderr and "0.3 s" in done.stderr


def test_raw_file_with_dtype_and_shape(shmring: Run, tmp_path: Path, unique_name: str) -> None:
    (tmp_path / "frame.raw").write_bytes(np.arange(6, dtype="<u2").tobytes())
    shmring("create", unique_name, "--slot-bytes", "4KiB")
    shmring("put", unique_name, "frame.raw", "--dtype", "uint16", "--shape", "3x2")
    record = json.loads(shmring("get", unique_name, "--timeout", "5").stdout)
    assert record["shape"] == [2, 3] and record["dtype"] == "<u2"


def test_bad_values_are_usage_errors(shmring: Run, unique_name: str) -> None:
    done = shmring("create", unique_name, "--slot-bytes", "lots", check=2)
    assert "--slot-bytes" in done.stderr and "lots" in done.stderr
    shmring("create", unique_name, "--slot-bytes", "4KiB")
    done = shmring("put", unique_name, "--text", "x", "--meta", "NOEQUALS", check=2)
    assert "KEY=VALUE" in done.stderr


def test_frame_too_large_names_the_sizes(shmring: Run, tmp_path: Path, unique_name: str) -> None:
    np.save(tmp_path / "big.npy", np.zeros(4096, dtype=np.uint16))
    shmring("create", unique_name, "--slot-bytes", "4KiB")
    done = shmring("put", unique_name, "big.npy", check=1)
    assert done.stderr.startswith("shmring: error:") and "8,192" in done.stderr and "4,096" in done.stderr


def test_closed_pipe_exits_quietly(shmring: Run, tmp_path: Path, unique_name: str) -> None:
    # Four lines of ~60 kB each overflow any pipe buffer, so writing must meet the closed pipe.
    shmring("create", unique_name, "--slot-bytes", "4KiB", "--meta-bytes", "64KiB", "--slots", "4")
    for k in range(4):
        shmring("put", unique_name, "--text", str(k), "--meta", "PAD=" + "x" * 60_000)
    with subprocess.Popen([sys.executable, "-m", "shmring.cli", "get", unique_name, "-n", "4",
                           "--start", "oldest", "--timeout", "5"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # what `| head -1` does
        rc = proc.wait(COMMAND_TIMEOUT_S)
        stderr = proc.stderr.read().decode()
    assert json.loads(first)["seq"] == 0
    assert rc == 0, stderr
    assert stderr == ""
