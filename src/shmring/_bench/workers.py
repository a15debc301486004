"""Two long-lived worker processes (A and B) that run trials on command.

Forked once (so they inherit channels that can only be shared that way) and
re-forked after any failed trial, so a broken channel never leaks into the next.
Each trial pins the worker to the CPU it is told (``os.sched_setaffinity``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import traceback
from collections.abc import Callable
from multiprocessing import connection as mp_connection
from typing import Any

from .. import WaitTimeout
from . import floors
from .base import Transport
from .check import DataError
from .measures import ROLES

_CTX = mp.get_context("fork")
BARRIER_SECS = 30.0


class TrialFailed(Exception):
    """A trial did not complete: data lost or corrupt, a timeout, or an error."""


def _open_ends(t: Transport, role: str, specs: list[Any], barrier: Any) -> tuple[Any, Any]:
    # Receivers first, then everyone waits, then senders: nobody sends into the void.
    rx_chan = {"consumer": 0, "pong": 0, "ping": 1}.get(role)
    tx_chan = {"producer": 0, "ping": 0, "pong": 1}.get(role)
    # (or senders first where the transport needs that order to be lossless).
    tx = rx = None
    for step in ("tx", "rx") if t.senders_first else ("rx", "tx"):
        if step == "rx" and rx_chan is not None:
            rx = t.receiver(specs[rx_chan])
        if step == "tx" and tx_chan is not None:
            tx = t.sender(specs[tx_chan])
        barrier.wait(BARRIER_SECS)
    return tx, rx


def _run_transport(t: Transport, cmd: dict[str, Any], barrier: Any) -> dict[str, Any]:
    tx, rx = _open_ends(t, cmd["role"], cmd["specs"], barrier)
    try:
        out = ROLES[cmd["role"]](tx, rx, cmd["params"])
        barrier.wait(BARRIER_SECS)  # the consumer has everything before anyone closes
    finally:
        for end in (tx, rx):
            if end is not None:
                end.close()
    return out


def _run(cmd: dict[str, Any], transports: dict[str, Transport], barrier: Any) -> dict[str, Any]:
    os.sched_setaffinity(0, {cmd["cpu"]})
    subject = cmd["subject"]
    if subject == floors.COPY_FLOOR:
        return floors.copyto(cmd["params"])
    if subject in floors.RTT_FLOORS:
        barrier.wait(BARRIER_SECS)
        return floors.rtt_role(subject, cmd["role"], cmd["params"])
    return _run_transport(transports[subject], cmd, barrier)


def _serve(conn: Any, transports: dict[str, Transport], barrier: Any) -> None:
    # Ctrl-C reaches the whole process group: the parent handles it and kills us.
    # We start with SIGINT blocked (WorkerPair.start), so one that came during
    # the fork's own start-up is still pending: ignore it first, then unblock.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    while True:
        cmd = conn.recv()
        if cmd is None:
            return
        try:
            reply = {"ok": True, "result": _run(cmd, transports, barrier)}
        except DataError as err:
            reply = {"ok": False, "status": "LOST/CORRUPT", "error": str(err)}
        except (TimeoutError, WaitTimeout) as err:
            reply = {"ok": False, "status": "TIMEOUT", "error": f"{type(err).__name__}: {err}"}
        except BaseException as err:  # noqa: BLE001 - reported, never hidden
            last = traceback.format_exception(err)[-1].strip()
            reply = {"ok": False, "status": "ERROR", "error": last}
        conn.send(reply)


class WorkerPair:
    def __init__(self, transports: dict[str, Transport], max_frame_bytes: int) -> None:
        self.transports = transports
        self.max_frame_bytes = max_frame_bytes
        self.procs: list[Any] = []
        self.conns: list[Any] = []
        self.start()

    def start(self) -> None:
        for t in self.transports.values():
            t.prepare(self.max_frame_bytes)
        floors.prepare()
        barrier = _CTX.Barrier(2)
        for _ in range(2):
            parent, child = _CTX.Pipe()
            proc = _CTX.Process(target=_serve, args=(child, self.transports, barrier), daemon=True)
            # A forked child inherits the signal mask: with SIGINT blocked across
            # the fork, a Ctrl-C cannot interrupt the child before it ignores SIGINT.
            old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                proc.start()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
            child.close()
            self.procs.append(proc)
            self.conns.append(parent)

    def stop(self, kill: bool = False) -> None:
        for conn, proc in zip(self.conns, self.procs, strict=True):
            if kill:
                proc.kill()
            else:
                try:
                    conn.send(None)
                except OSError:
                    proc.kill()
            proc.join(5.0)
            if proc.is_alive():
                proc.kill()
                proc.join(5.0)
            conn.close()
        self.procs, self.conns = [], []

    def restart(self) -> None:
        self.stop(kill=True)
        self.start()

    def run(self, cmds: list[dict[str, Any] | None], timeout: float) -> list[dict[str, Any]]:
        """Send one command per worker (None: that worker sits idle); gather the replies.

        The first failure (or silence past ``timeout`` seconds) ends the trial at once:
        both workers are killed and forked anew, and TrialFailed says what happened.
        """
        pending: dict[Any, int] = {}
        for i, (conn, cmd) in enumerate(zip(self.conns, cmds, strict=True)):
            if cmd is not None:
                conn.send(cmd)
                pending[conn] = i
        results: list[Any] = [None] * len(cmds)
        deadline = time.monotonic() + timeout
        while pending:
            ready: list[Any] = mp_connection.wait(list(pending), max(0.0, deadline - time.monotonic()))
            if not ready:
                self.restart()
                raise TrialFailed(f"HUNG: no reply within {timeout:.0f} s")
            for conn in ready:
                reply: dict[str, Any] = conn.recv()
                if not reply["ok"]:
                    self.restart()
                    raise TrialFailed(f"{reply['status']}: {reply['error']}")
                results[pending.pop(conn)] = reply["result"]
        return results


ProgressFn = Callable[[int, int, str], None]
