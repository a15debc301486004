"""Targets for spawned children in the legacy tests, and the test pattern shared with the C peer.

A spawned child imports its target by module name, so targets live here.
Children report through multiprocessing queues/events handed to them; every
wait on them in the tests is bounded.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from shmring.legacy import Locker, SharedMem, answer

#: flags of the end-marker buffer (a producer retries it until stored).
END_FLAGS = 0xFFFFFFFF


def pattern(k: int, item_size: int) -> tuple[bytes, int, int, int]:
    """Buffer of put_counter ``k`` in the cross-language tests: (data, width, height, flags).

    1 + 7k mod (item_size + 3) bytes of (k + j) & 0xff, so lengths cover 1..item_size
    and truncation; the C peer (c/legacy_peer.c) computes the same.
    """
    length = 1 + (k * 7) % (item_size + 3)
    return bytes((k + j) & 0xFF for j in range(length)), k, 2 * k, 0x12345678 ^ k


def put_many(path: str, total: int, first_batch: int, go: Any, result: Any) -> None:
    """Put ``first_batch`` buffers, set ``go``, put the rest of ``total``; report the dropped count."""
    mem = SharedMem.open(Path(path))
    dropped = 0
    for k in range(1, total + 1):
        data, width, height, flags = pattern(k, mem.item_size)
        dropped += not mem.put_buf(data, width, height, flags)
        if k == first_batch:
            go.set()
    result.put(dropped)
    mem.close()


def put_on_request(path: str, request: Any, count: int) -> None:
    """Put one buffer each time ``request`` yields an item, ``count`` times."""
    mem = SharedMem.open(Path(path))
    for k in range(1, count + 1):
        request.get(timeout=30)
        mem.put_buf(bytes([k]) * 4, 2, 2, k)
    mem.close()


def hold_locker(name: str, directory: str, held: Any) -> None:
    """Take the Locker, say so, and keep it until killed."""
    locker = Locker(name, directory=directory)
    locker.acquire(5)
    held.set()
    signal.pause()  # until the test kills us


def answer_messages(path: str, count: int, ready: Any) -> None:
    """Answer ``count`` messages (upper-casing them) on ``path``."""
    ready.set()
    for _ in range(count):
        answer(Path(path), timeout=30)


def read_as_nobody(path: str, report: Any) -> None:
    """Drop to user nobody, open ``path`` read-only, report what reading and taking did."""
    import os

    from shmring import SegmentPermissionError

    os.setgid(65534)
    os.setuid(65534)
    with SharedMem.open(Path(path)) as mem:
        outcome = {"writable": mem.writable, "count": mem.header().count, "head_bytes": mem.read(0, 4)}
        try:
            mem.get_buf()
        except SegmentPermissionError as err:
            outcome["get_buf"] = str(err)
    report.put(outcome)
