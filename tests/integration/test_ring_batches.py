"""Batched writes and reads across real processes: put_many, get_many, get_bytes under every policy."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

from _batch_children import STOP_FLAG, put_batches, put_dropping, read_batches, read_bytes
from _results import collect

import shmring

SPAWN = mp.get_context("spawn")
MESSAGES = 20_000




def _create(name: str, policy: str, slots: int = 64) -> shmring.Ring:
    return shmring.Ring.create(name, slots=slots, slot_bytes=128, meta_bytes=64, policy=policy)


def test_block_batches_reach_every_broadcast_reader_whole_and_in_order(shm_dir: Path, unique_name: str,
                                                                        spawn: Any) -> None:
    ring = _create(unique_name, "block")
    results, ready = SPAWN.Queue(), SPAWN.Queue()
    for max_n in (1, 256):
        spawn(read_batches, unique_name, MESSAGES - 1, results, ready, max_n)
    spawn(read_bytes, unique_name, MESSAGES - 1, results, ready)
    spawn(read_bytes, unique_name, MESSAGES - 1, results, ready, 100)
    collect(ready, 4, "readers attached")
    writer = spawn(put_batches, unique_name, MESSAGES)
    reports = collect(results, 4, "reader results")
    writer.join(30)
    assert writer.exitcode == 0, "the writer's put_many counts were not all as asked"
    for report in reports:
        assert report["seqs"] == list(range(MESSAGES)), "a reader missed, repeated or reordered a message"
        assert report["lost"] == 0, f"a block reader lost {report['lost']} messages"
        assert report.get("torn", 0) == 0, f"{report['torn']} messages failed their checksum"
    ring.close()


def test_overwrite_batches_count_every_message_received_or_lost(shm_dir: Path, unique_name: str,
                                                                 spawn: Any) -> None:
    ring = _create(unique_name, "overwrite", slots=16)
    results, ready = SPAWN.Queue(), SPAWN.Queue()
    spawn(read_batches, unique_name, MESSAGES - 1, results, ready, 7)
    collect(ready, 1, "reader attached")
    spawn(put_batches, unique_name, MESSAGES)
    (report,) = collect(results, 1, "reader result")
    seqs = report["seqs"]
    assert report["torn"] == 0, f"{report['torn']} messages failed their checksum"
    assert seqs == sorted(set(seqs)), "messages repeated or out of order"
    assert seqs[-1] == MESSAGES - 1
    missed = MESSAGES - len(seqs)  # the reader started before message 0
    assert report["lost"] == missed, f"reader.lost is {report['lost']}, {missed} messages never arrived"
    assert report["frame_lost"] == missed, "the frames' lost counts do not add up to the messages missed"
    ring.close()


def test_queue_readers_share_batches_each_message_exactly_once(shm_dir: Path, unique_name: str,
                                                                spawn: Any) -> None:
    ring = _create(unique_name, "block")
    results, ready = SPAWN.Queue(), SPAWN.Queue()
    for max_n in (1, 50, 256):
        spawn(read_batches, unique_name, -1, results, ready, max_n, True)
    collect(ready, 3, "queue readers attached")
    writer = spawn(put_batches, unique_name, MESSAGES)
    writer.join(90)
    assert writer.exitcode == 0, "the writer's put_many counts were not all as asked"
    reports = []
    with ring.writer() as stopper:  # one stop at a time: a batch cannot take two
        for _ in range(3):
            stopper.put(b"stop", flags=STOP_FLAG, timeout=30)
            reports += collect(results, 1, "queue reader results")
    assert sorted(s for r in reports for s in r["seqs"]) == list(range(MESSAGES)), "not every message once"
    for r in reports:
        assert r["torn"] == 0 and r["lost"] == 0, f"a queue reader reported {r}"
        assert r["seqs"] == sorted(r["seqs"]), "a queue reader saw its messages out of order"
    ring.close()


def test_drop_batches_deliver_exactly_what_put_many_says_it_published(shm_dir: Path, unique_name: str,
                                                                       spawn: Any) -> None:
    ring = _create(unique_name, "drop", slots=32)
    results, ready = SPAWN.Queue(), SPAWN.Queue()
    spawn(read_batches, unique_name, -1, results, ready, 16)
    collect(ready, 1, "reader attached")
    spawn(put_dropping, unique_name, MESSAGES // 100, results)
    first, second = collect(results, 2, "writer and reader results")
    published, report = (first, second) if isinstance(first, int) else (second, first)
    assert 0 < published <= MESSAGES
    assert report["seqs"] == list(range(published)), "the reader got other than what put_many published"
    assert report["torn"] == 0 and report["lost"] == 0, f"the drop reader reported {report}"
    ring.close()
