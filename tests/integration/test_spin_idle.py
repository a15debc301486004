"""Waiters spin only briefly before they sleep: an idle one costs (almost) no CPU, whatever its spin setting.

Every wait below lasts ``IDLE_S`` with nothing arriving; the process's CPU time
over it must stay well under 10% of the wall time (a waiter that kept
polling would use all of it).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import shmring

IDLE_S = 1.0
SPINS = [None, 0.0, 1e-3]  # learned (the default), none, fixed


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _assert_idle(wait: Callable[[], Any], what: str) -> None:
    cpu, wall = _cpu_seconds(), time.monotonic()
    with pytest.raises(shmring.WaitTimeout):
        wait()
    cpu, wall = _cpu_seconds() - cpu, time.monotonic() - wall
    assert wall >= IDLE_S * 0.9, f"{what}: the wait ended after {wall:.2f} s, before its timeout"
    assert cpu < 0.1 * wall, f"{what}: {cpu:.3f} s of CPU in {wall:.2f} s idle: it keeps spinning"


@pytest.mark.parametrize("spin", SPINS)
def test_an_idle_reader_sleeps(shm_dir: Path, unique_name: str, spin: float | None) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=64) as ring, ring.reader() as r:
        for _ in range(4):  # short waits first, as a reader polling in a loop does
            with pytest.raises(shmring.WaitTimeout):
                r.get_bytes(timeout=0.01, spin=spin)
        _assert_idle(lambda: r.get(timeout=IDLE_S, spin=spin), f"reader.get(spin={spin})")


def test_a_writer_blocked_on_a_full_ring_sleeps(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=2, slot_bytes=64, policy="block") as ring, \
            ring.reader(), ring.writer() as w:
        w.put(b"a")
        w.put(b"b")  # the reader reads nothing: the ring stays full
        _assert_idle(lambda: w.put(b"c", timeout=IDLE_S), "writer.put on a full ring")


@pytest.mark.parametrize("spin", SPINS)
def test_a_client_waiting_for_a_slow_reply_and_an_idle_server_sleep(shm_dir: Path, unique_name: str,
                                                                    spin: float | None) -> None:
    release = threading.Event()

    def slow(request: Any, meta: dict[str, Any]) -> Any:
        release.wait(IDLE_S * 3)
        return request

    with shmring.Channel.create(unique_name, slots=2, slot_bytes=64) as ch:
        server = ch.serve(slow, spin=spin)
        try:
            _assert_idle(lambda: ch.request(b"x", timeout=IDLE_S, spin=spin), f"request(spin={spin})")
            release.set()
            cpu, wall = _cpu_seconds(), time.monotonic()
            time.sleep(IDLE_S)  # nothing to serve: the server thread must sleep too
            cpu, wall = _cpu_seconds() - cpu, time.monotonic() - wall
            assert cpu < 0.1 * wall, f"an idle server used {cpu:.3f} s of CPU in {wall:.2f} s"
        finally:
            server.stop()


def test_a_bad_spin_is_refused_naming_it(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=64) as ring, ring.reader() as r:
        with pytest.raises(ValueError, match=r"spin must be None \(learned\) or >= 0 seconds, got -1"):
            r.get(timeout=0.01, spin=-1)


@pytest.mark.parametrize(("value", "message"), [
    ("fast", "SHMRING_SPIN_US must be a number of microseconds >= 0, got 'fast'"),
    ("-5", "SHMRING_SPIN_US must be between 0 and 1000000 microseconds, got '-5'"),
])
def test_a_bad_spin_setting_in_the_environment_is_refused_at_import(value: str, message: str) -> None:
    done = subprocess.run([sys.executable, "-c", "import shmring"], capture_output=True, text=True,
                          env={"SHMRING_SPIN_US": value, "PATH": "/usr/bin:/bin"}, timeout=60, check=False)
    assert done.returncode != 0 and message in done.stderr, done.stderr
