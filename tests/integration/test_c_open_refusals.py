"""Every corrupted or foreign file that Python's Ring.open refuses, C's shmring_open refuses with the matching code."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import _libshmring as lib
import pytest
from _ring_mutations import MUTATIONS, Mutation

import shmring

pytestmark = pytest.mark.usefixtures("shm_dir")


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


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_refused_alike(peer: Path, shm_dir: Path, unique_name: str, mutation: Mutation) -> None:
    if mutation.needs_non_root and os.geteuid() == 0:
        pytest.skip("root opens any file whatever its mode")
    shmring.Ring.create(unique_name, slots=4, slot_bytes=1000, meta_bytes=100).close()
    path = shm_dir / unique_name
    mutation.apply(path)
    with pytest.raises(mutation.python_error):
        shmring.Ring.open(path)
    code, message = _c_open(peer, path)
    want = lib.error_codes()[mutation.c_code]
    assert code == want, f"C open returned {code}, expected {want} ({mutation.c_code}): {message}"
    assert str(path) in message, f"the C message names the file: {message}"
