"""What a kill round reports: the events it caused and the problems it saw; for a stream, the frames' accounting.

Every round of the campaign (ring policies, the legacy queue, the channel, the
bridge) tallies its kills the same way; the rounds that stream checksummed
frames to verifiers also share the promise they check: no torn frame, no hang,
and ``received + lost == written`` exactly for every verifier.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RoundReport", "StreamReport"]


@dataclass(kw_only=True)
class RoundReport:
    """The kills of one round, by event name, and what went wrong."""

    events: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def kills(self) -> int:
        return sum(self.events.values())


@dataclass(kw_only=True)
class StreamReport(RoundReport):
    """A round whose verifiers read every frame a writer wrote (``verifiers``: their received and lost)."""

    written: int = 0
    verifiers: list[dict[str, Any]] = field(default_factory=list)
    torn: int = 0
    hangs: int = 0

    @property
    def accounted(self) -> bool:
        """Every verifier: received + lost == written exactly."""
        return bool(self.verifiers) and all(v["received"] + v["lost"] == self.written for v in self.verifiers)

    @property
    def clean(self) -> bool:
        return not self.problems and self.torn == 0 and self.hangs == 0 and self.accounted
