"""Openers that misbehave on purpose, to show the fuzzer counts what it claims to count."""

from __future__ import annotations

import os
import signal
import time
import zlib
from pathlib import Path


def die_by_sigbus(path: Path) -> None:
    """Crash as a store into an unbacked page does, on about every third case."""
    if zlib.crc32(path.read_bytes()) % 3 == 0:
        os.kill(os.getpid(), signal.SIGBUS)


def hang(path: Path) -> None:
    """Never return (bounded: the fuzzer kills it long before)."""
    time.sleep(600)
