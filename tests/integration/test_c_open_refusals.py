"""Every corrupted or foreign file that Python's Ring.open refuses, C's shmring_open refuses with the matching code."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import subprocess
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

import _libshmring as lib
import pytest
from _ring_mutations import MUTATIONS, Mutation

import shmring

pytestmark = pytest.mark.usefixtures("shm_dir")

NOBODY = 65534
SPAWN = mp.get_context("spawn")


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lib.build_peer(tmp_path_factory.mktemp("ringpeer"))


def _c_open(peer: Path, path: Path) -> tuple[int, str]:
    out = subprocess.run([str(peer), "open", str(path)], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    word, code, *message = out.split()
    assert word == "rc", out
    return int(code), " ".join(message)


def test_both_open_a_valid_ring(peer: Path, shm_dir: Path, unique_name: str) -> None:
    shmring.Ring.create(unique_name, slots=4, slot_bytes=1000, meta_bytes=100).close()
    with shmring.Ring.open(unique_name):
        pass
    assert _c_open(peer, shm_dir / unique_name)[0] == 0


def _as_nobody() -> None:
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _python_open_as_nobody(conn: Connection, path: Path) -> None:
    """In a spawned child: drop to user nobody, open ``path``, send back the error's class name."""
    _as_nobody()
    try:
        shmring.Ring.open(path).close()
        conn.send("opened")
    except shmring.ShmringError as err:
        conn.send(type(err).__name__)


def _refusals_as_nobody(peer: Path, shm_dir: Path, path: Path,
                        spawn: Callable[..., BaseProcess]) -> tuple[str, int, str]:
    """Root opens any file whatever its mode: open as user nobody instead, from Python and from C."""
    shm_dir.chmod(0o755)  # nobody may look up names in the test's directory
    exe = shm_dir / "ring_peer"  # and run the peer from a place it can reach
    shutil.copy(peer, exe)
    parent, child = SPAWN.Pipe()
    proc = spawn(_python_open_as_nobody, child, path)
    assert parent.poll(30), "the unprivileged Python open never answered"
    python_error = parent.recv()
    proc.join(30)
    out = subprocess.run([str(exe), "open", str(path)], capture_output=True, text=True, timeout=30, check=True,
                         preexec_fn=_as_nobody).stdout
    word, code, *message = out.split()
    assert word == "rc", out
    return python_error, int(code), " ".join(message)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_refused_alike(peer: Path, shm_dir: Path, unique_name: str, mutation: Mutation,
                       spawn: Callable[..., BaseProcess]) -> None:
    shmring.Ring.create(unique_name, slots=4, slot_bytes=1000, meta_bytes=100).close()
    path = shm_dir / unique_name
    mutation.apply(path)
    if mutation.needs_non_root and os.geteuid() == 0:
        python_error, code, message = _refusals_as_nobody(peer, shm_dir, path, spawn)
        assert python_error == mutation.python_error.__name__, f"Python open as nobody raised {python_error}"
    else:
        with pytest.raises(mutation.python_error):
            shmring.Ring.open(path)
        code, message = _c_open(peer, path)
    want = lib.error_codes()[mutation.c_code]
    assert code == want, f"C open returned {code}, expected {want} ({mutation.c_code}): {message}"
    assert str(path) in message, f"the C message names the file: {message}"
