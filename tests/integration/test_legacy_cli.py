"""``shmring legacy ...`` through the real entry point, as a user runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shmring import SharedMem

pytestmark = pytest.mark.usefixtures("shm_dir")

WAIT_S = 30.0


def shmring(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shmring.cli", "legacy", *args],
                          capture_output=True, text=True, timeout=WAIT_S, check=False)


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "shmring.cli", "legacy", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT_S)


def test_put_fills_like_the_cpp_unit_test_and_reports_drops(tmp_path: Path) -> None:
    path = tmp_path / "smem_put"
    done = shmring("put", str(path), "--count", "6", "--slots", "4")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"put 6 buffers into {path}: 4 stored, 2 dropped"
    with SharedMem.open(path) as mem:
        assert (mem.item_size, mem.item_alloc) == (320 * 240, 4)
        for k in range(4):
            assert mem.get_buf() == (bytes([k]) * (320 * 240), k + 1, 320, 240, 0x12345678)


def test_info_recognises_an_original_file_by_its_signature(tmp_path: Path) -> None:
    path = tmp_path / "smem_info"
    with SharedMem.create(path, 1000, 4) as mem:
        mem.put_buf(b"x")
    done = subprocess.run([sys.executable, "-m", "shmring.cli", "info", str(path), "--json"],
                          capture_output=True, text=True, timeout=WAIT_S, check=False)
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert (row["layout"], row["slots"], row["slot_bytes"], row["queued"]) == ("legacy", 4, 1000, 1), row


def test_client_buf_reports_every_gap(tmp_path: Path) -> None:
    path = tmp_path / "smem_gaps"
    with SharedMem.create(path, 16, 4) as mem:
        for _ in range(6):
            mem.put_buf(b"x")  # 1..4 stored, 5 and 6 dropped
        first = shmring("client-buf", str(path), "--count", "2")
        assert first.returncode == 0, first.stderr
        assert "gap:" not in first.stdout and "received 2 buffers, 0 dropped in 0 gaps" in first.stdout
        mem.put_buf(b"y")  # put_counter 7 follows 4 in the queue
        second = shmring("client-buf", str(path), "--count", "3")
    assert second.returncode == 0, second.stderr
    assert "gap: put_counter 4 -> 7: 2 dropped" in second.stdout
    assert second.stdout.splitlines()[-1] == "received 3 buffers, 2 dropped in 1 gaps"


def test_client_buf_json_and_seconds_bound(tmp_path: Path) -> None:
    path = tmp_path / "smem_json"
    SharedMem.create(path, 16, 4).close()
    done = shmring("client-buf", str(path), "--seconds", "0.2", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '{"received": 0, "dropped": 0, "gaps": []}'


def test_server_and_client_exchange_time_strings(tmp_path: Path) -> None:
    path = tmp_path / "smem_clock"
    server = shmring("server", str(path), "--count", "1")
    assert server.returncode == 0, server.stderr
    client = start("client", str(path), "--count", "3", "--seconds", str(WAIT_S))
    server = start("server", str(path), "--seconds", str(WAIT_S), "--interval", "0.05")
    out, err = finish(client)
    server.send_signal(signal.SIGINT)  # done with it; Ctrl-C is its normal end
    finish(server)
    assert server.returncode == 130
    assert client.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 3 and len(set(lines)) == 3, f"expected 3 distinct time strings, got {lines}"
    assert all(len(line) == 23 and line[4] == "-" and line[19] == "." for line in lines), lines


def test_send_and_answer_commands(tmp_path: Path) -> None:
    path = tmp_path / "message"
    answerer = start("answer", str(path), "--count", "1", "--timeout", str(WAIT_S))
    sent = shmring("send", str(path), "hello there", "--timeout", str(WAIT_S))
    out, err = finish(answerer)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout == "HELLO THERE\n"
    assert answerer.returncode == 0, err
    assert out == "hello there\n"


def test_send_errors_are_reported_with_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "message"
    alone = shmring("send", str(path), "anyone?", "--timeout", "0.2")
    assert alone.returncode == 1
    assert alone.stderr.startswith("shmring: error: nobody answered")
    too_long = shmring("send", str(path), "x" * 300)
    assert too_long.returncode == 1
    assert "300 bytes" in too_long.stderr and "at most 255" in too_long.stderr


def test_bad_file_is_an_error_message_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "smem_junk"
    path.write_bytes(b"junk" * 100)
    done = shmring("client-buf", str(path), "--count", "1")
    assert done.returncode == 1
    assert done.stderr.startswith("shmring: error:") and "signature" in done.stderr
    assert "Traceback" not in done.stderr


def test_ctrl_c_exits_130(tmp_path: Path) -> None:
    path = tmp_path / "smem_ctrlc"
    assert shmring("server", str(path), "--count", "1").returncode == 0
    client = start("client", str(path))  # unbounded: runs until interrupted
    assert client.stdout is not None
    first = client.stdout.readline()  # it is running once it printed the time string
    assert first.strip(), "client printed nothing"
    client.send_signal(signal.SIGINT)
    finish(client)
    assert client.returncode == 130
