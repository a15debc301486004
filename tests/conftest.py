"""Fixtures shared by every test: a private segment directory and process reaping."""

from __future__ import annotations

import multiprocessing as mp
import os
import secrets
import shutil
import signal
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest

#: Spawned children start a fresh interpreter: nothing inherited by fork
#: (open descriptions, leases, mappings) can blur what a test shows.
SPAWN = mp.get_context("spawn")


def pytest_configure(config: pytest.Config) -> None:
    """Give the children a Ctrl-C to answer even when the suite runs as a background job.

    A shell starts background jobs with SIGINT ignored, an ignored signal stays
    ignored across exec, and Python installs no KeyboardInterrupt handler then:
    the tests that press Ctrl-C on a command (``serve``, ``bench``, ``watch``)
    would see it ignored. A handled signal is reset to the default at exec.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def shm_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh directory on /dev/shm, set as ``$SHMRING_DIR`` (children inherit it); removed after."""
    path = Path("/dev/shm") / f"shmring-test-{os.getpid()}-{secrets.token_hex(4)}"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("SHMRING_DIR", str(path))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A segment name no other test uses."""
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    return f"t-{stem}-{secrets.token_hex(3)}"


@pytest.fixture
def spawn() -> Iterator[Callable[..., BaseProcess]]:
    """Start ``target(*args)`` in a spawned process; every one is reaped at teardown."""
    started: list[BaseProcess] = []

    def start(target: Callable[..., Any], *args: Any) -> BaseProcess:
        proc = SPAWN.Process(target=target, args=args, daemon=True)
        proc.start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.is_alive():
            proc.terminate()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
