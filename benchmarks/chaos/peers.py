"""A program in another language as a fuzz opener: one request line in, one answer line out.

Starting a program per case would cost more than the case, so a :class:`Peer`
keeps one running and feeds it a line per case. When it dies of a signal or
stops answering, the case that was asked is the one to blame: :meth:`Peer.ask`
raises :class:`PeerCrashed` or :class:`PeerHung` for it (with what the program
wrote to stderr, e.g. a sanitizer's report), and the next request starts a
fresh program. The fuzzer (:mod:`fuzz`) counts these two as crashes and hangs.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

__all__ = ["Peer", "PeerCrashed", "PeerHung"]

#: The longest one request may take before the peer is a hang (below the fuzzer's own limit).
ANSWER_S = 5.0
STDERR_TAIL = 3000


class PeerCrashed(Exception):
    """The program died (a signal, or a sanitizer's abort) while handling the case."""


class PeerHung(Exception):
    """The program did not answer the case within its time."""


class Peer:
    """One running program of ``argv``, restarted after a crash or a hang."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None, answer_s: float = ANSWER_S) -> None:
        self.argv, self.env, self.answer_s = list(argv), env, answer_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr: IO[bytes] | None = None
        self.pending = b""

    def ask(self, line: str) -> str:
        """Send one request line; its answer (without the newline)."""
        proc = self.proc or self._start()
        assert proc.stdin is not None
        try:
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass  # it died on the previous request's tail: read_line reports how
        return self._read_line(proc)

    def close(self) -> None:
        """End the program (it exits at the end of its input) and forget it."""
        proc, self.proc, self.pending = self.proc, None, b""
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(self.answer_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None

    def _start(self) -> subprocess.Popen[bytes]:
        self.stderr = tempfile.NamedTemporaryFile(prefix="chaos-peer-", suffix=".stderr")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     env=self.env)
        return self.proc

    def _read_line(self, proc: subprocess.Popen[bytes]) -> str:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + self.answer_s
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                proc.kill()
                detail = self._died(proc, f"no answer within {self.answer_s} s")
                raise PeerHung(detail)
            chunk = os.read(fd, 65536)
            if not chunk:
                raise PeerCrashed(self._died(proc, None))
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode(errors="replace")

    def _died(self, proc: subprocess.Popen[bytes], why: str | None) -> str:
        """Reap the program; say how it ended and what it wrote to stderr; the next ask starts another."""
        code = proc.wait()
        if why is None:
            why = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        stderr = Path(self.stderr.name).read_bytes()[-STDERR_TAIL:] if self.stderr is not None else b""
        self.close()
        tail = stderr.decode(errors="replace").strip()
        return f"{Path(self.argv[0]).name} {why}" + (f"; its stderr ends:\n{tail}" if tail else "")
