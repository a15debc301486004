"""kill -9 of libshmring writers and readers, checked by the kill round's Python verifiers.

The events of :mod:`kill`, with C processes (``benchmarks/chaos/c/kill_victim.c``)
as the victims: a C writer killed at a random moment, killing itself inside
``shmring_reserve`` (slot half filled), killing itself as a shared writer
holding the put lock while a Python shared writer waits for it, killed while
blocked in ``shmring_put`` under ``block``; a C reader killed at a random
moment, killing itself holding a view, and killed while a Python writer is
blocked on it under ``block`` (it must be reaped and the writer go on). The
C writers write the same checksummed frames as Python's (:mod:`frames`), so
the round's two Python verifiers check every frame and the accounting
(``received + lost == written``) as for Python victims.
"""

from __future__ import annotations

import select
import signal
import subprocess
import time
from collections.abc import Callable

from shmring import _format as F

from . import c_build, kill, victims
from .kill import _Round

__all__ = ["EVENTS", "run"]


def _start(*args: object) -> subprocess.Popen[bytes]:
    exe = c_build.program("kill_victim")
    return subprocess.Popen([str(exe), *map(str, args)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _await_ready(chaos: _Round, proc: subprocess.Popen[bytes], role: str) -> bool:
    """Wait (bounded) for the victim's "ready" line."""
    assert proc.stdout is not None
    if select.select([proc.stdout], [], [], victims.WAIT_S)[0] and proc.stdout.readline() == b"ready\n":
        return True
    chaos.problem(f"{role} did not attach within {victims.WAIT_S} s", hang=True)
    return False


def _reap(chaos: _Round, proc: subprocess.Popen[bytes], role: str, *, killed: bool = True) -> None:
    """Kill (if still running) and wait for a C victim; note an exit that shows a problem."""
    if killed and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    try:
        code = proc.wait(kill.JOIN_S)
    except subprocess.TimeoutExpired:
        chaos.problem(f"{role} still alive {kill.JOIN_S} s after SIGKILL", hang=True)
        proc.kill()
        code = proc.wait()
    _, stderr = proc.communicate()
    if code in victims.EXIT:
        chaos.report.torn += code == 3
        chaos.problem(f"{role}: {victims.EXIT[code]}: {stderr.decode(errors='replace').strip()}", hang=code == 4)
    elif code != -signal.SIGKILL:
        chaos.problem(f"{role} ended with exit code {code}, not by SIGKILL: {stderr.decode(errors='replace')}")


def _writer(chaos: _Round, *, shared: bool = False, die_after: int = -1) -> subprocess.Popen[bytes]:
    return _start("write", chaos.path, int(shared), die_after, chaos.seed())


def c_writer_random(chaos: _Round) -> None:
    before = chaos.write_seq()
    writer = _writer(chaos)
    if chaos.await_progress(before, "C writer"):
        chaos.jitter()
    _reap(chaos, writer, "C writer killed at a random moment")
    chaos.report.events["C writer: random moment"] += 1


def c_writer_in_reserve(chaos: _Round) -> None:
    writer = _writer(chaos, die_after=chaos.rng.randrange(20))
    _reap(chaos, writer, "C writer killing itself inside shmring_reserve", killed=False)
    chaos.report.events["C writer: inside reserve"] += 1


def c_shared_writer_holding_lock(chaos: _Round) -> None:
    doomed = _writer(chaos, shared=True, die_after=chaos.rng.randrange(20))
    partner = chaos.start(victims.victim_writer, chaos.path, True, -1, chaos.seed())
    _reap(chaos, doomed, "C shared writer killing itself holding the put lock", killed=False)
    if chaos.await_progress(chaos.write_seq(), "Python shared writer after a C one died holding the lock"):
        chaos.jitter()
    chaos.reap(partner, "Python shared writer killed at a random moment")
    chaos.report.events["C shared writer: holding the put lock"] += 1
    chaos.report.events["writer: random moment"] += 1


def c_writer_blocked_in_put(chaos: _Round) -> None:
    ready = kill._CTX.Queue()
    stalled = chaos.start(victims.stalled_reader, chaos.path, ready)
    ready.get(timeout=60)
    writer = _writer(chaos)
    _await_space_sleeper(chaos, "C writer")
    _reap(chaos, writer, "C writer killed blocked in shmring_put")
    chaos.reap(stalled, "stalled reader killed")
    chaos.report.events["C writer: blocked in put"] += 1
    chaos.report.events["reader: stalled, holding its entry"] += 1


def _await_space_sleeper(chaos: _Round, who: str) -> None:
    end = time.monotonic() + victims.WAIT_S
    while not chaos.space_sleepers() and time.monotonic() < end:
        time.sleep(0.001)  # until the writer sleeps on the full ring (nobody announces that)
    if not chaos.space_sleepers():
        chaos.problem(f"{who} did not come to wait for space behind a stalled reader")


def c_reader_random(chaos: _Round) -> None:
    before = chaos.write_seq()
    reader = _start("read", chaos.path, int(chaos.rng.random() < 0.5), -1)
    _await_ready(chaos, reader, "C reader")
    writer = _writer(chaos)
    if chaos.await_progress(before, "C writer beside a C reader"):
        chaos.jitter()
    _reap(chaos, reader, "C reader killed at a random moment")
    _reap(chaos, writer, "C writer killed at a random moment")
    chaos.report.events["C reader: random moment"] += 1
    chaos.report.events["C writer: random moment"] += 1


def c_reader_holding_view(chaos: _Round) -> None:
    reader = _start("read", chaos.path, 1, chaos.rng.randrange(30))
    _await_ready(chaos, reader, "C reader")
    writer = _writer(chaos)
    _reap(chaos, reader, "C reader killing itself holding a view", killed=False)
    _reap(chaos, writer, "C writer killed at a random moment")
    chaos.report.events["C reader: holding a view"] += 1
    chaos.report.events["C writer: random moment"] += 1


def c_reader_stalling_a_blocked_writer(chaos: _Round) -> None:
    """A C reader that never reads holds a Python writer under block; killed, it is reaped and the writer goes on."""
    stalled = _start("stall", chaos.path)
    _await_ready(chaos, stalled, "stalled C reader")
    writer = chaos.start(victims.victim_writer, chaos.path, False, -1, chaos.seed())
    _await_space_sleeper(chaos, "Python writer")
    before = chaos.write_seq()
    _reap(chaos, stalled, "stalled C reader killed")
    if chaos.await_progress(before, "Python writer after the C reader it waited on was killed"):
        chaos.jitter()
    chaos.reap(writer, "Python writer killed at a random moment")
    chaos.report.events["C reader: stalled, holding its entry"] += 1
    chaos.report.events["writer: random moment"] += 1


#: Event name -> (function of a kill round, policies it applies to): kill.run's ``events``.
EVENTS: dict[str, tuple[Callable[[_Round], None], tuple[str, ...]]] = {
    "C writer at a random moment": (c_writer_random, F.POLICIES),
    "C writer inside reserve": (c_writer_in_reserve, F.POLICIES),
    "C shared writer holding the lock": (c_shared_writer_holding_lock, F.POLICIES),
    "C writer blocked in put": (c_writer_blocked_in_put, ("block",)),
    "C reader at a random moment": (c_reader_random, F.POLICIES),
    "C reader holding a view": (c_reader_holding_view, F.POLICIES),
    "C reader stalling a blocked writer": (c_reader_stalling_a_blocked_writer, ("block",)),
}


def run(policy: str, kills: int, *, seed: int = 1, deadline: float | None = None) -> kill.KillReport:
    """One kill round of ``policy`` whose victims are C processes (see :func:`kill.run`)."""
    c_build.program("kill_victim")  # built once here, not inside the round's first event
    return kill.run(policy, kills, seed=seed, deadline=deadline, events=EVENTS)

