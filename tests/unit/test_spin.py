"""The learned spin: it stops spinning for data that comes rarely, probes now and then, and comes back."""

from __future__ import annotations

import pytest

from shmring._spin import MAX_SPIN_S, PROBE_EVERY, AdaptiveSpin, check_spin


def _miss_until_off(spin: AdaptiveSpin) -> int:
    misses = 0
    while spin.budget > 0:
        spin.learn(spin.seconds(None), caught=False)
        misses += 1
        assert misses < 50, "the budget never reached 0"
    return misses


def test_spins_that_run_out_turn_the_spin_off() -> None:
    spin = AdaptiveSpin()
    assert spin.seconds(None) == MAX_SPIN_S
    assert _miss_until_off(spin) <= 6  # 50 µs halved down to under 1/32 of it


def test_with_the_spin_off_one_wait_in_a_while_probes_the_maximum() -> None:
    spin = AdaptiveSpin()
    _miss_until_off(spin)
    asked = [spin.seconds(None) for _ in range(PROBE_EVERY * 2)]
    assert asked.count(MAX_SPIN_S) == 2 and asked.count(0.0) == PROBE_EVERY * 2 - 2, asked


def test_a_probe_that_catches_the_data_brings_the_spin_back() -> None:
    spin = AdaptiveSpin()
    _miss_until_off(spin)
    while (seconds := spin.seconds(None)) == 0:
        spin.learn(seconds, caught=False)
    spin.learn(seconds, caught=True)
    assert spin.seconds(None) == MAX_SPIN_S


def test_a_given_spin_is_used_as_is_and_teaches_nothing() -> None:
    spin = AdaptiveSpin()
    assert spin.seconds(1e-4) == 1e-4 and spin.seconds(0.0) == 0.0
    assert spin.budget == MAX_SPIN_S


@pytest.mark.parametrize("bad", [-1, "fast", True, float("nan")])
def test_a_bad_spin_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="spin must be None"):
        check_spin(bad)


def test_a_spin_that_shares_its_core_turns_spinning_off_and_probes_less_often() -> None:
    spin = AdaptiveSpin()
    spin.learn(MAX_SPIN_S, caught=True, shared=True)  # caught, but a yield ran another process first
    assert spin.budget == MAX_SPIN_S, "one such spin may be the host pausing the virtual CPU"
    spin.learn(MAX_SPIN_S, caught=True)
    spin.learn(MAX_SPIN_S, caught=True, shared=True)
    assert spin.budget == MAX_SPIN_S, "a spin on a free core in between starts the count again"
    spin.learn(MAX_SPIN_S, caught=True, shared=True)  # the second in a row
    assert spin.budget == 0
    asked = [spin.seconds(None) for _ in range(PROBE_EVERY * 4)]
    assert asked.count(MAX_SPIN_S) == 2, "probes every 2 x PROBE_EVERY waits after one such spin"
    spin.learn(MAX_SPIN_S, caught=True)  # a probe on a free core brings it back
    assert spin.budget == MAX_SPIN_S
    asked = [spin.seconds(None) for _ in range(PROBE_EVERY)]
    assert asked == [MAX_SPIN_S] * PROBE_EVERY
