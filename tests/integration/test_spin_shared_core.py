"""A learned spin that shares its core with a busy process turns itself off.

On a core another process wants, a spinner uses up its share and then waits
out the other's time slice; a futex sleeper is scheduled at once. The sign of
a shared core is a yield inside the spin that ran another thread. A spin that
only took long (a virtual CPU descheduled by its host) is no such sign.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import shmring
from shmring import _format as F
from shmring._spin import MAX_SPIN_S, SHARED_IN_A_ROW, SPIN_SHARED


@pytest.fixture
def one_cpu() -> Iterator[int]:
    """Pin this process to one CPU for the test (its children inherit it)."""
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


@pytest.fixture
def busy_neighbour(one_cpu: int) -> Iterator[subprocess.Popen[bytes]]:
    """A CPU-bound process on the same CPU as this one."""
    hog = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdout.write('go\\n'); sys.stdout.flush()\n"
                            "while True: pass"], stdout=subprocess.PIPE)
    assert hog.stdout is not None and hog.stdout.readline() == b"go\n"
    yield hog
    hog.kill()
    hog.wait()
    hog.stdout.close()


def test_a_spin_beside_a_busy_process_reports_the_shared_core(shm_dir: Path, unique_name: str,
                                                              busy_neighbour: subprocess.Popen[bytes]) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=64) as ring:
        m = ring._mapping()
        result = m.core.spin(F.OFF_WRITE_SEQ, 0, 0.02)  # nothing is written: it runs out
        assert result == SPIN_SHARED, f"spin() returned {result}: not caught, and a yield ran the busy process"


def test_a_reader_beside_a_busy_process_stops_spinning(shm_dir: Path, unique_name: str,
                                                      busy_neighbour: subprocess.Popen[bytes]) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=64) as ring, ring.reader() as r:
        assert r._spinning.budget == MAX_SPIN_S
        for _ in range(SHARED_IN_A_ROW):
            with pytest.raises(shmring.WaitTimeout):
                r.get(timeout=0.01)
        assert r._spinning.budget == 0, "the spins gave their core away to the busy process: no more spinning"

