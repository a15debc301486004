"""``shmring bridge send`` -> ``recv`` -> a local Reader, as real processes over 127.0.0.1."""

from __future__ import annotations

import itertools
import multiprocessing as mp
import zlib
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

import numpy as np
from _bridge_children import TAIL, camera, checksum_ok, run_recv, run_send
from bridge_helpers import Bridge, free_port, open_ring, wait_until

import shmring
from shmring.bridge import SOURCE_TIME_KEY

MIB = 1 << 20
SPAWN = mp.get_context("spawn")
EXIT_INTERRUPTED = 130


def _pair(bridges: Callable[..., Bridge], cam: str, far: str, *mode: str) -> tuple[Bridge, Bridge, str]:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    sender = bridges("send", "send", cam, "--bind", endpoint, *mode)
    receiver = bridges("recv", "recv", endpoint, "--into", far, *mode)
    return sender, receiver, endpoint


def _read_chain(reader: shmring.Reader, until: Callable[[shmring.Frame], bool], timeout: float = 30.0
                ) -> list[shmring.Frame]:
    """Frames up to the first one ``until`` accepts; each checked intact and numbered without a hole."""
    frames: list[shmring.Frame] = []
    while True:
        f = reader.get(timeout=timeout)
        assert checksum_ok(f), f"frame {f.seq} arrived torn or mixed up (checksum mismatch)"
        if frames:
            assert f.seq == frames[-1].seq + f.lost + 1, (
                f"frame {f.seq} follows {frames[-1].seq} but reports lost={f.lost}: the count is not exact")
        frames.append(f)
        if until(f):
            return frames


def test_lossless_2000_frames_of_1mib_arrive_intact_in_order(
        shm_dir: Path, unique_name: str, bridges: Callable[..., Bridge], spawn: Callable[..., BaseProcess]) -> None:
    count = 2000
    cam, far = f"{unique_name}-cam", f"{unique_name}-far"
    with shmring.Ring.create(cam, slots=8, slot_bytes=MIB, policy="block"):
        sender, receiver, _ = _pair(bridges, cam, far, "--lossless")
        with open_ring(far, 20, sender, receiver) as ring, ring.reader() as reader:
            assert ring.policy == "block" and ring.slots == 8 and ring.slot_bytes == MIB
            writer = spawn(camera, cam, count, MIB)
            frames = _read_chain(reader, lambda f: f.seq == count - 1, timeout=60)
            writer.join(30)
        assert [f.seq for f in frames] == list(range(count)), "lossless mode must deliver every frame in order"
        assert reader.lost == 0 and writer.exitcode == 0
        assert sender.interrupt() == EXIT_INTERRUPTED, "Ctrl-C must end `bridge send` with 130"
        assert receiver.interrupt() == EXIT_INTERRUPTED, "Ctrl-C must end `bridge recv` with 130"
        last = receiver.last()
        assert (last["received"], last["lost"], last["dropped_total"]) == (count, 0, 0), last


def test_a_full_drop_ring_drops_and_counts_frames_and_then_receives_again(
        shm_dir: Path, unique_name: str, bridges: Callable[..., Bridge], spawn: Callable[..., BaseProcess]) -> None:
    count, nbytes = 40, 64 << 10
    cam, far = f"{unique_name}-cam", f"{unique_name}-far"
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with shmring.Ring.create(cam, slots=8, slot_bytes=nbytes, policy="block"):
        sender = bridges("send", "send", cam, "--bind", endpoint, "--lossless")
        receiver = bridges("recv", "recv", endpoint, "--into", far, "--lossless", "--policy", "drop")
        with open_ring(far, 20, sender, receiver) as ring, ring.reader() as reader:  # a reader that waits
            assert ring.policy == "drop"
            first = spawn(camera, cam, count, nbytes)
            first.join(30)

            def all_accounted() -> bool:
                s = receiver.samples() and receiver.last()
                return bool(s) and s["received"] + s["dropped"].get("local ring full", 0) == count

            wait_until(all_accounted, 20, f"the receiver to write or drop all {count} frames", receiver)
            assert receiver.last()["received"] == ring.slots, "the ring holds what its reader has not read"
            kept = [reader.get(timeout=5) for _ in range(ring.slots)]
            assert reader.try_get() is None
            # room again: the receiver, still up, writes the next frames right after the kept ones
            second = spawn(camera, cam, 3, nbytes)
            later = [reader.get(timeout=20) for _ in range(3)]
            second.join(30)
    assert [int(f.data.view(np.uint64)[0]) for f in kept + later] == [*range(ring.slots), 0, 1, 2]
    assert [f.seq for f in kept + later] == list(range(ring.slots + 3)), "a dropped frame takes no seq"
    assert all(f.lost == 0 for f in kept + later) and reader.lost == 0
    assert all(zlib.crc32(f.data.view(np.uint64)[1:]) == f.meta["CRC"] for f in kept + later), "a frame arrived torn"


def test_live_slow_reader_accounts_for_every_frame(
        shm_dir: Path, unique_name: str, bridges: Callable[..., Bridge], spawn: Callable[..., BaseProcess]) -> None:
    count = 2000
    cam, far = f"{unique_name}-cam", f"{unique_name}-far"
    with shmring.Ring.create(cam, slots=8, slot_bytes=MIB):
        sender, receiver, _ = _pair(bridges, cam, far)
        tail = SPAWN.Event()
        with open_ring(far, 20, sender, receiver) as ring, ring.reader() as reader:
            writer = spawn(camera, cam, count, MIB, tail)
            frames: list[shmring.Frame] = []
            try:
                frames = _read_chain(reader, lambda f: f.flags == TAIL or _slowly(), timeout=30)
            finally:
                tail.set()
                writer.join(30)
        counted = [f for f in frames if f.seq < count]
        lost_in_count = sum(f.lost for f in counted) + min(frames[-1].lost, count - 1 - counted[-1].seq)
        assert len(counted) + lost_in_count == count, (
            f"received {len(counted)} + lost {lost_in_count} != sent {count}")
        assert lost_in_count > 0, "a slow reader in live mode should have lost frames (latest wins)"


def _slowly() -> bool:
    import time

    time.sleep(0.003)  # a deliberately slow consumer (work per frame), not a wait for anything
    return False


def _frames_after(reader: shmring.Reader, n: int) -> list[shmring.Frame]:
    got: list[shmring.Frame] = []
    return _read_chain(reader, lambda f: got.append(f) is None and len(got) >= n, timeout=30)


def _frames_until(reader: shmring.Reader, seq: int) -> list[shmring.Frame]:
    """Frames up to the first one numbered ``seq`` or later (and a few more)."""
    frames = _read_chain(reader, lambda f: f.seq >= seq, timeout=30)
    return frames + _frames_after(reader, 5)


def test_sender_and_receiver_killed_and_restarted_recover_and_report_losses(
        shm_dir: Path, unique_name: str, bridges: Callable[..., Bridge], spawn: Callable[..., BaseProcess]) -> None:
    cam, far = f"{unique_name}-cam", f"{unique_name}-far"
    with shmring.Ring.create(cam, slots=16, slot_bytes=64 << 10) as cam_ring:
        sender, receiver, endpoint = _pair(bridges, cam, far)
        stop = SPAWN.Event()
        with open_ring(far, 20, sender, receiver) as ring, ring.reader() as reader:
            writer = spawn(camera, cam, 0, 64 << 10, stop, 200.0)
            try:
                before = _frames_after(reader, 20)
                sender.kill()
                # Everything the camera writes from now on until the new sender runs is lost.
                first_missed = cam_ring.info().write_seq
                sender = bridges("send", "send", cam, "--bind", endpoint)
                after_sender = _frames_until(reader, first_missed)
                receiver.kill()
                first_unwritten = ring.info().write_seq  # what the dead receiver never wrote
                receiver = bridges("recv", "recv", endpoint, "--into", far)
                after_receiver = _frames_until(reader, first_unwritten)
            finally:
                stop.set()
                writer.join(30)
        chain = before + after_sender + after_receiver
        for a, b in itertools.pairwise(chain):
            assert b.seq == a.seq + b.lost + 1, f"frame {b.seq} after {a.seq} reports lost={b.lost} across a restart"
        resumed = next(f for f in after_sender if f.seq >= first_missed)
        assert resumed.lost > 0, f"frames the camera wrote while the sender was down must show as lost: {resumed}"
        rewritten = next(f for f in after_receiver if f.seq >= first_unwritten)
        assert rewritten.lost > 0, f"frames sent while the receiver was down must show as lost: {rewritten}"
        assert reader.lost == sum(f.lost for f in chain[1:])


def test_lossless_receiver_killed_and_restarted_loses_nothing(
        shm_dir: Path, unique_name: str, bridges: Callable[..., Bridge], spawn: Callable[..., BaseProcess]) -> None:
    count = 600
    cam, far = f"{unique_name}-cam", f"{unique_name}-far"
    with shmring.Ring.create(cam, slots=8, slot_bytes=256 << 10, policy="block"):
        sender, receiver, endpoint = _pair(bridges, cam, far, "--lossless")
        with open_ring(far, 20, sender, receiver) as ring, ring.reader() as reader:
            writer = spawn(camera, cam, count, 256 << 10)
            first = _read_chain(reader, lambda f: f.seq >= 100)
            receiver.kill()
            receiver = bridges("recv", "recv", endpoint, "--into", far, "--lossless")
            rest = _read_chain(reader, lambda f: f.seq == count - 1, timeout=60)
            writer.join(30)
        seqs = [f.seq for f in first + rest]
        missing = sorted(set(range(count)) - set(seqs))
        assert seqs == list(range(count)), f"lossless across a receiver restart: missing {missing}"
        assert reader.lost == 0
        assert sender.proc.poll() is None, "the sender must survive its receiver's death"


def test_live_from_a_block_ring_sends_from_the_slot_and_keeps_every_frame_intact(
        shm_dir: Path, unique_name: str, bridges: Callable[..., Bridge], spawn: Callable[..., BaseProcess]) -> None:
    count = 300
    cam, far = f"{unique_name}-cam", f"{unique_name}-far"
    with shmring.Ring.create(cam, slots=4, slot_bytes=256 << 10, policy="block"):
        sender, receiver, _ = _pair(bridges, cam, far)
        tail = SPAWN.Event()
        with open_ring(far, 20, sender, receiver) as ring, ring.reader() as reader:
            writer = spawn(camera, cam, count, 256 << 10, tail)
            try:
                frames = _read_chain(reader, lambda f: f.flags == TAIL, timeout=30)
            finally:
                tail.set()
                writer.join(30)
        counted = [f for f in frames if f.seq < count]
        lost = sum(f.lost for f in counted) + min(frames[-1].lost, count - 1 - counted[-1].seq)
        assert len(counted) + lost == count, f"received {len(counted)} + lost {lost} != sent {count}"
        assert sender.last()["copy"] is False, "under block the sender must send from the slot, not a copy"


def test_the_python_api_relays_data_flags_metadata_and_the_source_timestamp(
        shm_dir: Path, unique_name: str, spawn: Callable[..., BaseProcess]) -> None:
    cam, far = f"{unique_name}-cam", f"{unique_name}-far"
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with shmring.Ring.create(cam, slots=8, slot_bytes=4096, dtype=np.int16, shape=(4, 8)) as source:
        procs = [spawn(run_send, cam, endpoint, 30.0), spawn(run_recv, endpoint, far, 30.0)]
        with open_ring(far, 20) as ring, ring.reader() as reader, source.reader() as local, source.writer() as w:
            assert (ring.dtype, ring.shape) == (np.dtype(np.int16), (4, 8)), "the fixed schema must cross over"
            data = np.arange(32, dtype=np.int16).reshape(4, 8)
            w.put(data, meta={"EXPTIME": 1.5, "OBJECT": "M31"}, flags=2)
            far_frame, cam_frame = reader.get(timeout=20), local.get(timeout=5)
        assert np.array_equal(far_frame.data, data) and far_frame.data.dtype == np.int16
        assert (far_frame.seq, far_frame.flags) == (cam_frame.seq, 2)
        assert far_frame.meta == {"EXPTIME": 1.5, "OBJECT": "M31", SOURCE_TIME_KEY: cam_frame.timestamp_ns}
        for p in procs:
            p.terminate()



def test_a_recreated_sender_ring_is_followed_and_its_new_numbering_counted_as_a_restart(
        shm_dir: Path, unique_name: str, bridges: Callable[..., Bridge]) -> None:
    cam, far = f"{unique_name}-cam", f"{unique_name}-far"
    first = shmring.Ring.create(cam, slots=8, slot_bytes=4096)
    sender, receiver, _ = _pair(bridges, cam, far)
    with open_ring(far, 20, sender, receiver) as ring, ring.reader() as reader:
        before = []
        with first.writer() as w:
            for i in range(10):  # in step: live mode drops what a burst puts above the high-water marks
                w.put(np.full(16, i, np.uint8))
                before.append(reader.get(timeout=20))
        first.unlink()
        first.close()
        with shmring.Ring.create(cam, slots=8, slot_bytes=4096) as second, second.writer() as w:
            after = None
            for _ in range(100):  # until the sender has noticed the new file (it looks every 0.5 s)
                w.put(np.full(16, 99, np.uint8))
                try:
                    after = reader.get(timeout=0.2)
                    break
                except shmring.WaitTimeout:
                    continue
        assert after is not None, "the sender never followed the re-created ring"
    assert [f.seq for f in before] == list(range(10))
    assert (after.seq, after.lost, int(after.data[0])) == (10, 0, 99), (
        "frames of the new ring continue the local numbering; losses across it are unknown, not invented")
    assert receiver.proc.poll() is None and sender.proc.poll() is None
    wait_until(lambda: receiver.samples() and receiver.last()["rebases"] == 1, 10,
               "the receiver to count one numbering restart", receiver)


def test_lossless_sender_killed_and_restarted_resumes_where_the_receiver_is(
        shm_dir: Path, unique_name: str, bridges: Callable[..., Bridge], spawn: Callable[..., BaseProcess]) -> None:
    count = 600
    cam, far = f"{unique_name}-cam", f"{unique_name}-far"
    with shmring.Ring.create(cam, slots=1024, slot_bytes=16 << 10, policy="block"):
        sender, receiver, endpoint = _pair(bridges, cam, far, "--lossless")
        with open_ring(far, 20, sender, receiver) as ring, ring.reader() as reader:
            writer = spawn(camera, cam, count, 16 << 10, None, 200.0)
            first = _read_chain(reader, lambda f: f.seq >= 100)
            sender.kill()
            sender = bridges("send", "send", cam, "--bind", endpoint, "--lossless")
            rest = _read_chain(reader, lambda f: f.seq == count - 1, timeout=60)
            writer.join(30)
        chain = first + rest
        for a, b in itertools.pairwise(chain):
            assert b.seq == a.seq + b.lost + 1, f"frame {b.seq} after {a.seq} reports lost={b.lost}"
        assert len({f.seq for f in chain}) == len(chain), "a frame arrived twice"
        # The new sender starts at the oldest frame still in the ring and skips what the
        # receiver has: what the camera wrote meanwhile (5 s fit in 1024 slots at 200 Hz) arrives.
        assert reader.lost == 0, f"{reader.lost} frames lost across a lossless sender restart"
