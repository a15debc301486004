"""call and serve through the real command: a test server in one process, commands from others."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cli_helpers import COMMAND_TIMEOUT_S, Run


@contextmanager
def _server(tmp_path: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``shmring serve ARGS`` in the background, once it announced it is serving."""
    with subprocess.Popen([sys.executable, "-m", "shmring.cli", "serve", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=tmp_path) as proc:
        assert proc.stderr is not None
        started = proc.stderr.readline()  # printed once the server holds the channel
        assert started.startswith("serving channel"), f"the server did not start: {started!r}"
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            proc.wait(COMMAND_TIMEOUT_S)


def test_call_gets_the_reply_of_a_serve_upper_process(shmring: Run, tmp_path: Path, shm_dir: Path,
                                                       unique_name: str) -> None:
    with _server(tmp_path, unique_name, "--upper", "--count", "2", "--json") as server:
        assert shmring("call", unique_name, "set exposure 2.5").stdout == "SET EXPOSURE 2.5\n"
        line = json.loads(shmring("call", unique_name, "status?", "--meta", "N=3", "--json").stdout)
        assert line["reply"] == "STATUS?" and line["meta"] == {"N": 3} and line["id"] == 2
        out, err = server.communicate(timeout=COMMAND_TIMEOUT_S)
    assert server.returncode == 0, err
    assert [json.loads(x)["request"] for x in out.splitlines()] == ["set exposure 2.5", "status?"]
    assert "served 2 requests" in err
    assert not (shm_dir / unique_name).exists(), "serve left the channel it created behind"


def test_serve_echo_removes_the_channel_it_created_and_ctrl_c_exits_130(
        shmring: Run, tmp_path: Path, shm_dir: Path, unique_name: str) -> None:
    with _server(tmp_path, unique_name, "--echo") as server:
        assert shmring("call", unique_name, "ping").stdout == "ping\n"
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=COMMAND_TIMEOUT_S)
    assert server.returncode == 130, err
    assert "Traceback" not in err
    assert not (shm_dir / unique_name).exists(), "serve left the channel it created behind"


def test_call_without_a_server_fails_at_once_naming_the_channel(shmring: Run, unique_name: str) -> None:
    done = shmring("call", unique_name, "x", check=1)
    assert done.stderr.startswith("shmring: error: no segment") and unique_name in done.stderr


def test_serve_needs_a_handler(shmring: Run, unique_name: str) -> None:
    done = shmring("serve", unique_name, check=2)
    assert "--echo or --upper" in done.stderr
