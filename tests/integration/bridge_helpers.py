"""Running ``shmring bridge`` processes in tests: free loopback ports, start, stop, status lines."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import shmring

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now (the kernel picks it)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


class Bridge:
    """One ``shmring bridge ...`` process with ``--json`` status written to a file."""

    def __init__(self, args: list[str], log_dir: Path, tag: str) -> None:
        self.args = args
        self.out = log_dir / f"{tag}.jsonl"
        self.err = log_dir / f"{tag}.err"
        with open(self.out, "ab") as out, open(self.err, "ab") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "shmring.cli", "bridge", *args, "--json",
                                          "--interval", "0.2"], stdout=out, stderr=err)

    def samples(self) -> list[dict[str, Any]]:
        lines = self.out.read_text().splitlines() if self.out.exists() else []
        return [json.loads(line) for line in lines if line.startswith("{")]

    def last(self) -> dict[str, Any]:
        got = self.samples()
        assert got, f"shmring bridge {' '.join(self.args)} printed no status; stderr: {self.err.read_text()}"
        return got[-1]

    def interrupt(self, timeout: float = 10.0) -> int:
        """Ctrl-C: SIGINT, then the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def wait_until(check: Callable[[], Any], timeout: float, what: str, *alive: Bridge) -> Any:
    """Poll ``check`` (for what no wake-up announces: a file made by another process) until truthy."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        for b in alive:
            assert b.proc.poll() is None, f"{b.args} exited {b.proc.returncode}: {b.err.read_text()}"
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.05)


def open_ring(name: str, timeout: float, *alive: Bridge) -> shmring.Ring:
    """The ring ``name`` once a bridge receiver has created it."""
    def attempt() -> shmring.Ring | None:
        try:
            return shmring.Ring.open(name)
        except shmring.SegmentNotFoundError:
            return None

    ring: shmring.Ring = wait_until(attempt, timeout, f"ring {name!r} to be created", *alive)
    return ring


def ring_exists(name: str) -> bool:
    return os.path.exists(os.path.join(os.environ["SHMRING_DIR"], name))
