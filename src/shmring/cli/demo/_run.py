"""The demo's process management: spawn the camera and readers, start, stop, and always reap them.

Every wait is bounded and wakes on what it waits for: a child's ``ready`` on
its pipe, or its process sentinel when it dies. :meth:`DemoRun.shutdown`
runs on every exit path (normal end, error, Ctrl-C) and leaves no process
behind: ask politely, then terminate, then kill.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

import click

from ._procs import Board, camera_main, reader_main

SPAWN = mp.get_context("spawn")
#: Seconds the children get to start (a fresh interpreter imports numpy and shmring).
READY_TIMEOUT_S = 60.0
#: Seconds a child gets to finish after ``stop`` before it is terminated.
STOP_TIMEOUT_S = 10.0


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C for the block: children spawned inside inherit the ignore, cleanup runs whole."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class DemoRun:
    """The camera process and ``readers`` reader processes working on ring ``name``."""

    def __init__(self, name: str, readers: int, rate: float) -> None:
        self.name = name
        self.cells = SPAWN.RawArray("d", Board.size(readers))
        self.board = Board(self.cells, readers)
        self.procs: list[BaseProcess] = []
        self.conns: list[Connection] = []
        self._readers = readers
        self._rate = rate

    @property
    def camera(self) -> BaseProcess:
        return self.procs[0]

    @property
    def reader_procs(self) -> list[BaseProcess]:
        return self.procs[1:]

    def start(self) -> None:
        """Spawn every child and wait until each has attached to the ring."""
        with sigint_ignored():  # a terminal's Ctrl-C reaches the children too: they leave it to us
            self._spawn(camera_main, self.name, self.cells, self._readers, self._rate)
            for index in range(self._readers):
                self._spawn(reader_main, self.name, self.cells, self._readers, index)
        self._wait_ready()

    def _spawn(self, target: Any, *args: Any) -> None:
        ours, theirs = SPAWN.Pipe()
        proc = SPAWN.Process(target=target, args=(*args, theirs), daemon=True,
                             name=f"shmring-demo-{target.__name__}")
        proc.start()
        theirs.close()  # the child has its own copy; ours must not keep its end open
        self.procs.append(proc)
        self.conns.append(ours)

    def _wait_ready(self) -> None:
        pending = dict(zip(self.conns, self.procs, strict=True))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise click.ClickException(f"{len(pending)} demo process(es) did not start within "
                                           f"{READY_TIMEOUT_S:.0f} s")
            for ready in wait([*pending, *(p.sentinel for p in pending.values())], remaining):
                if isinstance(ready, Connection) and ready in pending:
                    self._expect_ready(ready, pending.pop(ready))
            self.check_alive()

    @staticmethod
    def _expect_ready(conn: Connection, proc: BaseProcess) -> None:
        try:
            conn.recv()
        except EOFError:
            raise click.ClickException(f"{proc.name} (pid {proc.pid}) exited while starting") from None

    def go(self) -> None:
        """Let the camera start writing."""
        self.conns[0].send("go")

    def check_alive(self) -> None:
        """Raise if a child has died (a camera or reader that fails ends the demo as a failure)."""
        for proc in self.procs:
            if proc.exitcode is not None:
                raise click.ClickException(f"{proc.name} (pid {proc.pid}) exited early with code {proc.exitcode}")

    def wait(self, timeout: float) -> None:
        """Sleep up to ``timeout`` s; wake at once if a child dies."""
        wait([p.sentinel for p in self.procs], timeout)

    def stop(self) -> list[str]:
        """Stop the camera, then the readers (which first read what is left); returns problems seen."""
        problems = self._stop(self.procs[:1]) if self.procs else []
        return problems + self._stop(self.procs[1:])

    def _stop(self, procs: list[BaseProcess]) -> list[str]:
        for proc in procs:
            self._send(self.conns[self.procs.index(proc)], "stop")
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        return [f"{p.name} (pid {p.pid}) exited with code {p.exitcode}" if p.exitcode is not None
                else f"{p.name} (pid {p.pid}) did not stop within {STOP_TIMEOUT_S:.0f} s"
                for p in procs if p.exitcode != 0]

    @staticmethod
    def _send(conn: Connection, message: str) -> None:
        try:
            conn.send(message)
        except OSError:
            pass  # the child is gone already: nothing to tell it

    def shutdown(self) -> None:
        """Make sure no child outlives the demo: stop, then terminate, then kill. Idempotent."""
        with sigint_ignored():
            if any(p.is_alive() for p in self.procs):
                self.stop()
            for proc in self.procs:
                if proc.is_alive():
                    proc.terminate()
                    proc.join(2.0)
                if proc.is_alive():
                    proc.kill()
                    proc.join(2.0)
            for conn in self.conns:
                conn.close()
            self.conns.clear()
