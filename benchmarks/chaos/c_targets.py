"""The C library under the fuzzer's cases: openers that hand each file to libshmring.

The program ``benchmarks/chaos/c/open_files.c`` does with a file what a C user
does (``shmring_open``, sizes and keywords, a reader copying every frame with
timeout 0, a view, a queue reader, a writer's ``shmring_put`` and
``reserve``/``commit``; for a legacy queue ``shmring_legacy_open``, its header,
draining ``get`` and a ``put``). It runs once per fuzz child and answers a line
per case (:mod:`peers`), so a crash or a hang is pinned to the case that caused it.

Each opener also opens the same bytes with Python first, and the two verdicts at
open must agree: both accept, or both refuse for the same reason (a
:class:`VerdictMismatch` otherwise, which the fuzzer saves as a failing case).
A C call returning a code its header does not document for it, or a leak seen
by the sanitized build, is an :class:`UnexpectedReturn`. What C refused is
raised as the Python error of the same meaning, so outcomes count alike.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import shmring
from shmring.legacy import _format as LF

from . import c_build
from .peers import Peer

__all__ = ["C_OPENERS", "SANITIZED_OPENERS", "Answer", "UnexpectedReturn", "VerdictMismatch", "compare_verdicts",
           "open_legacy_c", "open_legacy_c_sanitized",
           "open_legacy_lock_c", "open_legacy_lock_c_sanitized", "open_ring_c", "open_ring_c_sanitized"]

#: SHMRING_E* codes (c/include/shmring.h) and the Python error of the same meaning.
ERROR_OF_CODE: dict[int, type[shmring.ShmringError]] = {
    -1: shmring.WaitTimeout, -2: shmring.WouldBlock, -3: shmring.FrameError, -4: shmring.LayoutError,
    -5: shmring.SegmentNotFoundError, -6: shmring.SegmentExistsError, -7: shmring.SegmentPermissionError,
    -8: shmring.BrokenError, -9: shmring.NoSpaceError, -11: shmring.FrameError, -12: shmring.ReaderTableFullError,
}


class VerdictMismatch(AssertionError):
    """Python and C disagree whether (or why) a file may be opened."""


class UnexpectedReturn(AssertionError):
    """A libshmring call returned what its documentation does not allow, or leaked memory."""


@dataclass(frozen=True)
class Answer:
    """One line of open_files: the open's code, what later calls met, and odd returns."""

    open_rc: int
    broken: bool
    layout: bool
    calls: int
    odd: str

    @classmethod
    def parse(cls, line: str) -> Answer:
        words = line.split()
        if len(words) < 8 or words[0:8:2] != ["open", "broken", "layout", "calls"]:
            raise UnexpectedReturn(f"open_files answered {line!r}")
        return cls(int(words[1]), words[3] == "1", words[5] == "1", int(words[7]), " ".join(words[8:]))


_PEERS: dict[bool, Peer] = {}


def _peer(sanitize: bool) -> Peer:
    if sanitize not in _PEERS:
        exe = c_build.program("open_files", sanitize=sanitize)
        _PEERS[sanitize] = Peer([str(exe)], env=c_build.sanitizer_env() if sanitize else None)
        atexit.register(_PEERS[sanitize].close)
    return _PEERS[sanitize]


def _python_verdict(open_file: Callable[[Path], object], path: Path) -> type[shmring.ShmringError] | None:
    """The error class Python's open refuses ``path`` with, or None when it opens it."""
    try:
        handle = open_file(path)
    except shmring.ShmringError as err:
        return type(err)
    handle.close()  # type: ignore[attr-defined]
    return None


def _ask(kind: str, path: Path, sanitize: bool) -> Answer:
    peer = _peer(sanitize)
    answer = Answer.parse(peer.ask(f"{kind}\t{os.environ.get('SHMRING_DIR', path.parent)}\t{path}"))
    if answer.odd:
        peer.close()  # a leak stays reported by every later check: start clean
        raise UnexpectedReturn(f"libshmring on {path}: {answer.odd}")
    return answer


def compare_verdicts(path: Path, python: type[shmring.ShmringError] | None, answer: Answer) -> None:
    c = None if answer.open_rc == 0 else ERROR_OF_CODE.get(answer.open_rc, shmring.ShmringError)
    if python is not c:
        raise VerdictMismatch(f"{path}: Python's open {'accepts' if python is None else 'refuses: ' + python.__name__}"
                              f", C's returns {answer.open_rc} ({'accepts' if c is None else c.__name__})")


def _outcome(path: Path, answer: Answer) -> None:
    """Raise what C's answer means, as the Python error of the same meaning (nothing when all went well)."""
    if answer.open_rc:
        raise ERROR_OF_CODE.get(answer.open_rc, shmring.ShmringError)(f"C refused {path}: code {answer.open_rc}")
    if answer.broken:
        raise shmring.BrokenError(f"C met a corrupt slot in {path}")
    if answer.layout:
        raise shmring.LayoutError(f"C refused {path} after open")


def _ring(path: Path, sanitize: bool) -> None:
    python = _python_verdict(shmring.Ring.open, path)
    answer = _ask("ring", path, sanitize)
    compare_verdicts(path, python, answer)
    _outcome(path, answer)


def _legacy(path: Path, sanitize: bool) -> None:
    python = _python_verdict(shmring.legacy.SharedMem.open, path)
    answer = _ask("legacy", path, sanitize)
    compare_verdicts(path, python, answer)
    _outcome(path, answer)


def _legacy_lock(lock_file: Path, sanitize: bool) -> None:
    """A fresh queue whose lock file is the mutated one; only C's use of it reads the lock (no verdict to compare)."""
    queue = lock_file.parent / "case"
    if not queue.exists():
        queue.write_bytes(LF.new_header(8, 2) + bytes(LF.memsize(8, 2) - LF.MEM_HEADER.size))
    _outcome(queue, _ask("legacy", queue, sanitize))


def open_ring_c(path: Path) -> None:
    """libshmring opens and uses ``path`` as a ring."""
    _ring(path, False)


def open_ring_c_sanitized(path: Path) -> None:
    """The same, with libshmring and the program built with ASan and UBSan."""
    _ring(path, True)


def open_legacy_c(path: Path) -> None:
    """libshmring opens and uses ``path`` as a legacy queue."""
    _legacy(path, False)


def open_legacy_c_sanitized(path: Path) -> None:
    _legacy(path, True)


def open_legacy_lock_c(path: Path) -> None:
    """libshmring uses a legacy queue whose lock file is ``path``."""
    _legacy_lock(path, False)


def open_legacy_lock_c_sanitized(path: Path) -> None:
    _legacy_lock(path, True)


#: The C rows of targets.OPENERS (the sanitized openers run in tests/stress, not in the campaign).
C_OPENERS: dict[tuple[str, str], Callable[[Path], None]] = {
    ("ring header", "C shmring_open"): open_ring_c,
    ("ring slots", "C shmring_open"): open_ring_c,
    ("legacy header", "C shmring_legacy_open"): open_legacy_c,
    ("legacy lock", "C shmring_legacy_open"): open_legacy_lock_c,
}

#: The same rows, each opener built with the sanitizers.
SANITIZED_OPENERS: dict[tuple[str, str], Callable[[Path], None]] = {
    ("ring header", "C shmring_open, sanitized"): open_ring_c_sanitized,
    ("ring slots", "C shmring_open, sanitized"): open_ring_c_sanitized,
    ("legacy header", "C shmring_legacy_open, sanitized"): open_legacy_c_sanitized,
    ("legacy lock", "C shmring_legacy_open, sanitized"): open_legacy_lock_c_sanitized,
}
