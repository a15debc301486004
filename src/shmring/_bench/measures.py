"""What is measured, and the loops each worker runs for it.

Every loop sends ``warm + n`` stamped messages (``check.stamp``) and the
receiving side verifies each one (``check.verify``, or ``check.verify_many`` a batch at
a time); only the last ``n`` are
timed, so the first touch of every slot and lazy connection set-up stay out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import Receiver, Sender
from .check import stamp, verify, verify_many

MiB = 1 << 20
BATCH = 256  # messages per batch in the "batch" measures
RECV_TIMEOUT = 20.0  # seconds a receiver waits for one message before it calls it lost


@dataclass(frozen=True)
class Measure:
    """One row family of the table: a message size and what is timed."""

    name: str
    kind: str  # "rtt" | "msg" | "batch" | "copy" | "inplace"
    nbytes: int
    shape: tuple[int, ...]
    dtype: str = "uint8"
    depth: int = 64
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # profile -> (warm, n)

    def plan(self, quick: bool) -> tuple[int, int]:
        return self.counts["quick" if quick else "full"]

    @property
    def label(self) -> str:
        return LABELS[self.kind].format(size=_size(self.nbytes))


LABELS = {
    "rtt": "{size} round trip",
    "msg": "{size} one-way",
    "batch": "{size} one-way, batches of " + str(BATCH),
    "copy": "{size} frame, copy-in",
    "inplace": "{size} frame, in place",
}


def _size(nbytes: int) -> str:
    if nbytes >= MiB:
        return f"{nbytes // MiB} MiB"
    if nbytes >= 1024:
        return f"{nbytes // 1024} KiB"
    return f"{nbytes} B"


def _frame(name: str, kind: str, mib: int, side: int, n_full: int, n_quick: int) -> Measure:
    shape = (side // 2, side) if mib == 1 else (side, side)
    counts = {"full": (10, n_full), "quick": (8, n_quick)}  # warm-up touches all 8 slots
    return Measure(name, kind, mib * MiB, shape, "uint16", depth=8, counts=counts)


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in [
        Measure("rtt64", "rtt", 64, (64,), counts={"full": (300, 3000), "quick": (100, 1000)}),
        Measure("msg64", "msg", 64, (64,), counts={"full": (1000, 20000), "quick": (500, 5000)}),
        Measure("batch64", "batch", 64, (64,), counts={"full": (4 * BATCH, 400 * BATCH),
                                                       "quick": (2 * BATCH, 100 * BATCH)}),
        Measure("msg4k", "msg", 4096, (4096,), counts={"full": (1000, 10000), "quick": (500, 4000)}),
        _frame("copy1M", "copy", 1, 1024, 960, 32),
        _frame("copy8M", "copy", 8, 2048, 120, 6),
        _frame("copy32M", "copy", 32, 4096, 30, 4),
        _frame("inplace1M", "inplace", 1, 1024, 800, 200),
        _frame("inplace8M", "inplace", 8, 2048, 800, 200),
        _frame("inplace32M", "inplace", 32, 4096, 800, 200),
    ]
}


# ----------------------------------------------------------------- worker loops
# Each returns a small dict of raw numbers; the runner turns them into metrics.


def _stamped(seqs: range, nbytes: int) -> list[bytes]:
    buf = bytearray(nbytes)
    out = []
    for seq in seqs:
        stamp(buf, seq, nbytes)
        out.append(bytes(buf))
    return out


def batch_producer(tx: Sender, p: dict[str, Any]) -> dict[str, Any]:
    """Messages stamped beforehand (the batch is what is timed), sent BATCH at a time."""
    total, nbytes = p["warm"] + p["n"], p["nbytes"]
    msgs = _stamped(range(total), nbytes)
    for start in range(0, total, BATCH):
        tx.send_many(msgs[start:start + BATCH])
    return {}


def batch_consumer(rx: Receiver, p: dict[str, Any]) -> dict[str, Any]:
    """Receive batches until every message came; timed from the first batch after the warm-up."""
    warm, total, nbytes = p["warm"], p["warm"] + p["n"], p["nbytes"]
    seq = first = 0
    t0 = c0 = 0.0
    while seq < total:
        if seq >= warm and not first:
            first, t0, c0 = seq, time.perf_counter(), time.process_time()
        bufs = rx.recv_many(BATCH, RECV_TIMEOUT)
        verify_many(bufs, seq, nbytes)  # every message, one numpy pass per batch
        seq += len(bufs)
    n = total - first
    return {"n": n, "secs": time.perf_counter() - t0, "cpu": time.process_time() - c0}


def producer(tx: Sender, rx: Receiver | None, p: dict[str, Any]) -> dict[str, Any]:
    total, nbytes = p["warm"] + p["n"], p["nbytes"]
    if p["kind"] == "batch":
        return batch_producer(tx, p)
    if p["kind"] == "inplace":
        # Timed here, on the writer: reserve + fill (the stamp, as a camera DMA-ing into the
        # slot) + commit, while the reader keeps up (it waits for the writer only when it is ahead).
        t0 = 0.0
        for seq in range(total):
            if seq == p["warm"]:
                t0 = time.perf_counter()
            with tx.loan() as arr:
                stamp(arr, seq, nbytes)
        return {"n": p["n"], "secs": time.perf_counter() - t0}
    src = np.empty(p["shape"], p["dtype"])
    src.reshape(-1).view(np.uint8)[:] = np.arange(nbytes, dtype=np.uint64).astype(np.uint8)  # not a zero page
    for seq in range(total):
        stamp(src, seq, nbytes)
        tx.send(src)
    return {}


def consumer(tx: Sender | None, rx: Receiver, p: dict[str, Any]) -> dict[str, Any]:
    if p["kind"] == "batch":
        return batch_consumer(rx, p)
    warm, total, nbytes = p["warm"], p["warm"] + p["n"], p["nbytes"]
    t0 = c0 = 0.0
    for seq in range(total):
        if seq == warm:
            t0, c0 = time.perf_counter(), time.process_time()
        buf = rx.recv(RECV_TIMEOUT)
        verify(buf, seq, nbytes)
        rx.release()
    return {"n": p["n"], "secs": time.perf_counter() - t0, "cpu": time.process_time() - c0}


def ping(tx: Sender, rx: Receiver, p: dict[str, Any]) -> dict[str, Any]:
    warm, total, nbytes = p["warm"], p["warm"] + p["n"], p["nbytes"]
    src = np.zeros(nbytes, np.uint8)
    lat = np.empty(total, np.int64)
    clock = time.perf_counter_ns
    for seq in range(total):
        stamp(src, seq, nbytes)
        t = clock()
        tx.send(src)
        buf = rx.recv(RECV_TIMEOUT)
        lat[seq] = clock() - t
        verify(buf, seq, nbytes)
        rx.release()
    return latency_summary(lat[warm:])


def pong(tx: Sender, rx: Receiver, p: dict[str, Any]) -> dict[str, Any]:
    total, nbytes = p["warm"] + p["n"], p["nbytes"]
    src = np.zeros(nbytes, np.uint8)
    for seq in range(total):
        buf = rx.recv(RECV_TIMEOUT)
        verify(buf, seq, nbytes)
        rx.release()
        stamp(src, seq, nbytes)
        tx.send(src)
    return {}


def latency_summary(lat_ns: np.ndarray) -> dict[str, Any]:
    us = lat_ns / 1e3
    return {"n": int(us.size), "median_us": float(np.median(us)), "p99_us": float(np.percentile(us, 99))}


ROLES: dict[str, Callable[..., dict[str, Any]]] = {
    "producer": producer,
    "consumer": consumer,
    "ping": ping,
    "pong": pong,
}


def roles_for(kind: str) -> tuple[str, str]:
    """The roles of worker A and worker B."""
    return ("ping", "pong") if kind == "rtt" else ("producer", "consumer")
