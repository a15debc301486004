"""Fixtures of the integration tests that start ``shmring bridge`` processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bridge_helpers import Bridge


@pytest.fixture
def bridges(tmp_path: Path, shm_dir: Path) -> Iterator[Callable[..., Bridge]]:
    """``bridges(tag, *args)`` starts ``shmring bridge *args``; every process is reaped at teardown."""
    started: list[Bridge] = []

    def start(tag: str, *args: str) -> Bridge:
        b = Bridge(list(args), tmp_path, f"{tag}-{len(started)}")
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()
