"""The legacy API's checks of its caller's arguments.

A bad value or type given by the caller is the caller's mistake, not a
problem with a file or a peer, so it is a builtin TypeError or ValueError
naming the parameter, the rule and the value; nothing has been touched when
one is raised.
"""

from __future__ import annotations

import numbers
import operator

from ._format import UINT32_MAX

__all__ = ["index", "poll_seconds", "uint32", "wait_seconds"]


def index(name: str, value: object) -> int:
    """``value`` as an int (Python or numpy integer), else TypeError naming ``name``."""
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})") from None


def uint32(name: str, value: object) -> int:
    """``value`` as an int in 0..2**32-1 (a field the original stores as uint32)."""
    number = index(name, value)
    if not 0 <= number <= UINT32_MAX:
        raise ValueError(f"{name} must be a uint32 (0..{UINT32_MAX}), got {value!r}")
    return number


def _seconds(name: str, value: object) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, got {value!r} ({type(value).__name__})")
    return float(value)


def wait_seconds(name: str, value: object) -> None:
    """Refuse a wait that is neither None (forever) nor >= 0 seconds."""
    if value is not None and not _seconds(name, value) >= 0:  # `not >=` refuses NaN too
        raise ValueError(f"{name} must be >= 0 seconds or None, got {value!r}")


def poll_seconds(name: str, value: object) -> None:
    """Refuse a polling interval that is not > 0 seconds (0 would spin, < 0 cannot sleep)."""
    if not _seconds(name, value) > 0:
        raise ValueError(f"{name} must be > 0 seconds, got {value!r}")
