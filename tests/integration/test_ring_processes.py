"""The native ring across real processes: delivery, loss accounting, queue mode, crashes."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from _results import collect
from _ring_children import (
    FRAME_WORDS,
    attach_and_idle,
    consume_queue,
    die_inside_reserve,
    frame_for,
    intact,
    read_all,
    write_frames,
)

import shmring

#: Fresh interpreters: nothing inherited by fork can blur what a test shows.
SPAWN = mp.get_context("spawn")

FRAMES = 10_000




def _create(name: str, policy: str, slots: int = 8) -> shmring.Ring:
    return shmring.Ring.create(name, slots=slots, slot_bytes=FRAME_WORDS * 4, meta_bytes=256, policy=policy)


def test_block_policy_every_reader_gets_every_frame_in_order(shm_dir: Path, unique_name: str, spawn: Any) -> None:
    ring = _create(unique_name, "block")
    results, ready = SPAWN.Queue(), SPAWN.Queue()
    for _ in range(3):
        spawn(read_all, unique_name, FRAMES, results, ready)
    collect(ready, 3, "readers attached")
    writer = spawn(write_frames, unique_name, FRAMES)
    reports = collect(results, 3, "reader results")
    writer.join(30)
    assert writer.exitcode == 0
    for report in reports:
        assert report == {"received": FRAMES, "lost": 0, "torn": 0, "in_order": True}
    ring.close()


def test_overwrite_policy_slow_reader_accounts_every_frame(shm_dir: Path, unique_name: str, spawn: Any) -> None:
    ring = _create(unique_name, "overwrite")
    results, ready = SPAWN.Queue(), SPAWN.Queue()
    spawn(read_all, unique_name, FRAMES, results, ready, "next", 0.0002)
    collect(ready, 1, "readers attached")
    spawn(write_frames, unique_name, FRAMES)
    (report,) = collect(results, 1, "reader results")
    assert report["torn"] == 0
    assert report["in_order"]
    assert report["received"] + report["lost"] == FRAMES
    assert report["lost"] > 0, "the slow reader was expected to be lapped at least once"
    ring.close()


def test_queue_mode_delivers_each_frame_exactly_once(shm_dir: Path, unique_name: str, spawn: Any) -> None:
    ring = _create(unique_name, "block")
    results, ready = SPAWN.Queue(), SPAWN.Queue()
    for _ in range(3):
        spawn(consume_queue, unique_name, results, ready)
    collect(ready, 3, "queue readers attached")
    spawn(write_frames, unique_name, FRAMES, 3)
    reports = collect(results, 3, "queue reader results")
    seqs = sorted(s for r in reports for s in r["seqs"])
    assert seqs == list(range(FRAMES)), "every frame exactly once"
    assert all(r["torn"] == 0 and r["lost"] == 0 for r in reports)
    for r in reports:
        assert r["seqs"] == sorted(r["seqs"]), "each consumer sees its frames in FIFO order"
    ring.close()


def test_writer_killed_inside_reserve_publishes_nothing(shm_dir: Path, unique_name: str, spawn: Any) -> None:
    ring = _create(unique_name, "overwrite")
    reader = ring.reader()
    ready = SPAWN.Queue()
    child = spawn(die_inside_reserve, unique_name, 5, ready)
    collect(ready, 1, "writer inside reserve()")
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    got = [reader.get(timeout=5).seq for _ in range(5)]
    assert got == [0, 1, 2, 3, 4]
    assert reader.try_get() is None, "the half-written frame must never be seen"
    with ring.writer() as writer:  # the kernel released the dead writer's lock
        assert writer.put(frame_for(5)) == 5
    frame = reader.get(timeout=5)
    assert frame.seq == 5 and intact(frame)
    ring.close()


def test_reader_killed_under_block_releases_the_writer(shm_dir: Path, unique_name: str, spawn: Any) -> None:
    ring = _create(unique_name, "block", slots=4)
    ready = SPAWN.Queue()
    child = spawn(attach_and_idle, unique_name, ready)
    collect(ready, 1, "idle reader attached")
    writer = ring.writer()
    for seq in range(4):
        assert writer.put(frame_for(seq), timeout=1) == seq
    with pytest.raises(shmring.WaitTimeout, match="stayed full"):
        writer.put(frame_for(4), timeout=0.2)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert writer.put(frame_for(4), timeout=5) == 4, "the dead reader must be reaped"
    assert ring.readers() == [], "the writer frees the dead reader's entry"
    ring.close()


def test_get_timeout_on_idle_ring_sleeps_without_burning_cpu(shm_dir: Path, unique_name: str) -> None:
    ring = _create(unique_name, "overwrite")
    reader = ring.reader()
    wall0, cpu0 = time.monotonic(), time.process_time()
    with pytest.raises(shmring.WaitTimeout, match="no frame on ring"):
        reader.get(timeout=0.2)
    wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    assert 0.2 <= wall < 2.0, f"get(timeout=0.2) returned after {wall:.3f} s"
    assert cpu < 0.1 * wall, f"waiting used {cpu:.4f} s of CPU in {wall:.3f} s"
    ring.close()


def test_waiting_reader_is_woken_by_a_put_from_another_process(shm_dir: Path, unique_name: str,
                                                                spawn: Any) -> None:
    ring = _create(unique_name, "overwrite")
    reader = ring.reader()
    spawn(write_frames, unique_name, 1)
    frame = reader.get(timeout=30)
    assert frame.seq == 0 and intact(frame)
    ring.close()


def test_second_exclusive_writer_is_refused_until_the_first_dies(shm_dir: Path, unique_name: str,
                                                                 spawn: Any) -> None:
    from _ring_children import hold_writer

    ring = _create(unique_name, "overwrite")
    ready = SPAWN.Queue()
    child = spawn(hold_writer, unique_name, ready)
    collect(ready, 1, "writer attached")
    assert ring.info().writer_alive is True
    with pytest.raises(shmring.WouldBlock, match="already has a live writer"):
        ring.writer()
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert ring.info().writer_alive is False
    ring.writer().close()
    ring.close()


def test_views_pin_their_slot_under_block(shm_dir: Path, unique_name: str) -> None:
    ring = _create(unique_name, "block", slots=2)
    writer, reader = ring.writer(), ring.reader()
    writer.put(frame_for(0))
    view = reader.get(view=True)
    writer.put(frame_for(1))
    with pytest.raises(shmring.WaitTimeout):
        writer.put(frame_for(2), timeout=0.1)  # would overwrite the viewed slot
    assert intact(view) and not view.data.flags.writeable
    view.release()
    reader.get()
    assert writer.put(frame_for(2), timeout=1) == 2
    ring.close()


def test_view_under_overwrite_reports_when_it_was_overwritten(shm_dir: Path, unique_name: str) -> None:
    ring = _create(unique_name, "overwrite", slots=2)
    writer, reader = ring.writer(), ring.reader()
    writer.put(frame_for(0))
    view = reader.get(view=True)
    assert view.valid()
    writer.put(frame_for(1))
    writer.put(frame_for(2))  # reuses frame 0's slot
    assert not view.valid()
    view.release()
    with pytest.raises(shmring.ClosedError, match="released"):
        _ = view.data
    ring.close()


def test_many_attach_and_close_cycles_leak_no_descriptors_or_mappings(shm_dir: Path, unique_name: str) -> None:
    rings = [_create(f"{unique_name}-{i}", "overwrite") for i in range(2)]

    def census() -> tuple[int, int]:
        return len(os.listdir("/proc/self/fd")), len(Path("/proc/self/maps").read_text().splitlines())

    def cycle() -> None:
        for i in range(2):
            with shmring.Ring.open(f"{unique_name}-{i}") as ring:
                with ring.writer(shared=True) as w, ring.reader() as r1, ring.reader(queue=True) as r2:
                    w.put(frame_for(1))
                    r1.get(timeout=1)
                    r2.get(timeout=1)
                with ring.reader() as r3:
                    r3.try_get()

    cycle()
    before = census()
    for _ in range(100):
        cycle()
    assert census() == before
    for ring in rings:
        ring.close()


def test_shared_writers_in_two_processes_never_collide(shm_dir: Path, unique_name: str, spawn: Any) -> None:
    from _ring_children import write_shared

    ring = _create(unique_name, "block")
    reader = ring.reader()
    ready, go = SPAWN.Queue(), SPAWN.Event()
    for writer_id in (1, 2):
        spawn(write_shared, unique_name, writer_id, 3000, ready, go)
    collect(ready, 2, "shared writers attached")
    go.set()
    seen: dict[int, list[int]] = {1: [], 2: []}
    for expected_seq in range(6000):
        frame = reader.get(timeout=30)
        assert frame.seq == expected_seq
        word = int(frame.data[0])
        assert (frame.data == word).all(), f"frame {frame.seq} mixes two writers' data"
        seen[word >> 24].append(word & 0xFFFFFF)
    assert seen == {1: list(range(3000)), 2: list(range(3000))}
    ring.close()


def test_spin_then_block_reader_gets_a_frame_from_another_process(shm_dir: Path, unique_name: str,
                                                                  spawn: Any) -> None:
    from _ring_children import spin_reader

    ring = _create(unique_name, "overwrite")
    results, ready = SPAWN.Queue(), SPAWN.Queue()
    spawn(spin_reader, unique_name, results, ready)
    collect(ready, 1, "spinning reader attached")
    with ring.writer() as writer:
        writer.put(frame_for(0))
    assert collect(results, 1, "spin reader result") == [(0, True)]
    ring.close()


# fork() in a threaded test process warns on newer Pythons; these children only touch the ring.
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_fork_child_that_opens_the_ring_anew_works(shm_dir: Path, unique_name: str) -> None:
    ring = _create(unique_name, "overwrite")
    reader = ring.reader()
    pid = os.fork()
    if pid == 0:  # the child: inherited handles are refused, a fresh open works
        try:
            with shmring.Ring.open(unique_name) as own, own.writer() as writer:
                writer.put(frame_for(0))
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    frame = reader.get(timeout=5)
    assert frame.seq == 0 and intact(frame)
    ring.close()
