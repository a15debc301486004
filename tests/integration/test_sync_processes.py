"""The C core across real processes: shared futexes and atomics on a mapped segment."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path

import _children_foundation as kids
import pytest

from shmring import Segment, _sync

JOIN_S = 30.0


@pytest.fixture
def control(shm_dir: Path, unique_name: str) -> Iterator[Segment]:
    """A zeroed control segment the children open by path."""
    seg = Segment.create(unique_name, kids.CONTROL_SIZE)
    yield seg
    seg.close()


def _join_all(procs: list[BaseProcess]) -> list[int | None]:
    deadline = time.monotonic() + JOIN_S
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
    return [proc.exitcode for proc in procs]


def _start_together(spawn: Callable[..., BaseProcess], control: Segment, target: Callable[..., None],
                    *args: object, count: int = 2) -> list[BaseProcess]:
    procs = [spawn(target, str(control.path), *args) for _ in range(count)]
    kids.wait_at_least(control.mapping(), kids.READY, count, JOIN_S)
    kids.release_all(control.mapping())
    return procs


# -- futex ----------------------------------------------------------------


def _wake_until_one_woken(buf: object, offset: int, timeout: float) -> int:
    """Wake the word until the kernel reports a sleeper woken (the child may not sleep yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        woken = _sync.futex_wake(buf, offset, 1)
        if woken:
            return woken
        # Nothing tells us when the child has gone to sleep: re-try briefly.
        time.sleep(0.001)
    return 0


def test_futex_wait_in_one_process_is_woken_by_another(spawn, control) -> None:
    buf = control.mapping()
    child = spawn(kids.futex_waiter, str(control.path), 0, 20.0)
    kids.wait_at_least(buf, kids.READY, 1, JOIN_S)

    woken = _wake_until_one_woken(buf, kids.COUNTER, JOIN_S)

    assert woken == 1, "futex_wake never found the child asleep on the shared word"
    assert _join_all([child]) == [kids.EXIT_FUTEX_BASE + _sync.WOKEN], "child did not report WOKEN"


def test_futex_wake_n_wakes_at_most_n_sleepers_of_other_processes(spawn, control) -> None:
    buf = control.mapping()
    children = [spawn(kids.futex_waiter, str(control.path), 0, 20.0) for _ in range(3)]
    kids.wait_at_least(buf, kids.READY, 3, JOIN_S)

    counts = []
    deadline = time.monotonic() + JOIN_S
    while sum(counts) < 3 and time.monotonic() < deadline:
        counts.append(_wake_until_one_woken(buf, kids.COUNTER, deadline - time.monotonic()))

    assert sum(counts) == 3 and max(counts) == 1, f"futex_wake(n=1) woke {counts}"
    assert _join_all(children) == [kids.EXIT_FUTEX_BASE + _sync.WOKEN] * 3


def test_futex_wait_in_a_child_times_out_when_nobody_wakes(spawn, control) -> None:
    child = spawn(kids.futex_waiter, str(control.path), 0, 0.2)

    assert _join_all([child]) == [kids.EXIT_FUTEX_BASE + _sync.TIMED_OUT]


def test_futex_wait_returns_value_changed_when_another_process_already_stored(spawn, control) -> None:
    _sync.store32(control.mapping(), kids.COUNTER, 7)

    child = spawn(kids.futex_waiter, str(control.path), 0, 20.0)

    assert _join_all([child]) == [kids.EXIT_FUTEX_BASE + _sync.VALUE_CHANGED], (
        "a waiter expecting 0 must not sleep on a word another process set to 7"
    )


def test_store_then_wake_is_never_lost_between_processes(spawn, control) -> None:
    """The classic lost-wake-up race: store + wake against check + wait ends in a wake-up."""
    buf = control.mapping()
    child = spawn(kids.futex_waiter, str(control.path), 0, 20.0)
    kids.wait_at_least(buf, kids.READY, 1, JOIN_S)

    _sync.store32(buf, kids.COUNTER, 1)  # whichever comes first, the child cannot sleep 20 s
    _sync.futex_wake(buf, kids.COUNTER)

    codes = _join_all([child])
    assert codes[0] in (kids.EXIT_FUTEX_BASE + _sync.WOKEN, kids.EXIT_FUTEX_BASE + _sync.VALUE_CHANGED), (
        f"child exited {codes[0]}: it slept through a store and wake (11 = timed out)"
    )


# -- atomics --------------------------------------------------------------


@pytest.mark.parametrize("width", [32, 64])
def test_two_processes_fetch_add_a_million_times_each_exactly(spawn, control, width: int) -> None:
    procs = _start_together(spawn, control, kids.fetch_adder, 1_000_000, width)

    assert _join_all(procs) == [0, 0], "an adder process failed or hung"
    load = _sync.load64 if width == 64 else _sync.load32
    assert load(control.mapping(), kids.COUNTER) == 2_000_000


@pytest.mark.parametrize("width", [32, 64])
def test_cas_increment_loops_in_three_processes_lose_no_update(spawn, control, width: int) -> None:
    procs = _start_together(spawn, control, kids.cas_incrementer, 200_000, width, count=3)

    assert _join_all(procs) == [0, 0, 0], "a compare-exchange process failed or hung"
    load = _sync.load64 if width == 64 else _sync.load32
    assert load(control.mapping(), kids.COUNTER) == 600_000


def test_atomics_see_one_word_through_two_mappings_of_the_segment(control) -> None:
    """Two mappings (different addresses) of one file are one word to the atomics and the futex."""
    other = Segment.open(control.path)
    try:
        _sync.store64(control.mapping(), kids.COUNTER, 2**40 + 5)
        assert _sync.load64(other.mapping(), kids.COUNTER) == 2**40 + 5
        assert _sync.cas64(other.mapping(), kids.COUNTER, 2**40 + 5, 9) == 2**40 + 5
        assert _sync.load64(control.mapping(), kids.COUNTER) == 9
        assert _sync.futex_wait(other.mapping(), kids.COUNTER, 0, 5.0) == _sync.VALUE_CHANGED
    finally:
        other.close()
