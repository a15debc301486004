"""Names the CLI tests share (a module of its own: several test folders have a conftest)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

#: Longest any one command may take before the test fails (every wait bounded).
COMMAND_TIMEOUT_S = 60.0

Run = Callable[..., subprocess.CompletedProcess[str]]
