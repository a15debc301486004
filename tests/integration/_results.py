"""Reading what spawned children report, with a bound on every wait."""

from __future__ import annotations

import queue
from typing import Any

import pytest


def collect(q: Any, n: int, what: str, timeout: float = 90.0) -> list[Any]:
    """``n`` results from the queue ``q``; fail, naming how many came, if one takes over ``timeout`` s."""
    out = []
    for i in range(n):
        try:
            out.append(q.get(timeout=timeout))
        except queue.Empty:
            pytest.fail(f"only {i} of {n} {what} reported within {timeout} s")
    return out
