"""faster-fifo: a multiprocessing.Queue replacement over a shared circular buffer.

Raw bytes mode (``dumps=bytes``, ``loads`` = identity) skips pickling. The
buffer is sized for ``depth`` messages of the largest size.
"""

from __future__ import annotations

from typing import Any

from shmring._bench.base import ChannelSpec, Receiver, Sender, Transport

_MSG_BUFFER = 64 * 4096 * 2


def _identity(x: Any) -> Any:
    return x


class _Sender(Sender):
    def __init__(self, q: Any) -> None:
        self.q = q

    def send(self, buf: Any) -> None:
        self.q.put(buf, timeout=30.0)  # dumps=bytes copies synchronously

    def send_many(self, bufs: list[bytes]) -> None:
        self.q.put_many(bufs, timeout=30.0)


class _Receiver(Receiver):
    def __init__(self, q: Any) -> None:
        self.q = q
        import faster_fifo

        self.empty = faster_fifo.Empty

    def recv(self, timeout: float) -> Any:
        try:
            return self.q.get(timeout=timeout)
        except self.empty:
            raise TimeoutError(f"no message within {timeout} s") from None

    def recv_many(self, max_n: int, timeout: float) -> list[Any]:
        try:
            return list(self.q.get_many(timeout=timeout, max_messages_to_get=max_n))
        except self.empty:
            raise TimeoutError(f"no message within {timeout} s") from None


class FasterFifoTransport(Transport):
    name = "faster-fifo"
    description = "faster_fifo.Queue, raw bytes (no pickle); batches: put_many / get_many"
    batched = True

    def unavailable(self) -> str | None:
        try:
            import faster_fifo  # noqa: F401
        except ImportError:
            return "faster-fifo not installed (pip install faster-fifo)"
        return None

    def prepare(self, max_frame_bytes: int) -> None:
        import faster_fifo

        def make(big: bool) -> Any:
            size = 8 * (max_frame_bytes + 64) if big else _MSG_BUFFER
            return faster_fifo.Queue(max_size_bytes=size, loads=_identity, dumps=bytes)

        self.queues = {(big, i): make(big) for big in (False, True) for i in (0, 1)}

    def sender(self, spec: ChannelSpec) -> Sender:
        return _Sender(self.queues[spec.big, spec.index])

    def receiver(self, spec: ChannelSpec) -> Receiver:
        return _Receiver(self.queues[spec.big, spec.index])
