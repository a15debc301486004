"""The processes the channel kill rounds start: an echo server that dies, and clients that check every reply.

Every process opens the channel itself (they are forked from a server that has
none open). A request carries its client's id, its count and a random nonce, and
the server echoes it: a reply that is not the client's own request is a reply that
reached the wrong client. A victim that sees something wrong exits with a code
from :data:`EXIT` instead of dying.
"""

from __future__ import annotations

import os
import random
import signal
import struct
import time
from pathlib import Path
from typing import Any

import shmring

__all__ = ["EXIT", "SLOW", "WAIT_S", "client", "server"]

#: Exit codes of a victim that found a problem instead of being killed.
EXIT = {3: "a reply that was not its own request", 4: "wait not bounded (timed out)", 5: "unexpected error"}
#: The longest any one wait may take: a request's timeout, a client waiting for a new server.
WAIT_S = 10.0
#: No victim lives longer than this, even if nobody kills it.
LIFETIME_S = 120.0
#: Requests that start with this take the server a few milliseconds: kills land mid-request.
SLOW = b"slow"
_WORK_S = 0.005


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def server(path: str, ready: Any, die: Any) -> None:
    """Serve echo until killed; once ``die.value`` is set, SIGKILL itself inside the handler of the next request."""

    def echo(request: Any, meta: dict[str, Any]) -> Any:
        if die.value:
            _die()  # the request in hand stays SERVING: its client must learn at once
        if request.startswith(SLOW):
            time.sleep(_WORK_S)  # the handler's work, not a wait for anything
        return request

    with shmring.Channel.open(Path(path)) as ch:
        ch.serve_once(echo, 0)  # takes the server role before saying so
        ready.put(os.getpid())
        ch.serve_forever(echo)


def client(path: str, ident: int, slow_share: float, notices: Any, replies: Any, stop: Any) -> None:
    """Request until ``stop``; report each BrokenError to ``notices`` and count good replies in ``replies[ident]``."""
    rng = random.Random(ident)
    end = time.monotonic() + LIFETIME_S
    with shmring.Channel.open(Path(path)) as ch:
        count = 0
        while not stop.is_set() and time.monotonic() < end:
            request = (SLOW if rng.random() < slow_share else b"fast") + struct.pack(
                "<QQQ", ident, count, rng.getrandbits(64))
            try:
                reply = ch.request(request, timeout=WAIT_S)
            except shmring.BrokenError:
                notices.put((ident, time.monotonic()))
                _await_server(ch)
                continue
            except shmring.WaitTimeout:
                os._exit(4)
            except shmring.ShmringError:
                os._exit(5)
            if reply != request:
                os._exit(3)
            replies[ident] += 1
            count += 1


def _await_server(ch: shmring.Channel) -> None:
    """Until a new server holds the channel (bounded: exit 4 after ``3 * WAIT_S``)."""
    end = time.monotonic() + 3 * WAIT_S
    while not ch.info()["server_alive"]:
        if time.monotonic() > end:
            os._exit(4)
        time.sleep(0.001)  # a lease in another process: the kernel announces nothing
