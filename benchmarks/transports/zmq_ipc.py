"""pyzmq PUSH/PULL over ``ipc://``; frames are sent zero-copy (``copy=False``).

A zero-copy send hands the buffer to libzmq's I/O thread; since the caller reuses
its buffer, ``send`` waits on the message tracker until libzmq is done with it.
Small messages use the plain copying send, pyzmq's advice below ~64 KiB.
"""

from __future__ import annotations

import os
from typing import Any

from shmring._bench.base import ChannelSpec, Receiver, Sender, Transport, flat_bytes


def _address(spec: ChannelSpec) -> tuple[str, str]:
    path = f"/tmp/shmring-bench-{spec.key}-{spec.index}.sock"
    return f"ipc://{path}", path


class _Sender(Sender):
    def __init__(self, spec: ChannelSpec) -> None:
        import zmq

        self.sock = zmq.Context.instance().socket(zmq.PUSH)
        self.sock.setsockopt(zmq.SNDHWM, spec.depth)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(_address(spec)[0])
        self.big = spec.big

    def send(self, buf: Any) -> None:
        if self.big:
            self.sock.send(flat_bytes(buf), copy=False, track=True).wait(30.0)
        else:
            self.sock.send(flat_bytes(buf))

    def send_many(self, bufs: list[bytes]) -> None:
        self.sock.send_multipart(bufs)  # one multipart message per batch

    def close(self) -> None:
        self.sock.close()


class _Receiver(Receiver):
    def __init__(self, spec: ChannelSpec) -> None:
        import zmq

        self.sock = zmq.Context.instance().socket(zmq.PULL)
        self.sock.setsockopt(zmq.RCVHWM, spec.depth)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(_address(spec)[0])
        self.big = spec.big
        self.again = zmq.Again
        self.timeout_ms = -1

    def recv(self, timeout: float) -> Any:
        ms = int(timeout * 1000)
        if ms != self.timeout_ms:
            self.sock.rcvtimeo = self.timeout_ms = ms
        try:
            if self.big:
                return self.sock.recv(copy=False).buffer
            return self.sock.recv()
        except self.again:
            raise TimeoutError(f"no message within {timeout} s") from None

    def recv_many(self, max_n: int, timeout: float) -> list[Any]:
        ms = int(timeout * 1000)
        if ms != self.timeout_ms:
            self.sock.rcvtimeo = self.timeout_ms = ms
        try:
            return self.sock.recv_multipart()  # the sender's batch (max_n parts)
        except self.again:
            raise TimeoutError(f"no message within {timeout} s") from None

    def close(self) -> None:
        self.sock.close()


class ZmqTransport(Transport):
    name = "pyzmq"
    description = "pyzmq PUSH/PULL over ipc://, copy=False + tracker for frames; batches: multipart"
    batched = True

    def unavailable(self) -> str | None:
        try:
            import zmq  # noqa: F401
        except ImportError:
            return "pyzmq not installed (pip install pyzmq)"
        return None

    def teardown(self, handle: Any) -> None:
        for spec in handle or ():
            path = _address(spec)[1]
            if os.path.exists(path):
                os.unlink(path)

    def setup(self, key: str, specs: list[ChannelSpec]) -> Any:
        return specs

    def sender(self, spec: ChannelSpec) -> Sender:
        return _Sender(spec)

    def receiver(self, spec: ChannelSpec) -> Receiver:
        return _Receiver(spec)
