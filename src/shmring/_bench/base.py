"""The interface every transport implements, so one set of loops runs over all of them.

Life cycle of one trial (two worker processes A and B, forked from the runner):

* parent: ``prepare(plan)`` once before the workers are forked (channels that can
  only be shared by inheritance, e.g. ``multiprocessing.Queue``), then per trial
  ``setup(key, spec)`` -> channel handles (picklable), later ``teardown(...)``.
* workers: ``receiver(chan)`` / ``sender(chan)`` open the two ends of channel
  ``chan``; channel 0 carries A -> B, channel 1 carries B -> A (round trips).

A ``Sender.send(buf)`` must be done with ``buf`` when it returns: the caller
stamps the next message into the same buffer right away (a camera loop that
reuses its buffer). A ``Receiver.recv()`` result stays valid until ``release()``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

BIG = 64 * 1024  # messages at least this large are "frames" (zero-copy paths kick in)


@dataclass(frozen=True)
class ChannelSpec:
    """What a channel must carry: message size, frame layout, queue depth."""

    key: str  # unique per trial; transports derive names from it
    index: int  # 0: A -> B, 1: B -> A
    nbytes: int
    shape: tuple[int, ...]
    dtype: str
    depth: int  # messages in flight before the sender waits

    @property
    def big(self) -> bool:
        return self.nbytes >= BIG


class Unsupported(Exception):
    """The transport has no such operation (e.g. no zero-copy loan)."""


class Sender:
    def send(self, buf: np.ndarray) -> None:
        raise NotImplementedError

    def send_many(self, bufs: list[bytes]) -> None:
        """Send a batch of messages in one call (the transport's batched form)."""
        raise Unsupported("no batched send")

    def loan(self) -> AbstractContextManager[np.ndarray]:
        """A context manager: enter gives a writable array of the channel's shape/dtype inside
        the transport, a clean exit publishes it. Each transport returns its cheapest one."""
        raise Unsupported("no zero-copy write")

    def close(self) -> None:
        pass


class Receiver:
    def recv(self, timeout: float) -> Any:
        raise NotImplementedError

    def recv_many(self, max_n: int, timeout: float) -> list[Any]:
        """Wait for at least one message; return up to ``max_n`` (the transport's batched form)."""
        raise Unsupported("no batched receive")

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


class Transport:
    name = "?"
    description = ""
    zero_copy_write = False
    batched = False  # has send_many / recv_many
    senders_first = False  # open the sending ends before the receiving ones

    def unavailable(self) -> str | None:
        """Why this transport cannot run here, or None when it can."""
        return None

    def prepare(self, max_frame_bytes: int) -> None:
        pass

    def setup(self, key: str, specs: list[ChannelSpec]) -> Any:
        return None

    def teardown(self, handle: Any) -> None:
        pass

    def sender(self, spec: ChannelSpec) -> Sender:
        raise NotImplementedError

    def receiver(self, spec: ChannelSpec) -> Receiver:
        raise NotImplementedError


def as_u8(buf: Any) -> np.ndarray:
    """A flat uint8 view of any C-contiguous buffer (no copy)."""
    if isinstance(buf, np.ndarray):
        return buf.reshape(-1).view(np.uint8)
    return np.frombuffer(buf, np.uint8)


def flat_bytes(buf: Any) -> memoryview:
    """A 1-D byte memoryview of ``buf`` (no copy), for APIs that want plain bytes."""
    mv = memoryview(buf)
    return mv if (mv.ndim == 1 and mv.format == "B") else mv.cast("B")
