"""The chaos campaign against libshmring in CI doses: kill -9 of C processes, the sanitized C build fuzzed.

The plain C build's openers are rows of ``targets.OPENERS``, so ``test_chaos.py``
fuzzes them with every other opener; this file adds the sanitized build, the C
victims of the kill rounds, and checks of the harness that runs C programs.
"""

from __future__ import annotations

from pathlib import Path

import _misbehaving_peers as kids
import pytest
from benchmarks.chaos import c_kill, c_targets, fuzz
from benchmarks.chaos.targets import build_seeds
from requires import require_program

import shmring

pytestmark = pytest.mark.slow

KILLS_PER_POLICY = 35
FUZZ_CASES = 1500


@pytest.fixture(autouse=True)
def _compiler() -> None:
    require_program("cc", "gcc")
    require_program("make", "make")


@pytest.mark.parametrize("policy", ["overwrite", "block", "drop"])
def test_kill_9_of_c_writers_and_readers_tears_nothing_and_loses_count_of_nothing(policy: str) -> None:
    report = c_kill.run(policy, KILLS_PER_POLICY, seed=13)
    figures = (f"{report.kills} kills {dict(report.events)}, {report.written} written, verifiers "
               f"{report.verifiers}, {report.torn} torn, {report.hangs} hangs")
    assert report.kills >= KILLS_PER_POLICY, figures
    assert any(event.startswith("C ") for event in report.events), figures
    assert report.torn == 0 and report.hangs == 0, figures
    assert report.accounted, f"received + lost != written: {figures}"
    assert not report.problems, "\n".join([figures, *report.problems])


@pytest.mark.parametrize(("layout", "opener"), sorted(c_targets.SANITIZED_OPENERS))
def test_mutated_files_give_the_sanitized_c_library_no_memory_error(layout: str, opener: str) -> None:
    report = fuzz.run(layout, opener, FUZZ_CASES, master=5, opener=c_targets.SANITIZED_OPENERS[(layout, opener)])
    assert report.cases == FUZZ_CASES
    assert report.clean, (f"{report.failures} failures, {report.crashes} crashes, {report.hangs} hangs in "
                          f"{report.cases} cases:\n" + "\n".join(report.problems))
    assert report.outcomes["ok"] and report.outcomes["LayoutError"], (
        f"the cases should both open and be refused: {dict(report.outcomes)}")


def test_a_peer_crash_or_hang_is_pinned_to_its_case_and_the_run_goes_on() -> None:
    seeds = build_seeds()["legacy lock"]
    cases = [fuzz.case_bytes(seeds, 1, index)[0] for index in range(40)]
    crashing = {i for i, data in enumerate(cases) if kids.crashes_on(data)}
    hanging = {i for i, data in enumerate(cases) if kids.hangs_on(data)}
    assert crashing and hanging and len(crashing | hanging) < 40, "the chosen cases must show all three outcomes"
    report = fuzz.run("legacy lock", "misbehaving peer", 40, master=1, opener=kids.ask_misbehaving_peer)
    blamed = {kind: {int(p.split(" in case ")[1].split()[0]) for p in report.problems if p.startswith(kind)}
              for kind in ("crash", "hang")}
    assert blamed == {"crash": crashing, "hang": hanging}, f"{blamed}; {report.problems}"
    assert report.cases == 40 and report.outcomes["ok"] == 40 - len(crashing | hanging), dict(report.outcomes)
    assert "killed by SIGSEGV" in next(p for p in report.problems if p.startswith("crash"))


def test_a_verdict_c_and_python_disagree_on_is_a_finding(tmp_path: Path) -> None:
    accepted = c_targets.Answer(open_rc=0, broken=False, layout=False, calls=9, odd="")
    refused = c_targets.Answer(open_rc=-4, broken=False, layout=False, calls=1, odd="")
    with pytest.raises(c_targets.VerdictMismatch, match="Python's open refuses: LayoutError, C's returns 0"):
        c_targets.compare_verdicts(tmp_path, shmring.LayoutError, accepted)
    with pytest.raises(c_targets.VerdictMismatch, match="Python's open accepts, C's returns -4"):
        c_targets.compare_verdicts(tmp_path, None, refused)
    with pytest.raises(c_targets.VerdictMismatch, match="refuses: SegmentPermissionError"):
        c_targets.compare_verdicts(tmp_path, shmring.SegmentPermissionError, refused)
    c_targets.compare_verdicts(tmp_path, shmring.LayoutError, refused)
