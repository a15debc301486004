"""A viewer server, a browser and writers for the page tests.

The server runs as users start it (``shmring view``, a separate process) with a
token, so every test also shows that the token reaches every request and the
WebSocket. The browser is the system's chromium driven by Playwright (no
browser download); a user without chromium sees these tests skip, CI fails.
"""

from __future__ import annotations

import os
import secrets
import selectors
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _view_children import write_frames
from requires import require_program

import shmring

TOKEN = "test-" + secrets.token_hex(8)
#: Every wait on the page, in milliseconds.
PAGE_TIMEOUT_MS = 15_000
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def view_dirs() -> Iterator[tuple[Path, Path]]:
    """(ring directory on /dev/shm, legacy directory) private to this module's server."""
    rings = Path("/dev/shm") / f"shmring-view-{os.getpid()}-{secrets.token_hex(4)}"
    legacy = rings.with_name(rings.name + "-legacy")
    rings.mkdir(mode=0o700)
    legacy.mkdir(mode=0o700)
    yield rings, legacy
    shutil.rmtree(rings, ignore_errors=True)
    shutil.rmtree(legacy, ignore_errors=True)


def first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None
    sel.register(proc.stdout, selectors.EVENT_READ)
    ready = sel.select(timeout)
    sel.close()
    assert ready, f"shmring view printed no URL within {timeout} s (exit code {proc.poll()})"
    return proc.stdout.readline().strip()


@pytest.fixture(scope="module")
def viewer(view_dirs: tuple[Path, Path]) -> Iterator[str]:
    """The URL (with token) of a running ``shmring view`` on a free port of 127.0.0.1."""
    rings, legacy = view_dirs
    env = {**os.environ, "SHMRING_DIR": str(rings), "SHMRING_VIEW_TOKEN": TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "shmring.cli", "view", "--port", "0", "--max-fps", "20",
                             "--legacy-dir", str(legacy)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = first_line(proc, 30)
        assert url.startswith("http://127.0.0.1:") and url.endswith(f"?token={TOKEN}"), url
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The system chromium, headless, through Playwright (each test gets a fresh context: no shared profile)."""
    executable = require_program("chromium", "chromium")
    try:
        from playwright import sync_api
    except ImportError:
        why = "playwright is not installed: pip install -e '.[test]'"
        if os.environ.get("CI"):
            pytest.fail(f"{why} (CI installs the test extra)")
        pytest.skip(why)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 800}, accept_downloads=True)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda err: errors.append(str(err)))
    yield tab
    context.close()
    assert not errors, f"the page raised: {errors}"


Camera = Callable[[str, tuple[int, int]], BaseProcess]


@pytest.fixture
def camera(view_dirs: tuple[Path, Path], spawn: Callable[..., BaseProcess]) -> Iterator[Camera]:
    """``camera(name, (height, width))``: create a uint16 ring and start a writer process on it (~25 Hz)."""
    rings, _ = view_dirs
    made: list[Path] = []

    def start(name: str, shape: tuple[int, int]) -> BaseProcess:
        with shmring.Ring.create(name, slots=4, dtype=np.uint16, shape=shape, directory=rings) as ring:
            made.append(ring.path)
        return spawn(write_frames, str(rings), name, shape, 0.04)

    yield start
    for path in made:
        path.unlink(missing_ok=True)


def ring_url(viewer: str, name: str) -> str:
    return f"{viewer}&ring={name}"
