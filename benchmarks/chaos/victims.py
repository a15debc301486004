"""The processes the kill campaign starts: writers and readers that die, and readers that check.

Every process opens the ring itself (they are forked from a server that has
none open). A victim either runs until the campaign SIGKILLs it at a random
moment, or SIGKILLs itself at an exact point (inside ``reserve``, holding the
shared-writer lock, holding a zero-copy view). A victim that sees something
wrong exits with a code from :data:`EXIT` instead of dying.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np

import shmring

from . import frames

__all__ = ["EXIT", "MAX_WORDS", "creator", "stalled_reader", "verifier", "victim_reader", "victim_writer"]

MAX_WORDS = 4096  # frames of 4 B .. 16 KiB
#: Exit codes of a victim that found a problem instead of being killed.
EXIT = {3: "torn frame", 4: "wait not bounded (timed out)", 5: "unexpected error"}
#: No victim lives longer than this, even if nobody kills it.
LIFETIME_S = 60.0
#: The longest any one wait of a victim may take; exceeding it is a hang.
WAIT_S = 10.0


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _write_one(writer: shmring.Writer, rng: random.Random, die_inside: bool) -> None:
    tag = rng.getrandbits(32)
    if rng.random() < 0.5 and not die_inside:
        data, meta = frames.make(tag, MAX_WORDS)
        writer.put(data, meta=meta, timeout=WAIT_S)
        return
    res = writer.reserve(frames.words_for(tag, MAX_WORDS), np.uint32, meta={frames.CRC_KEY: 0}, timeout=WAIT_S)
    try:
        with res as slot:
            if die_inside:  # half the pixels in, the slot marked odd (and, if shared, the put lock held)
                slot[: slot.size // 2] = 1
                _die()
            res.set_meta(frames.fill(slot, tag))
    except shmring.WouldBlock:  # drop policy, ring full
        pass


def victim_writer(path: str, shared: bool, die_after: int, seed: int) -> None:
    """Write checksummed frames; with ``die_after`` >= 0, SIGKILL itself inside the next reserve after that many."""
    rng = random.Random(seed)
    end = time.monotonic() + LIFETIME_S
    try:
        with shmring.Ring.open(Path(path)) as ring, ring.writer(shared=shared) as writer:
            count = 0
            while time.monotonic() < end:
                _write_one(writer, rng, die_inside=0 <= die_after <= count)
                count += 1
    except shmring.WaitTimeout:
        os._exit(4)
    except shmring.ShmringError:
        os._exit(5)


def victim_reader(path: str, view: bool, die_after: int, seed: int) -> None:
    """Read and check frames; with ``die_after`` >= 0, SIGKILL itself holding a view after that many."""
    end = time.monotonic() + LIFETIME_S
    with shmring.Ring.open(Path(path)) as ring, ring.reader(name="victim") as reader:
        count = 0
        while time.monotonic() < end:
            try:
                frame = reader.get(timeout=WAIT_S, view=view)
            except shmring.WaitTimeout:
                os._exit(4)
            if not frames.is_whole(frame.data, frame.meta) and frame.valid():
                os._exit(3)
            if count == die_after:
                _die()  # holding the frame: under block it pins its slot
            frame.release()
            count += 1


def stalled_reader(path: str, ready: Any) -> None:
    """Attach and never read: under ``block`` the writer fills the ring and waits on this reader."""
    with shmring.Ring.open(Path(path)) as ring, ring.reader(name="stalled"):
        ready.put(os.getpid())
        time.sleep(LIFETIME_S)  # holds its entry until killed


def creator(directory: str, seed: int) -> None:
    """Create and remove rings in a loop until killed (a kill mid-create must leave no file behind)."""
    rng = random.Random(seed)
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        name = f"created-{rng.getrandbits(32):08x}"
        ring = shmring.Ring.create(name, slots=4, slot_bytes=1 << 20, directory=directory)
        ring.unlink()
        ring.close()


def verifier(path: str, ready: Any, target: Any, results: Any) -> None:
    """Read every frame from the start of the round to ``target`` (set at its end) and report.

    Reports received, lost, torn, out-of-order, and whether it reached the target in time.
    """
    report = {"received": 0, "lost": 0, "torn": 0, "disorder": 0, "reached": False}
    with shmring.Ring.open(Path(path)) as ring, ring.reader(name="verifier") as reader:
        ready.put(os.getpid())
        last, stall_end = -1, None
        while True:
            goal = target.value
            if goal >= 0 and reader.received + reader.lost >= goal:
                report["reached"] = reader.received + reader.lost == goal
                break
            if goal >= 0 and stall_end is None:
                stall_end = time.monotonic() + 30.0
            if stall_end is not None and time.monotonic() > stall_end:
                break
            try:
                frame = reader.get(timeout=0.2)
            except shmring.WaitTimeout:
                continue
            report["torn"] += not frames.is_whole(frame.data, frame.meta)
            report["disorder"] += frame.seq <= last
            last = frame.seq
        report["received"], report["lost"] = reader.received, reader.lost
    results.put(report)
