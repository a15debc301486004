"""``shmring view`` from the command line: where it listens, what it warns about, bad options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import first_line

pytest.importorskip("uvicorn", reason="the view extra installs uvicorn")


def start(shm_dir: Path, *args: str, token: str | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "SHMRING_VIEW_TOKEN"}
    if token is not None:
        env["SHMRING_VIEW_TOKEN"] = token
    return subprocess.Popen([sys.executable, "-m", "shmring.cli", "view", "--port", "0", "--no-legacy", *args],
                            env={**env, "SHMRING_DIR": str(shm_dir)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen[str]) -> str:
    """Stop the server; its stderr."""
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    return err


def test_it_serves_this_machine_only_by_default_without_a_warning(shm_dir: Path) -> None:
    proc = start(shm_dir)
    try:
        assert first_line(proc, 30).startswith("http://127.0.0.1:")
    finally:
        err = stop(proc)
    assert "warning" not in err, err


def test_every_interface_gets_a_warning_naming_the_risk(shm_dir: Path) -> None:
    proc = start(shm_dir, "--host", "0.0.0.0")
    try:
        assert first_line(proc, 30).startswith("http://0.0.0.0:")
    finally:
        err = stop(proc)
    assert "warning: serving on 0.0.0.0" in err and "no --token" in err, err


def test_the_warning_says_a_token_guards_it_when_one_is_set(shm_dir: Path) -> None:
    proc = start(shm_dir, "--host", "0.0.0.0", token="abc")
    try:
        assert first_line(proc, 30).endswith("?token=abc")
    finally:
        err = stop(proc)
    assert "they need the token" in err, err


def test_an_empty_token_is_a_usage_error(shm_dir: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "shmring.cli", "view", "--token", " "], capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 2 and "--token" in done.stderr, done.stderr


def test_a_port_in_use_is_a_clear_failure(shm_dir: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "shmring.cli", "view", "--port", str(port)],
                              capture_output=True, text=True, timeout=30, check=False,
                              env={**os.environ, "SHMRING_DIR": str(shm_dir)})
    assert done.returncode == 1 and f"cannot serve on 127.0.0.1:{port}" in done.stderr, done.stderr
