"""RangeLock and Lease across real processes: kernel-held, released when the holder dies."""

from __future__ import annotations

import os
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path

import _children_foundation as kids
import pytest

import shmring._locks as locks_module
from shmring import ClosedError, Lease, RangeLock, Segment, ShmringError, WaitTimeout, _sync
from shmring._locks import WakeWord

JOIN_S = 30.0
LOCK = kids.LOCK_BYTE


@pytest.fixture
def control(shm_dir: Path, unique_name: str) -> Iterator[Segment]:
    seg = Segment.create(unique_name, kids.CONTROL_SIZE)
    yield seg
    seg.close()


def _start_holder(spawn: Callable[..., BaseProcess], control: Segment, target: Callable[..., None],
                  *args: object) -> BaseProcess:
    """Start a child that takes a lock or lease, and return once it says it holds it."""
    proc = spawn(target, str(control.path), *args)
    try:
        kids.wait_at_least(control.mapping(), kids.READY, 1, JOIN_S)
    except TimeoutError:
        pytest.fail(f"the child never reported holding the lock (exit code {proc.exitcode})")
    return proc


def _kill(proc: BaseProcess) -> float:
    """SIGKILL ``proc``; return the monotonic time of the kill."""
    killed_at = time.monotonic()
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    return killed_at


# -- a dead holder's lock is free ------------------------------------------


def _kill_when(proc: BaseProcess, ready: Callable[[], bool]) -> list[float]:
    """From a thread, SIGKILL ``proc`` as soon as ``ready()``; the list receives the kill time."""
    killed: list[float] = []

    def run() -> None:
        deadline = time.monotonic() + JOIN_S
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.001)  # the waiter announces nothing we could sleep on
        killed.append(_kill(proc))

    threading.Thread(target=run, daemon=True).start()
    return killed


@pytest.mark.parametrize("with_wake_word", [True, False], ids=["wake-word", "no-wake-word"])
def test_a_timed_waiter_takes_the_lock_within_a_second_of_the_holder_being_killed(
    spawn, control, with_wake_word: bool
) -> None:
    holder = _start_holder(spawn, control, kids.lock_holder)
    buf = control.mapping()
    wake = WakeWord(buf, kids.WAKE) if with_wake_word else None
    lock = RangeLock(control.fd, LOCK, wake=wake)
    started = time.monotonic()
    # Kill the holder once we are (about to be) asleep waiting for it.
    if with_wake_word:
        killed = _kill_when(holder, lambda: _sync.load32(buf, kids.WAKE_SLEEPERS) > 0)
    else:
        killed = _kill_when(holder, lambda: time.monotonic() - started > 0.2)

    assert lock.acquire(timeout=10.0) is True
    acquired_at = time.monotonic()

    assert killed, "the holder was never killed"
    assert acquired_at - killed[0] < 1.0, f"took {acquired_at - killed[0]:.3f} s after the holder died"
    lock.close()


def test_a_blocking_waiter_takes_the_lock_when_the_holder_is_killed(spawn, control) -> None:
    holder = _start_holder(spawn, control, kids.lock_holder)
    lock = RangeLock(control.fd, LOCK)
    got: list[float] = []
    waiter = threading.Thread(target=lambda: got.append(lock.acquire() and time.monotonic()), daemon=True)
    waiter.start()
    waiter.join(0.2)
    assert not got, "a blocking acquire returned while another process held the lock"

    killed_at = _kill(holder)
    waiter.join(5.0)

    assert got and got[0] - killed_at < 1.0, "the blocked acquire did not return after the holder died"
    lock.close()


def test_a_lock_is_free_as_soon_as_its_killed_holder_is_reaped(spawn, control) -> None:
    holder = _start_holder(spawn, control, kids.lock_holder)
    lock = RangeLock(control.fd, LOCK)
    assert lock.is_held_by_someone_else(), "the child's lock is not visible from here"

    _kill(holder)
    holder.join(JOIN_S)

    assert holder.exitcode == -signal.SIGKILL
    assert not lock.is_held_by_someone_else(), "the kernel kept a dead process's lock"
    assert lock.acquire(timeout=0) is True
    lock.close()


# -- timed acquire ---------------------------------------------------------


def test_a_timed_acquire_raises_wait_timeout_while_another_process_holds_it(spawn, control) -> None:
    _start_holder(spawn, control, kids.lock_holder)
    lock = RangeLock(control.fd, LOCK, wake=WakeWord(control.mapping(), kids.WAKE))
    started = time.monotonic()

    with pytest.raises(WaitTimeout) as caught:
        lock.acquire(timeout=0.3)

    elapsed = time.monotonic() - started
    err = caught.value
    assert isinstance(err, TimeoutError) and isinstance(err, ShmringError)
    assert err.timeout == 0.3
    assert f"lock on bytes {LOCK}..{LOCK} still held by another process after 0.3 s" in str(err)
    assert 0.3 <= elapsed < 1.3, f"a 0.3 s timeout took {elapsed:.3f} s"
    assert not lock.held
    lock.close()


def test_zero_timeout_tries_once_and_with_statement_uses_the_lock_timeout(spawn, control) -> None:
    _start_holder(spawn, control, kids.lock_holder)
    lock = RangeLock(control.fd, LOCK, timeout=0.1)

    assert lock.acquire(timeout=0) is False
    with pytest.raises(WaitTimeout, match="after 0.1 s"), lock:
        pytest.fail("the body ran without the lock")
    lock.close()


def test_a_timed_wait_is_woken_by_the_release_not_by_the_dead_holder_recheck(
    spawn, control, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the re-check slice at 30 s, only the release word's futex wake can be this fast.
    monkeypatch.setattr(locks_module, "DEATH_RECHECK_S", 30.0)
    holder = _start_holder(spawn, control, kids.lock_holder_until_waited)
    lock = RangeLock(control.fd, LOCK, wake=WakeWord(control.mapping(), kids.WAKE))

    assert lock.acquire(timeout=20.0) is True
    acquired_ns = time.monotonic_ns()

    released_ns = _sync.load64(control.mapping(), kids.RELEASED_NS)
    assert released_ns, "the holder did not record its release"
    assert (acquired_ns - released_ns) / 1e9 < 0.5, "the waiter slept past the release"
    holder.join(JOIN_S)
    assert holder.exitcode == 0
    lock.close()


# -- mutual exclusion -------------------------------------------------------


def test_two_lock_objects_in_one_process_exclude_each_other(control) -> None:
    first = RangeLock(control.fd, LOCK)
    second = RangeLock(control.fd, LOCK)

    assert first.acquire(timeout=0) is True
    assert second.acquire(timeout=0) is False
    assert second.is_held_by_someone_else() and not first.is_held_by_someone_else()
    first.release()
    assert second.acquire(timeout=0) is True
    first.close()
    second.close()


def test_locks_on_different_bytes_do_not_conflict(control) -> None:
    one, other = RangeLock(control.fd, LOCK), RangeLock(control.fd, LOCK + 1)

    assert one.acquire(timeout=0) and other.acquire(timeout=0)
    one.close()
    other.close()


def test_threads_sharing_one_lock_object_exclude_each_other(control) -> None:
    """One object = one open file description, which the kernel never blocks against itself."""
    lock = RangeLock(control.fd, LOCK)
    lock.acquire()
    outcome: list[object] = []

    def try_in_thread() -> None:
        try:
            outcome.append(lock.acquire(timeout=0.1))
        except WaitTimeout as err:
            outcome.append(err)

    thread = threading.Thread(target=try_in_thread)
    thread.start()
    thread.join(5.0)
    assert len(outcome) == 1 and isinstance(outcome[0], WaitTimeout), f"second thread got {outcome}"

    lock.release()
    thread = threading.Thread(target=lambda: outcome.append(lock.acquire(timeout=5.0)))
    thread.start()
    thread.join(5.0)
    assert outcome[-1] is True
    lock.release()
    lock.close()


@pytest.mark.parametrize("timeout", [None, 10.0], ids=["blocking", "timed"])
def test_a_lock_protected_counter_incremented_by_three_processes_is_exact(
    spawn, control, timeout: float | None
) -> None:
    times = 2000
    procs = [spawn(kids.locked_counter, str(control.path), times, timeout) for _ in range(3)]
    kids.wait_at_least(control.mapping(), kids.READY, 3, JOIN_S)
    kids.release_all(control.mapping())
    for proc in procs:
        proc.join(JOIN_S)

    assert [p.exitcode for p in procs] == [0, 0, 0], "a counting process failed or hung"
    (total,) = struct.unpack_from("<Q", control.mapping(), kids.COUNTER)
    assert total == 3 * times, f"{3 * times - total} increments were lost"


# -- lifecycle and arguments --------------------------------------------------


def test_the_context_manager_releases_on_exception(control) -> None:
    lock, other = RangeLock(control.fd, LOCK), RangeLock(control.fd, LOCK)

    with pytest.raises(RuntimeError), lock:
        assert lock.held and other.is_held_by_someone_else()
        raise RuntimeError("body failed")

    assert not lock.held and not other.is_held_by_someone_else()
    lock.close()
    other.close()


def test_close_releases_and_later_use_raises_closed_error(control) -> None:
    lock, other = RangeLock(control.fd, LOCK), RangeLock(control.fd, LOCK)
    lock.acquire()

    lock.close()

    assert other.acquire(timeout=0) is True, "close() left the lock held"
    with pytest.raises(ClosedError, match="the lock was closed"):
        lock.acquire(timeout=0)
    with pytest.raises(ClosedError):
        lock.is_held_by_someone_else()
    lock.close()  # idempotent
    other.close()


@pytest.mark.parametrize(
    ("start", "length", "message"),
    [(-1, 1, "start >= 0 and length >= 1, got start=-1 length=1"), (0, 0, "got start=0 length=0")],
)
def test_bad_ranges_are_refused(control, start: int, length: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RangeLock(control.fd, start, length)


def test_a_negative_timeout_is_refused(control) -> None:
    lock = RangeLock(control.fd, LOCK)
    with pytest.raises(ValueError, match=r"timeout must be >= 0 seconds or None, got -1"):
        lock.acquire(timeout=-1)
    lock.close()


# -- leases -------------------------------------------------------------------


def test_a_lease_is_held_while_its_process_lives_and_not_after_sigkill(spawn, control) -> None:
    holder = _start_holder(spawn, control, kids.lease_holder, 7)
    probe = control.fd

    assert Lease.is_held(probe, 7), "a live child's lease is not seen"
    assert not Lease.is_held(probe, 8), "a neighbouring byte looks leased"
    assert Lease.try_take(probe, 7) is None, "a held byte was leased twice"

    _kill(holder)
    holder.join(JOIN_S)

    assert not Lease.is_held(probe, 7), "a SIGKILLed holder's lease is still reported"
    lease = Lease.try_take(probe, 7)
    assert lease is not None and lease.alive
    lease.release()


def test_a_lease_in_this_process_is_seen_through_another_description(control) -> None:
    lease = Lease.try_take(control.fd, 3)
    assert lease is not None

    assert Lease.is_held(control.fd, 3)
    assert Lease.try_take(control.fd, 3) is None
    lease.release()
    assert not lease.alive
    assert not Lease.is_held(control.fd, 3)
    lease.release()  # idempotent


def test_dropping_a_lease_object_gives_the_byte_up(control) -> None:
    lease = Lease.try_take(control.fd, 3)
    assert lease is not None
    del lease  # CPython frees it now; the description closes and the lock goes with it

    assert not Lease.is_held(control.fd, 3)


def test_is_held_cannot_see_a_lease_through_the_holders_own_description(control) -> None:
    """Documented limit: the kernel never reports the asker's own locks as a conflict."""
    lease = Lease.try_take(control.fd, 3)
    assert lease is not None and lease._fd is not None

    assert Lease.is_held(lease._fd, 3) is False
    assert Lease.is_held(control.fd, 3) is True
    lease.release()


# -- fork() ---------------------------------------------------------------------

FORK_WARNING = "ignore:This process .* is multi-threaded:DeprecationWarning"


def _in_forked_child(action: Callable[[], None]) -> int:
    """Run ``action`` in a fork()ed child that exits at once; return its exit status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            action()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.filterwarnings(FORK_WARNING)
def test_a_forked_child_exiting_does_not_end_its_parents_lease(control) -> None:
    lease = Lease.try_take(control.fd, 5)
    assert lease is not None

    assert _in_forked_child(lease.release) == 0

    assert Lease.is_held(control.fd, 5), "the child's exit dropped a lease the parent still holds"
    lease.release()


@pytest.mark.filterwarnings(FORK_WARNING)
def test_a_forked_child_shares_its_parents_lock_description(control) -> None:
    """Why a child must open segments anew: an inherited description *is* the parent's lock."""
    lock, other = RangeLock(control.fd, LOCK), RangeLock(control.fd, LOCK)
    lock.acquire()
    inherited_fd = lock._fd

    assert _in_forked_child(lambda: _sync.ofd_unlock(inherited_fd, LOCK, 1)) == 0

    assert other.acquire(timeout=0) is True, "the kernel kept the lock after the child unlocked it"
    other.close()
    lock.close()


def _misuse_inherited_lock(lock: RangeLock) -> None:
    lock.release()  # must not unlock the parent's lock
    try:
        lock.acquire(timeout=0)
    except ClosedError as err:
        if "inherited through fork()" in str(err):
            return
    raise AssertionError("an inherited lock was usable in the child")


@pytest.mark.filterwarnings(FORK_WARNING)
def test_an_inherited_lock_neither_releases_nor_acquires_in_a_forked_child(control) -> None:
    lock, other = RangeLock(control.fd, LOCK), RangeLock(control.fd, LOCK)
    with lock:  # a fork() inside the block: the child's copy looks held
        assert _in_forked_child(lambda: _misuse_inherited_lock(lock)) == 0, "see the child's AssertionError"

        assert other.is_held_by_someone_else(), "the child released the parent's lock"
    other.close()
    lock.close()


def test_shared_leases_coexist_and_exclude_an_exclusive_one(control) -> None:
    first = Lease.try_take(control.fd, 5, shared=True)
    second = Lease.try_take(control.fd, 5, shared=True)
    assert first is not None and second is not None, "two shared leases on one byte did not coexist"
    assert first.shared and second.shared
    assert Lease.is_held(control.fd, 5), "a shared lease is not seen"
    assert Lease.try_take(control.fd, 5) is None, "an exclusive lease was taken beside shared ones"
    first.release()
    assert Lease.try_take(control.fd, 5) is None, "the remaining shared lease stopped excluding"
    second.release()
    exclusive = Lease.try_take(control.fd, 5)
    assert exclusive is not None and not exclusive.shared, "the byte stayed leased after both released"
    assert Lease.try_take(control.fd, 5, shared=True) is None, "a shared lease was taken beside an exclusive one"
    exclusive.release()
