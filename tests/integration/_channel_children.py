"""Targets for spawned child processes in the channel tests.

A spawned child imports its target by module name, so targets live here.
Children report through their exit code and, where a test needs more, a
multiprocessing connection. Every wait is bounded: a child that is not killed
or stopped in time exits with EXIT_STUCK instead of hanging the test run.
"""

from __future__ import annotations

import os
import sys
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import Any

import numpy as np

import shmring

EXIT_OK = 0
EXIT_MISMATCH = 3
EXIT_WRONG_ERROR = 4
EXIT_STUCK = 5

PARK_S = 60.0  # longest a child waits to be killed or released; the tests' own bounds are shorter


def echo_handler(request: Any, meta: dict[str, Any]) -> Any:
    """Replies with the request, tagged with what the client sent in meta."""
    return shmring.Message(request, {"echo_of": meta.get("client", -1), "seq": meta.get("seq", -1)})


def serve_echo(name: str, ready: Event) -> None:
    """Serve echo in this process's main thread (the loop form) until killed."""
    with shmring.Channel.open(name) as ch:
        ch.serve_once(echo_handler, 0)  # takes the server role before saying "ready"
        ready.set()
        ch.serve_forever(echo_handler)
    sys.exit(EXIT_STUCK)


def serve_holding(name: str, ready: Event, holding: Event, release: Event) -> None:
    """Serve echo until killed; a b"hold" request sets ``holding`` and blocks until ``release``."""

    def handler(request: Any, meta: dict[str, Any]) -> Any:
        if request == b"hold":
            holding.set()
            if not release.wait(PARK_S):
                os._exit(EXIT_STUCK)
        return request

    with shmring.Channel.open(name) as ch:
        ch.serve_once(handler, 0)
        ready.set()
        ch.serve_forever(handler)
    sys.exit(EXIT_STUCK)


def hammer(name: str, client: int, count: int) -> None:
    """``count`` requests of distinct bytes and arrays; exit EXIT_MISMATCH on any wrong reply."""
    with shmring.Channel.open(name) as ch:
        for seq in range(count):
            if seq % 2:
                data: Any = np.array([client, seq], dtype=np.int64)
            else:
                data = f"client {client} request {seq}".encode()
            reply = ch.call(data, meta={"client": client, "seq": seq}, timeout=20.0)
            same = np.array_equal(reply.data, data) if seq % 2 else reply.data == data
            if not same or reply.meta != {"echo_of": client, "seq": seq}:
                print(f"client {client} request {seq}: got {reply!r}", file=sys.stderr)
                sys.exit(EXIT_MISMATCH)
    sys.exit(EXIT_OK)


def hammer_until_broken(name: str, client: int, warm: Event, report: Connection, timeout: float) -> None:
    """Request until the server dies; send ``(error type, monotonic time of the error, replies)``."""
    replies = 0
    with shmring.Channel.open(name) as ch:
        deadline = time.monotonic() + PARK_S
        while time.monotonic() < deadline:
            try:
                ch.request(f"{client}:{replies}".encode(), timeout=timeout)
            except shmring.ShmringError as err:
                report.send((type(err).__name__, time.monotonic(), replies))
                sys.exit(EXIT_OK)
            replies += 1
            if replies == 50:
                warm.set()
    sys.exit(EXIT_STUCK)


def request_hold(name: str) -> None:
    """Send b"hold" and wait (the test kills us meanwhile)."""
    with shmring.Channel.open(name) as ch:
        ch.request(b"hold", timeout=PARK_S)
    sys.exit(EXIT_STUCK)


def few_requests(name: str, count: int) -> None:
    """``count`` requests; each reply must be the request upper-cased."""
    with shmring.Channel.open(name) as ch:
        for i in range(count):
            data = f"command {i}".encode()
            if ch.request(data, timeout=20.0) != data.upper():
                sys.exit(EXIT_MISMATCH)
    sys.exit(EXIT_OK)


def write_frames(name: str, count: int, go: Event) -> None:
    """After ``go``, write ``count`` frames numbered 0..count-1."""
    ring = shmring.Ring.open(name)
    writer = ring.writer()
    if not go.wait(PARK_S):
        sys.exit(EXIT_STUCK)
    for i in range(count):
        writer.put(np.full(4, i, dtype=np.int32))
    ring.close()
    sys.exit(EXIT_OK)
