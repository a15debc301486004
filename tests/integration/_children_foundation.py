"""Targets for spawned child processes in the foundation tests, and the rendezvous they share.

A spawned child imports its target by module name, so targets live here, not
in the test files. Children report through a small *control segment*: a few
32/64-bit words at the offsets below, plus their exit code. Every wait here is
a futex wait with a deadline, so a broken peer fails a test instead of hanging it.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from pathlib import Path

from shmring import Lease, RangeLock, Segment, SegmentExistsError, SegmentPermissionError, _sync
from shmring._locks import WakeWord

#: Control segment layout (byte offsets), each word on its own cache line.
READY = 0  # u32: children that reached the start line
GO = 64  # u32: set to 1 by the parent to start them all at once
COUNTER = 128  # u64 (or u32 at the same offset): the word the children hammer
RETRIES = 192  # u64: failed compare-exchanges, for information
WAKE = 256  # 8 bytes: a lock's WakeWord (release counter, sleeper count)
WAKE_SLEEPERS = WAKE + 4
RELEASED_NS = 320  # u64: CLOCK_MONOTONIC ns at which a child released its lock
NEVER = 384  # u32: a word nobody changes, to park a child on until it is killed
LOCK_BYTE = 1024  # the byte RangeLocks of the tests cover
CONTROL_SIZE = 4096

#: Exit codes children use to say what happened (the futex outcome is added to 10).
EXIT_CREATED = 0
EXIT_EXISTS = 3
EXIT_OTHER = 4
EXIT_STUCK = 5
EXIT_FUTEX_BASE = 10

PARK_S = 60.0  # longest a child waits to be killed; the test's own timeout is shorter


def wait_at_least(buf: object, offset: int, target: int, timeout: float) -> int:
    """Sleep on the u32 at ``offset`` until it is >= ``target``; return it, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = _sync.load32(buf, offset)
        if value >= target:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"word at {offset} is {value} after {timeout} s, waited for >= {target}")
        _sync.futex_wait(buf, offset, value, remaining)


def arrive(buf: object, offset: int = READY) -> None:
    """Count this process in at ``offset`` and wake whoever waits for the count."""
    _sync.fetch_add32(buf, offset, 1)
    _sync.futex_wake(buf, offset)


def start_line(buf: object) -> None:
    """Say "ready", then wait for the parent's GO so that all children start together."""
    arrive(buf, READY)
    wait_at_least(buf, GO, 1, 30.0)


def release_all(buf: object) -> None:
    """The parent's side of :func:`start_line`."""
    _sync.store32(buf, GO, 1)
    _sync.futex_wake(buf, GO)


def _park(buf: object) -> None:
    """Sleep until killed (bounded: exit with EXIT_STUCK if nobody comes)."""
    _sync.futex_wait(buf, NEVER, _sync.load32(buf, NEVER), PARK_S)
    sys.exit(EXIT_STUCK)


# -- futex ----------------------------------------------------------------


def futex_waiter(path: str, expected: int, timeout: float) -> None:
    """Wait on COUNTER while it equals ``expected``; exit with EXIT_FUTEX_BASE + outcome."""
    seg = Segment.open(Path(path))
    arrive(seg.mapping())
    outcome = _sync.futex_wait(seg.mapping(), COUNTER, expected, timeout)
    sys.exit(EXIT_FUTEX_BASE + outcome)


# -- atomics --------------------------------------------------------------


def fetch_adder(path: str, times: int, width: int) -> None:
    """Add 1 to COUNTER ``times`` times with fetch_add (32- or 64-bit)."""
    buf = Segment.open(Path(path)).mapping()
    add = _sync.fetch_add64 if width == 64 else _sync.fetch_add32
    start_line(buf)
    for _ in range(times):
        add(buf, COUNTER, 1)


def cas_incrementer(path: str, times: int, width: int) -> None:
    """Add 1 to COUNTER ``times`` times with load + compare-exchange retry loops."""
    buf = Segment.open(Path(path)).mapping()
    load, cas = (_sync.load64, _sync.cas64) if width == 64 else (_sync.load32, _sync.cas32)
    mask = (1 << width) - 1
    start_line(buf)
    retries = 0
    done = 0
    while done < times:
        seen = load(buf, COUNTER)
        if cas(buf, COUNTER, seen, (seen + 1) & mask) == seen:
            done += 1
        else:
            retries += 1
    _sync.fetch_add64(buf, RETRIES, retries)


# -- locks and leases -----------------------------------------------------


def lock_holder(path: str) -> None:
    """Take the RangeLock on LOCK_BYTE, say so, and hold it until killed."""
    seg = Segment.open(Path(path))
    lock = RangeLock(seg.fd, LOCK_BYTE)
    lock.acquire()
    arrive(seg.mapping())
    _park(seg.mapping())


def lock_holder_until_waited(path: str) -> None:
    """Hold the lock until a waiter sleeps on its WakeWord, then release it and note when."""
    seg = Segment.open(Path(path))
    buf = seg.mapping()
    lock = RangeLock(seg.fd, LOCK_BYTE, wake=WakeWord(buf, WAKE))
    lock.acquire()
    arrive(buf)
    # Nothing wakes us when someone starts sleeping, so look (bounded) at the sleeper count.
    deadline = time.monotonic() + 30.0
    while _sync.load32(buf, WAKE_SLEEPERS) == 0:
        if time.monotonic() > deadline:
            sys.exit(EXIT_STUCK)
        time.sleep(0.001)
    _sync.store64(buf, RELEASED_NS, time.monotonic_ns())
    lock.release()


def locked_counter(path: str, times: int, timeout: float | None) -> None:
    """Increment COUNTER non-atomically (read, then write) ``times`` times under the lock."""
    seg = Segment.open(Path(path))
    buf = seg.mapping()
    lock = RangeLock(seg.fd, LOCK_BYTE, wake=WakeWord(buf, WAKE), timeout=timeout)
    start_line(buf)
    for _ in range(times):
        with lock:
            # A plain read-modify-write: only the lock keeps increments from being lost.
            (value,) = struct.unpack_from("<Q", buf, COUNTER)
            struct.pack_into("<Q", buf, COUNTER, value + 1)


def lease_holder(path: str, byte: int) -> None:
    """Lease ``byte`` of the segment, say so, and live until killed."""
    seg = Segment.open(Path(path))
    lease = Lease.try_take(seg.fd, byte)
    if lease is None:
        sys.exit(EXIT_OTHER)
    arrive(seg.mapping())
    _park(seg.mapping())


# -- segments -------------------------------------------------------------


def racing_creator(control: str, directory: str, name: str, tag: int) -> None:
    """Race to create ``name``; exit EXIT_CREATED, EXIT_EXISTS, or EXIT_OTHER."""
    buf = Segment.open(Path(control)).mapping()
    start_line(buf)

    def stamp(mapping: object) -> None:
        _sync.store32(mapping, 0, tag)  # the file says who built it

    try:
        Segment.create(name, 4096, directory=directory, init=stamp).close()
    except SegmentExistsError as err:
        sys.exit(EXIT_EXISTS if isinstance(err, FileExistsError) else EXIT_OTHER)
    sys.exit(EXIT_CREATED)


def unprivileged_opener(path: str) -> None:
    """Drop to user nobody and open ``path``: exit 0 iff SegmentPermissionError (a PermissionError)."""
    os.setgid(65534)
    os.setuid(65534)
    try:
        Segment.open(Path(path))
    except SegmentPermissionError as err:
        ok = isinstance(err, PermissionError) and path in str(err)
        sys.exit(0 if ok else EXIT_OTHER)
    sys.exit(EXIT_OTHER)


def unprivileged_creator(directory: str, name: str) -> None:
    """Drop to user nobody and create ``name``: exit 0 iff SegmentPermissionError naming the directory."""
    os.setgid(65534)
    os.setuid(65534)
    try:
        Segment.create(name, 4096, directory=directory).close()
    except SegmentPermissionError as err:
        ok = isinstance(err, PermissionError) and directory in str(err)
        sys.exit(0 if ok else EXIT_OTHER)
    sys.exit(EXIT_OTHER)


def creator_parked_in_init(control: str, directory: str, name: str) -> None:
    """Create ``name`` and, half-way (memory reserved, not yet named), park until killed."""
    buf = Segment.open(Path(control)).mapping()

    def park(mapping: object) -> None:
        arrive(buf, READY)
        _park(buf)

    Segment.create(name, 1 << 20, directory=directory, init=park)
