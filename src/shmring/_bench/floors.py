"""Floors: what the hardware and kernel allow, measured in the same run.

* ``copyto``: one process, ``np.copyto`` of a frame into ``depth`` rotating
  slots of the same size: the memcpy bound for a copy-in transport.
* ``pipe``: a 64-byte ping-pong over two ``os.pipe``s: the syscall wake-up path.
* ``futex``: ping-pong on two 32-bit words of a shared mapping with
  ``shmring._sync`` futex wait/wake and no spinning: the cheapest blocking hand-off.
* ``spin``: the same words, busy-polled: the cheapest hand-off there is, and the
  worst case on one core (each side spins until the scheduler preempts it).
"""

from __future__ import annotations

import mmap
import os
import time
from typing import Any

import numpy as np

from .check import stamp
from .measures import latency_summary

RTT_FLOORS = ("pipe", "futex", "spin")
COPY_FLOOR = "copyto"
SPIN_CAP_SECS = 1.0  # a busy-poll trial on one core stops after this, with what it got
SPIN_CAP_QUICK_SECS = 0.5

_PING, _PONG = 0, 64  # the two words, a cache line apart
_shared: dict[str, Any] = {}


def prepare() -> None:
    """Make the pipes and the shared page before the workers fork (they inherit them)."""
    _shared["page"] = mmap.mmap(-1, mmap.PAGESIZE)
    _shared["pipes"] = (os.pipe(), os.pipe())


def reset() -> None:
    _shared["page"][:] = bytes(mmap.PAGESIZE)


def unavailable(name: str) -> str | None:
    if name in ("futex", "spin"):
        try:
            from shmring import _sync  # noqa: F401
        except ImportError:
            return "shmring._sync not built"
    return None


# ------------------------------------------------------------ round-trip floors


def pipe_role(role: str, p: dict[str, Any]) -> dict[str, Any]:
    (r0, w0), (r1, w1) = _shared["pipes"]
    total, warm, nbytes = p["warm"] + p["n"], p["warm"], 64
    msg = bytearray(nbytes)
    lat = np.empty(total, np.int64)
    clock = time.perf_counter_ns
    for seq in range(total):
        if role == "ping":
            stamp(msg, seq, nbytes)
            t = clock()
            os.write(w0, msg)
            got = os.read(r1, nbytes)
            lat[seq] = clock() - t
        else:
            got = os.read(r0, nbytes)
            os.write(w1, got)
        if len(got) != nbytes or int.from_bytes(got[:8], "little") != seq:
            raise RuntimeError(f"pipe floor: message {seq} came back wrong")
    return latency_summary(lat[warm:]) if role == "ping" else {}


def word_role(role: str, p: dict[str, Any], block: bool) -> dict[str, Any]:
    from shmring._sync import futex_wait, futex_wake, load32, store32

    page = _shared["page"]
    mine, theirs = (_PING, _PONG) if role == "ping" else (_PONG, _PING)
    total, warm = p["warm"] + p["n"], p["warm"]
    lat = np.empty(total, np.int64)
    clock = time.perf_counter_ns
    cap = SPIN_CAP_QUICK_SECS if p.get("quick") else SPIN_CAP_SECS
    deadline = time.monotonic() + (30.0 if block else cap)
    done = 0
    for seq in range(1, total + 1):
        t = clock()
        if role == "ping":
            store32(page, mine, seq)
            if block:
                futex_wake(page, mine, 1)
        while (v := load32(page, theirs)) != seq and time.monotonic() < deadline:
            if block:
                futex_wait(page, theirs, v, 1.0)
        if v != seq:
            break  # capped: both sides give up at about the same moment
        lat[seq - 1] = clock() - t
        done = seq
        if role == "pong":
            store32(page, mine, seq)
            if block:
                futex_wake(page, mine, 1)
    if role != "ping":
        return {}
    if done < 2:
        return {"n": done, "capped": True, "median_us": float("nan"), "p99_us": float("nan")}
    # A capped busy-poll on one core may not get past the warm-up: keep what it got.
    out = latency_summary(lat[min(warm, done // 2):done])
    out["capped"] = done < total
    return out


def rtt_role(name: str, role: str, p: dict[str, Any]) -> dict[str, Any]:
    if name == "pipe":
        return pipe_role(role, p)
    return word_role(role, p, block=(name == "futex"))


# ------------------------------------------------------------------ copy floor


def copyto(p: dict[str, Any]) -> dict[str, Any]:
    warm, n, nbytes, depth = p["warm"], p["n"], p["nbytes"], p["depth"]
    src = np.empty(p["shape"], p["dtype"])
    u8 = src.reshape(-1).view(np.uint8)
    u8[:] = np.arange(nbytes, dtype=np.uint64).astype(np.uint8)
    slots = [np.empty_like(src) for _ in range(depth)]
    t0 = c0 = 0.0
    for seq in range(warm + n):
        if seq == warm:
            t0, c0 = time.perf_counter(), time.process_time()
        stamp(u8, seq, nbytes)
        np.copyto(slots[seq % depth], src)
    return {"n": n, "secs": time.perf_counter() - t0, "cpu": time.process_time() - c0}
