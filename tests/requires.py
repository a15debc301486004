"""Tests that need a system program skip for a user without it, and fail in CI.

CI (``$CI`` set, as ``.ci/run`` runs) installs every program the tests need
(``.ci/apt-packages``), so there a missing one is a broken install, not a reason
to skip silently.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_program(program: str, package: str) -> str:
    """The path of ``program``; else skip (a user's machine) or fail (CI), saying how to install it."""
    path = shutil.which(program)
    if path is not None:
        return path
    why = f"{program} not found: install it with `sudo apt-get install {package}`"
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI must have it: see .ci/apt-packages)")
    pytest.skip(why)
