"""Run the ``shmring`` command as users do: a separate process, through its real entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import COMMAND_TIMEOUT_S, Run


@pytest.fixture
def shmring(shm_dir: Path, tmp_path: Path) -> Run:
    """``shmring(*args)`` -> CompletedProcess, run in ``tmp_path`` with $SHMRING_DIR = ``shm_dir``."""

    def run(*args: str, timeout: float = COMMAND_TIMEOUT_S, check: int | None = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "shmring.cli", *args], check=False, capture_output=True, text=True,
                              timeout=timeout, cwd=tmp_path)
        if check is not None:
            assert done.returncode == check, (
                f"shmring {' '.join(args)} exited {done.returncode}, expected {check}\n"
                f"stdout: {done.stdout}\nstderr: {done.stderr}")
        return done

    return run

