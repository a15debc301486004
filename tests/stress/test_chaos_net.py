"""The channel and the bridge under the chaos campaign (benchmarks/chaos), in doses CI can afford.

``python -m benchmarks.chaos --parts channel,bridge`` runs the same code at full scale; the
channel's file is fuzzed by ``test_chaos.py`` with every other layout.
"""

from __future__ import annotations

import pytest
from benchmarks.chaos import bridge_kill, channel_kill

pytestmark = pytest.mark.slow

CHANNEL_KILLS = 40
BRIDGE_KILLS = 6


def test_channel_servers_and_clients_killed_under_load_strand_no_client_and_no_slot() -> None:
    report = channel_kill.run(CHANNEL_KILLS, seed=11)
    figures = (f"{report.kills} kills {dict(report.events)}, {report.replies} replies, "
               f"{report.broken_notices} BrokenErrors, {report.wrong} wrong, {report.hangs} hangs, "
               f"{report.slots_back} slots free at the end")
    assert report.kills >= CHANNEL_KILLS, figures
    assert report.events["server: random moment"] and report.events["client: mid-request"], figures
    assert report.wrong == 0, f"a reply reached the wrong client: {figures}"
    assert report.broken_notices >= report.events["server: random moment"], figures
    assert report.slots_back == channel_kill.SLOTS, figures
    assert report.clean, "\n".join([figures, *report.problems])


@pytest.mark.parametrize("mode", ["live", "lossless"])
def test_bridge_ends_killed_mid_stream_tear_nothing_and_account_for_every_frame(mode: str) -> None:
    report = bridge_kill.run(mode, BRIDGE_KILLS, seed=11)
    figures = (f"{report.kills} kills {dict(report.events)}, {report.written} written, far verifiers "
               f"{report.verifiers}, {report.torn} torn, {report.hangs} hangs")
    assert report.kills >= BRIDGE_KILLS, figures
    assert report.torn == 0, figures
    assert report.accounted, f"received + lost != written on the far side: {figures}"
    assert all(v["received"] > 0 for v in report.verifiers), f"nothing crossed the bridge: {figures}"
    assert report.clean, "\n".join([figures, *report.problems])


def test_a_lossless_bridge_whose_receiver_is_killed_and_restarted_loses_nothing() -> None:
    report = bridge_kill.run("lossless", BRIDGE_KILLS, seed=12, events=["receiver at a random moment"])
    figures = f"{report.kills} kills, {report.written} written, far verifiers {report.verifiers}"
    assert report.kills >= BRIDGE_KILLS, figures
    assert report.clean, "\n".join([figures, *report.problems])
    assert all(v["lost"] == 0 for v in report.verifiers), f"frames lost across receiver restarts: {figures}"
