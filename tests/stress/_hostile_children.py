"""Targets for the hostile-filesystem tests' child processes (spawned children import them by name).

Each reports through its exit code: :data:`OK` when it saw exactly the error
it should, :data:`WRONG` otherwise; death by a signal (SIGBUS) shows as a
negative exit code.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

import shmring

OK, WRONG = 0, 3
NOBODY = 65534


def open_as_nobody(kind: str, path: str) -> None:
    """Drop to user nobody, open ``path`` (a ``ring`` or ``legacy`` file): OK iff SegmentPermissionError naming it."""
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    try:
        if kind == "ring":
            shmring.Ring.open(Path(path))
        else:
            shmring.legacy.SharedMem.open(path, writable=True)
    except shmring.SegmentPermissionError as err:
        sys.exit(OK if path in str(err) else WRONG)
    sys.exit(WRONG)


def write_frames(kind: str, path: str, frames: int, half: Any, filled: Any) -> None:
    """Put ``frames`` frames; half-way, set ``half`` and wait for ``filled`` (the tmpfs is full), then go on."""
    if kind == "ring":
        with shmring.Ring.open(Path(path)) as ring, ring.writer() as writer, ring.reader(start="oldest") as reader:
            for seq in range(frames):
                _pause(seq == frames // 2, half, filled)
                writer.put(np.full(ring.slot_bytes // 4, seq, np.uint32))
                frame = reader.get(timeout=5)
                if not (frame.data == frame.seq).all():
                    sys.exit(WRONG)
    else:
        with shmring.legacy.SharedMem.open(path) as mem:
            for seq in range(frames):
                _pause(seq == frames // 2, half, filled)
                if not mem.put_buf(bytes([seq % 256]) * mem.item_size):
                    sys.exit(WRONG)
                got = mem.get_buf()
                if got is None or bytes(got.data) != bytes([seq % 256]) * mem.item_size:
                    sys.exit(WRONG)
    sys.exit(OK)


def _pause(now: bool, half: Any, filled: Any) -> None:
    if now:
        half.set()
        if not filled.wait(30):
            sys.exit(WRONG)


def open_sparse_for_writing(kind: str, path: str) -> None:
    """Open a file with holes on a full tmpfs and write a frame: OK iff NoSpaceError at open (never SIGBUS)."""
    try:
        if kind == "ring":
            with shmring.Ring.open(Path(path)) as ring, ring.writer() as writer:
                writer.put(np.zeros(ring.slot_bytes, np.uint8))
        else:
            with shmring.legacy.SharedMem.open(path) as mem:
                mem.put_buf(b"y" * mem.item_size)
    except shmring.NoSpaceError as err:
        sys.exit(OK if path in str(err) else WRONG)
    sys.exit(WRONG)
