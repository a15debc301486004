"""What a kill round reports: the events it caused and the problems it saw; for a stream, the frames' accounting.

Every round of the campaign (ring policies, the legacy queue, the channel, the
bridge) tallies its kills the same way; the rounds that stream checksummed
frames to verifiers also share the promise they check: no torn frame, no hang,
and ``received + lost == written`` exactly for every verifier.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

__all__ = ["RoundReport", "StreamReport", "kill_and_join"]

#: A round keeps this many problems' texts (the counts go on).
MAX_PROBLEMS = 30


@dataclass(kw_only=True)
class RoundReport:
    """The kills of one round, by event name, and what went wrong."""

    events: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    hangs: int = 0
    seconds: float = 0.0

    @property
    def kills(self) -> int:
        return sum(self.events.values())

    def problem(self, text: str, *, hang: bool = False) -> None:
        """Note what went wrong (``hang``: a wait that did not end, or a process that would not die)."""
        self.hangs += hang
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


@dataclass(kw_only=True)
class StreamReport(RoundReport):
    """A round whose verifiers read every frame a writer wrote (``verifiers``: their received and lost)."""

    written: int = 0
    verifiers: list[dict[str, Any]] = field(default_factory=list)
    torn: int = 0

    @property
    def accounted(self) -> bool:
        """Every verifier: received + lost == written exactly."""
        return bool(self.verifiers) and all(v["received"] + v["lost"] == self.written for v in self.verifiers)

    @property
    def clean(self) -> bool:
        return not self.problems and self.torn == 0 and self.hangs == 0 and self.accounted


def kill_and_join(proc: BaseProcess, role: str, report: RoundReport, join_s: float, *,
                  killed: bool = True) -> int | None:
    """SIGKILL ``proc`` (unless ``killed`` is False: it ends itself) and join it; its exit code.

    None, with a hang noted, when it is still alive ``join_s`` after (it is then
    killed for good). A process already gone is not an error: a fork server's child
    may be reaped before we look.
    """
    if killed:
        try:
            os.kill(proc.pid, signal.SIGKILL)  # type: ignore[arg-type]
        except ProcessLookupError:
            pass
    proc.join(join_s)
    if proc.is_alive():
        report.problem(f"{role} still alive {join_s} s after SIGKILL", hang=True)
        proc.kill()
        proc.join(join_s)
        return None
    return proc.exitcode
