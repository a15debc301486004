"""Targets for spawned processes in the batch tests: messages that carry their own checksum."""

from __future__ import annotations

import os
import random
import struct
import time
import zlib
from typing import Any

import shmring

HEAD = struct.Struct("<QI")  # seq, crc32 of the body
STOP_FLAG = 0x570F


def message(seq: int) -> bytes:
    """Message seq: its seq, a body of seq-dependent length and content, and the body's crc32."""
    body = random.Random(seq).randbytes(8 + seq % 49)
    return HEAD.pack(seq, zlib.crc32(body)) + body


def check(data: bytes) -> int:
    """The seq a message carries, or -1 when its body does not match its checksum (torn)."""
    seq, crc = HEAD.unpack_from(data)
    return seq if zlib.crc32(data[HEAD.size:]) == crc else -1


def put_batches(name: str, count: int, stops: int = 0) -> None:
    """Publish messages 0..count-1 with put_many in batches of varying size (1..300), then `stops` stops."""
    sizes = random.Random(count)
    with shmring.Ring.open(name) as ring, ring.writer() as writer:
        seq = 0
        while seq < count:
            n = min(count - seq, sizes.randint(1, 300))
            assert writer.put_many([message(s) for s in range(seq, seq + n)], timeout=30) == n
            seq += n
        if stops:
            writer.put_many([b"stop"] * stops, flags=STOP_FLAG, timeout=30)


def put_dropping(name: str, offers: int, results: Any) -> None:
    """Offer `offers` batches of 100 under `drop`; report how many messages put_many said it published.

    A message's seq is the frame number it gets if published: the count published so far.
    """
    with shmring.Ring.open(name) as ring, ring.writer() as writer:
        published = 0
        for _ in range(offers):
            published += writer.put_many([message(published + i) for i in range(100)])
        deadline = time.monotonic() + 30
        while writer.put(b"stop", flags=STOP_FLAG) is None:  # the reader drains: room comes
            assert time.monotonic() < deadline, "the reader never made room for the stop message"
        results.put(published)


def read_batches(name: str, last: int, results: Any, ready: Any, max_n: int, queue: bool = False) -> None:
    """get_many until message `last` (or a stop, in queue mode); report seqs, lost counts and torn messages."""
    with shmring.Ring.open(name) as ring, ring.reader(queue=queue) as reader:
        ready.put(os.getpid())
        seqs: list[int] = []
        frame_lost, torn, done = 0, 0, False
        while not done:
            for frame in reader.get_many(max_n, timeout=30):
                if frame.flags == STOP_FLAG:
                    done = True
                    continue
                seq = check(frame.data.tobytes())
                torn += seq < 0 or seq != frame.seq
                frame_lost += frame.lost
                seqs.append(seq)
                done = done or seq == last
        results.put({"seqs": seqs, "torn": torn, "frame_lost": frame_lost, "lost": reader.lost})


def read_bytes(name: str, last: int, results: Any, ready: Any, max_n: int = 0) -> None:
    """get_bytes (or get_bytes_many(max_n)) until message `last`; report the seqs (-1: torn)."""
    with shmring.Ring.open(name) as ring, ring.reader() as reader:
        ready.put(os.getpid())
        seqs: list[int] = []
        while not seqs or seqs[-1] != last:
            if max_n:
                seqs += map(check, reader.get_bytes_many(max_n, timeout=30))
            else:
                seqs.append(check(reader.get_bytes(timeout=30)))
        results.put({"seqs": seqs, "lost": reader.lost})
