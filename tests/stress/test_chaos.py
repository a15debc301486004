"""The chaos campaign (benchmarks/chaos) in doses CI can afford: kill -9, fuzzing, a soak.

``python -m benchmarks.chaos --minutes N`` runs the same code at full scale.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import _fuzz_children as kids
import pytest
from benchmarks.chaos import fuzz, kill, legacy_kill, soak
from benchmarks.chaos.targets import LAYOUTS, OPENERS, build_seeds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requires import require_program

pytestmark = pytest.mark.slow

KILLS_PER_POLICY = 40
FUZZ_CASES = 1500
SOAK_SECONDS = 60.0  # the CI dose of the 10-minute soak


@pytest.mark.parametrize("policy", ["overwrite", "block", "drop"])
def test_kill_9_anywhere_tears_nothing_hangs_nothing_and_loses_count_of_nothing(policy: str) -> None:
    report = kill.run(policy, KILLS_PER_POLICY, seed=11)
    figures = (f"{report.kills} kills {dict(report.events)}, {report.written} written, verifiers "
               f"{report.verifiers}, {report.torn} torn, {report.hangs} hangs")
    assert report.kills >= KILLS_PER_POLICY, figures
    assert report.torn == 0 and report.hangs == 0, figures
    assert report.accounted, f"received + lost != written: {figures}"
    assert not report.problems, "\n".join([figures, *report.problems])


def test_kill_9_of_legacy_producers_and_locker_holders_loses_and_tears_nothing() -> None:
    report = legacy_kill.run(KILLS_PER_POLICY, seed=11)
    figures = f"{report.kills} kills {dict(report.events)}, consumer {report.consumer}"
    assert report.kills >= KILLS_PER_POLICY, figures
    assert report.clean, "\n".join([figures, *report.problems])
    assert report.consumer["received"] > 0, f"nothing was received: {figures}"


def _needs_compiler(opener: str) -> None:
    """The C library's openers build their program first (benchmarks/chaos/c_build.py)."""
    if opener.startswith("C "):
        require_program("cc", "gcc")
        require_program("make", "make")


@pytest.mark.parametrize(("layout", "opener"), sorted(OPENERS))
def test_mutated_files_get_only_shmring_errors_no_crash_no_hang(layout: str, opener: str) -> None:
    _needs_compiler(opener)
    report = fuzz.run(layout, opener, FUZZ_CASES, master=5)
    assert report.cases == FUZZ_CASES
    assert report.clean, (f"{report.failures} failures, {report.crashes} crashes, {report.hangs} hangs in "
                          f"{report.cases} cases:\n" + "\n".join(report.problems))
    assert report.outcomes["ok"] and report.outcomes["LayoutError"], (
        f"the cases should both open and be refused: {dict(report.outcomes)}")


_SEEDS = build_seeds()
_MUTATION = st.tuples(st.sampled_from(fuzz.KINDS), st.integers(0, 1 << 16),
                      st.one_of(st.sampled_from(fuzz.ABSURD), st.integers(0, (1 << 64) - 1)))


@pytest.mark.parametrize(("layout", "opener"), sorted(OPENERS))
def test_generated_mutations_get_only_shmring_errors(layout: str, opener: str) -> None:
    _needs_compiler(opener)
    # In-process: a crash here takes pytest down, which fails the run just as loudly.
    seeds, open_case = _SEEDS[layout], OPENERS[(layout, opener)]

    @settings(max_examples=150, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.integers(0, len(seeds) - 1), st.lists(_MUTATION, min_size=1, max_size=4))
    def check(seed_index: int, mutations: list[fuzz.Mutation]) -> None:
        data = fuzz.apply(seeds[seed_index], mutations)
        with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="chaos-hyp-") as scratch:
            old = os.environ.get("SHMRING_DIR")
            os.environ["SHMRING_DIR"] = scratch
            try:
                fuzz.run_case(open_case, Path(scratch), LAYOUTS[layout].file_name(Path(scratch)), data)
            finally:
                if old is None:
                    os.environ.pop("SHMRING_DIR")
                else:
                    os.environ["SHMRING_DIR"] = old

    check()


def test_readers_joining_and_leaving_at_full_rate_leave_resources_flat() -> None:
    report = soak.run(SOAK_SECONDS)
    figures = (f"{report.joins} joins, {report.written} frames; baseline {report.baseline}, "
               f"last {report.last}, directory entries {report.entries}")
    assert report.joins > 100 and report.written > 100, f"the soak did not run: {figures}"
    assert report.torn == 0, figures
    assert not report.problems, "\n".join([figures, *report.problems])


def test_the_fuzzer_counts_crashes_and_hangs_and_goes_on() -> None:
    """The harness itself: an opener killed by SIGBUS, or one that never returns, is counted, and the run goes on."""
    crashed = fuzz.run("legacy lock", "dies", 12, master=1, opener=kids.die_by_sigbus)
    assert crashed.crashes >= 1 and crashed.cases == 12, f"{crashed.crashes} crashes in {crashed.cases} cases"
    assert crashed.outcomes["ok"] >= 1, "the cases after a crash did not run"
    hung = fuzz.run("legacy lock", "hangs", 2, master=1, opener=kids.hang, hang_s=1.0)
    assert hung.hangs == 2 and hung.cases == 2, f"{hung.hangs} hangs in {hung.cases} cases"
