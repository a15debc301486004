"""The bridge against strangers: CURVE allow-lists, and malformed or hostile messages."""

from __future__ import annotations

import multiprocessing as mp
import shutil
import struct
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

import numpy as np
import zmq
from _bridge_children import camera, checksum_ok
from bridge_helpers import Bridge, free_port, open_ring, ring_exists, wait_until

import shmring
from shmring.bridge import _wire as W

SPAWN = mp.get_context("spawn")


def test_curve_streams_to_an_allowed_key_and_nothing_to_an_unknown_one(
        shm_dir: Path, tmp_path: Path, unique_name: str, bridges: Callable[..., Bridge],
        spawn: Callable[..., BaseProcess]) -> None:
    from shmring.bridge import make_keys

    allowed, stranger = tmp_path / "keys", tmp_path / "stranger"
    make_keys(allowed)
    make_keys(stranger)  # a key pair of its own, not in the sender's allow-list ...
    shutil.copyfile(allowed / "server.key", stranger / "server.key")  # ... though it knows the server's key
    cam, good, bad = (f"{unique_name}-{x}" for x in ("cam", "good", "bad"))
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with shmring.Ring.create(cam, slots=8, slot_bytes=64 << 10):
        sender = bridges("send", "send", cam, "--bind", endpoint, "--curve-keys", str(allowed))
        intruder = bridges("bad", "recv", endpoint, "--into", bad, "--curve-keys", str(stranger))
        friend = bridges("good", "recv", endpoint, "--into", good, "--curve-keys", str(allowed))
        stop = SPAWN.Event()
        with open_ring(good, 20, sender, friend) as ring, ring.reader() as reader:
            writer = spawn(camera, cam, 0, 64 << 10, stop, 200.0)
            try:
                frames = [reader.get(timeout=20) for _ in range(20)]
                wait_until(lambda: sender.samples() and sender.last()["refused"] > 0, 20,
                           "the sender to count the unknown key as refused", sender)
            finally:
                stop.set()
                writer.join(30)
        assert all(checksum_ok(f) for f in frames)
        assert not ring_exists(bad), "a receiver with an unknown key got something from the sender"
        assert intruder.proc.poll() is None and intruder.last()["received"] == 0


def _header(**fields: int | str | tuple[int, ...]) -> W.Header:
    base = dict(kind=W.KIND_FRAME, ring_flags=0, ring_id=7, session=11, seq=0, write_seq=1, sender_lost=0,
                timestamp_ns=1, monotonic_ns=1, flags=0, meta_len=0, payload_len=64, typestr="<u2",
                shape=(4, 8), slots=4, meta_bytes=256, slot_bytes=64)
    base.update(fields)
    return W.Header(**base)  # type: ignore[arg-type]


def _hostile_messages() -> list[list[bytes]]:
    good = W.pack_header(_header())
    payload = bytes(64)
    huge = W.pack_header(_header(shape=(1 << 40, 1 << 40), payload_len=64))
    return [
        [b""],
        [b"\xff" * 7],
        [good[:100], b"", payload],
        [b"XXXX" + good[4:], b"", payload],
        [good[:4] + b"\x09" + good[5:], b"", payload],
        [good],  # a frame without its parts
        [good, b"", payload, b"extra"],
        [good, b"", payload[:10]],  # lengths that do not add up
        [W.pack_header(_header(meta_len=5)), b"{}", payload],
        [W.pack_header(_header(meta_len=4)), b"[1,]", payload],
        [huge, b"", payload],  # a huge shape
        [W.pack_header(_header(shape=(1 << 32,), payload_len=1 << 33, slot_bytes=1 << 34)), b"", payload],
        [W.pack_header(_header(typestr="|O8")), b"", payload],
        [W.pack_header(_header(seq=1 << 63, write_seq=1 << 63)), b"", payload],
        [W.pack_header(_header(slots=0)), b"", payload],
        [good[:6] + b"\x05" + good[7:], b"", payload],  # ndim 5
        [struct.pack("<4sB", b"SRB1", 1) + bytes(131), b"", payload],
    ]


def test_malformed_messages_are_dropped_counted_and_leave_the_ring_valid(
        shm_dir: Path, unique_name: str, bridges: Callable[..., Bridge]) -> None:
    far = f"{unique_name}-far"
    port = free_port()
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.sndhwm = 10000
    pub.bind(f"tcp://127.0.0.1:{port}")
    try:
        receiver = bridges("recv", "recv", f"tcp://127.0.0.1:{port}", "--into", far, "--hwm", "10000")
        beat = W.pack_header(_header(kind=W.KIND_BEAT, payload_len=0, shape=(), typestr="|u1"))

        def heard() -> shmring.Ring | None:
            pub.send(beat)  # until the subscription is through: a PUB sends nothing before
            return ring_exists(far)

        wait_until(heard, 20, "the receiver to create its ring from a beat", receiver)
        with shmring.Ring.open(far) as ring, ring.reader() as reader:
            hostile = _hostile_messages()
            for parts in hostile:
                pub.send_multipart(parts)
            data = np.arange(32, dtype="<u2").reshape(4, 8)
            meta = W.encode_meta({"OBJECT": "M31"})
            pub.send_multipart([W.pack_header(_header(seq=5, meta_len=len(meta))), meta, data.tobytes()])
            f = reader.get(timeout=20)
            assert (f.seq, f.lost, f.meta["OBJECT"]) == (5, 5, "M31")
            assert np.array_equal(f.data, data)
        wait_until(lambda: receiver.samples() and receiver.last()["dropped_total"] == len(hostile), 20,
                   f"the receiver to count {len(hostile)} dropped messages", receiver)
        assert receiver.proc.poll() is None, "a hostile message ended the receiver"
        reasons = receiver.last()["dropped"]
        assert {"parts", "header size", "magic", "version", "shape", "payload length", "meta", "dtype",
                "seq", "ring geometry", "ndim", "meta length"} <= set(reasons), reasons
        with shmring.Ring.open(far) as ring:  # the ring still validates, and has nothing else in it
            assert ring.info().write_seq == 6
        sent = _random_mutations(pub, seed=12)
        done = len(hostile) + 1 + sent

        def settled() -> bool:
            s = receiver.samples() and receiver.last()
            return bool(s) and s["received"] + s["dropped_total"] + s["duplicates"] == done

        wait_until(settled, 20, f"the receiver to account for all {done} messages", receiver)
        with shmring.Ring.open(far) as ring:  # whatever got through, the ring still validates
            assert ring.info().write_seq >= 6
    finally:
        pub.close(0)
        ctx.term()


def _random_mutations(pub: object, seed: int, count: int = 300) -> int:
    """Frames with random bytes of their header overwritten; returns how many were sent."""
    rng = np.random.default_rng(seed)
    meta = W.encode_meta({"K": 1})
    good = bytearray(W.pack_header(_header(seq=6, meta_len=len(meta))))
    for _ in range(count):
        header = bytearray(good)
        for at in rng.integers(0, len(header), size=int(rng.integers(1, 4))):
            header[int(at)] = int(rng.integers(0, 256))
        pub.send_multipart([bytes(header), meta, bytes(64)])  # type: ignore[attr-defined]
    return count
