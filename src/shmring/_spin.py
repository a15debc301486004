"""How long a waiter busy-polls before it sleeps on a futex: a fixed time, none, or learned.

Waking a sleeping process costs a futex syscall on one side and a trip through
the scheduler on the other: tens of microseconds on a virtual machine, more
than a whole message costs. A waiter whose data comes within that time does
better to poll for it with the GIL released (docs/ring.md, "Spinning").

``spin=None`` (the default of every wait) learns: it spins up to the current
budget, starting at :data:`MAX_SPIN_S`. A spin that catches the data keeps the
budget (and doubles a smaller one); a spin that runs out halves it, down to
none, so a waiter whose data comes rarely soon stops spinning, and costs no
CPU while idle. Every :data:`PROBE_EVERY`-th wait with a budget below the
maximum spins the maximum once, to notice that data comes quickly again.

A spin shares its core with a busy process when one of the yields inside it
(every few dozen polls) gave the core to another thread for a time slice: it
took over 200 µs instead of well under one (``SPIN_SHARED``, from C). There,
spinning is what costs: the spinner waits out the other's slices
(milliseconds), where a sleeper woken by the futex would be scheduled at once.
So :data:`SHARED_IN_A_ROW` such spins one after another turn spinning off and
double the interval between probes, up to :data:`MAX_PROBE_EVERY` (one alone
may be the host pausing a virtual CPU, rarely that long but not never). A
peer on the same core that answers and then waits hands the core back within
microseconds: a spin whose yields run it is the cheapest hand-off on one core,
cheaper than the futex, and goes on. A spin that merely took long is no sign
either way: on a virtual machine the host deschedules a virtual CPU now and
then, whatever it runs, and a sleeper would have waited as long.

``SHMRING_SPIN_US`` in the environment sets :data:`MAX_SPIN_S` for the
process (``0`` turns the learned spin off); ``spin=0`` turns it off for one
call, ``spin=x`` spins exactly ``x`` seconds.
"""

from __future__ import annotations

import os


def _max_from_env() -> float:
    raw = os.environ.get("SHMRING_SPIN_US", "")
    if not raw:
        return 50e-6
    try:
        micros = float(raw)
    except ValueError:
        raise ValueError(f"SHMRING_SPIN_US must be a number of microseconds >= 0, got {raw!r}") from None
    if not 0 <= micros <= 1e6:
        raise ValueError(f"SHMRING_SPIN_US must be between 0 and 1000000 microseconds, got {raw!r}")
    return micros * 1e-6


#: The most a learned spin polls before sleeping, in seconds (``SHMRING_SPIN_US``, default 50 µs).
MAX_SPIN_S = _max_from_env()
#: A budget below this is no spin at all.
MIN_SPIN_S = MAX_SPIN_S / 32
#: One wait in this many spins the maximum even when the budget has shrunk.
PROBE_EVERY = 16
#: The longest interval between probes, after spins that lost their core.
MAX_PROBE_EVERY = 4096
#: Bit 1 of what ``Core.spin`` and ``Core.spin_room`` return (bit 0: the wait was over):
#: one of the spin's yields gave this core to another thread for a time slice.
SPIN_SHARED = 2
#: Spins in a row whose yields ran another thread before spinning stops: one alone may be a host's pause.
SHARED_IN_A_ROW = 2


def check_spin(spin: object) -> float | None:
    """``spin`` as given to a wait: None (learned) or seconds >= 0; ValueError otherwise."""
    if spin is None:
        return None
    if not isinstance(spin, (int, float)) or isinstance(spin, bool) or not spin >= 0:
        raise ValueError(f"spin must be None (learned) or >= 0 seconds, got {spin!r}")
    return float(spin)


class AdaptiveSpin:
    """The learned spin budget of one waiter (a reader, a writer's room, a client, a server)."""

    __slots__ = ("_probe_every", "_shared", "_waits", "budget")

    def __init__(self) -> None:
        self.budget = MAX_SPIN_S
        self._waits = 0
        self._probe_every = PROBE_EVERY
        self._shared = 0  # spins in a row whose yields ran another thread

    def seconds(self, spin: float | None) -> float:
        """How long to spin before this wait: ``spin`` if given, else the learned budget."""
        if spin is not None:
            return spin
        self._waits += 1
        if self.budget < MAX_SPIN_S and self._waits % self._probe_every == 0:
            return MAX_SPIN_S
        return self.budget

    def learn(self, spun: float, caught: bool, shared: bool = False) -> None:
        """Record how a learned spin of ``spun`` seconds went: it ``caught`` the data (or ran out);
        ``shared``: one of its yields ran another thread, so another process wants this core."""
        if spun <= 0:
            return
        self._shared = self._shared + 1 if shared else 0
        if self._shared >= SHARED_IN_A_ROW:  # spinning costs more than it saves on a core another process wants
            self.budget = 0.0
            self._probe_every = min(self._probe_every * 2, MAX_PROBE_EVERY)
            return
        if caught:
            self._probe_every = PROBE_EVERY
            self.budget = min(MAX_SPIN_S, max(self.budget * 2, spun))
        else:
            half = self.budget / 2
            self.budget = half if half >= MIN_SPIN_S else 0.0
