"""The standard library's ``multiprocessing.Queue`` and ``multiprocessing.Pipe``.

Both can only be shared by inheritance, so ``prepare`` builds the channels in
the parent before the workers are forked; a trial picks them by direction.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

from shmring._bench.base import ChannelSpec, Receiver, Sender, Transport, flat_bytes

_CTX = mp.get_context("fork")


class _QueueSender(Sender):
    def __init__(self, q: Any) -> None:
        self.q = q

    def send(self, buf: Any) -> None:
        # put() pickles later, in a feeder thread: hand it bytes the caller cannot touch.
        self.q.put(bytes(flat_bytes(buf)), timeout=30.0)


class _QueueReceiver(Receiver):
    def __init__(self, q: Any) -> None:
        self.q = q

    def recv(self, timeout: float) -> Any:
        return self.q.get(timeout=timeout)


class MpQueueTransport(Transport):
    name = "mp.Queue"
    description = "multiprocessing.Queue(maxsize=depth), bytes items"

    def prepare(self, max_frame_bytes: int) -> None:
        # (big, direction) -> queue; depth is fixed at creation: 64 for messages, 8 for frames.
        self.queues = {(big, i): _CTX.Queue(maxsize=8 if big else 64) for big in (False, True) for i in (0, 1)}

    def sender(self, spec: ChannelSpec) -> Sender:
        return _QueueSender(self.queues[spec.big, spec.index])

    def receiver(self, spec: ChannelSpec) -> Receiver:
        return _QueueReceiver(self.queues[spec.big, spec.index])


class _PipeSender(Sender):
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def send(self, buf: Any) -> None:
        self.conn.send_bytes(flat_bytes(buf))


class _PipeReceiver(Receiver):
    def __init__(self, conn: Any, nbytes: int) -> None:
        self.conn = conn
        self.buf = bytearray(nbytes)
        self.view = memoryview(self.buf)

    def recv(self, timeout: float) -> Any:
        # No poll(): a plain blocking read is how Pipe is used; the runner's watchdog
        # ends a trial whose peer went silent.
        n = self.conn.recv_bytes_into(self.buf)
        return self.view[:n]


class MpPipeTransport(Transport):
    name = "mp.Pipe"
    description = "multiprocessing.Pipe(duplex=False), send_bytes / recv_bytes_into"

    def prepare(self, max_frame_bytes: int) -> None:
        self.pipes = [_CTX.Pipe(duplex=False) for _ in (0, 1)]

    def sender(self, spec: ChannelSpec) -> Sender:
        return _PipeSender(self.pipes[spec.index][1])

    def receiver(self, spec: ChannelSpec) -> Receiver:
        return _PipeReceiver(self.pipes[spec.index][0], spec.nbytes)
