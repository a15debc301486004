"""iceoryx2 publish/subscribe (zero-copy loans) plus an event service to block on.

Payload type ``Slice[c_uint8]`` sized to the message; the publisher retries until
delivered (lossless, like shmring's ``block``), then notifies; the subscriber
drains samples and waits on its ``Listener`` only when none is there.
"""

from __future__ import annotations

import ctypes
import time
from typing import Any

import numpy as np

from shmring._bench.base import ChannelSpec, Receiver, Sender, Transport, as_u8

_node: Any = None


def _iox() -> Any:
    import iceoryx2

    return iceoryx2


def _get_node() -> Any:
    global _node
    if _node is None:
        iox = _iox()
        iox.set_log_level_from_env_or(iox.LogLevel.Error)
        _node = iox.NodeBuilder.new().create(iox.ServiceType.Ipc)
    return _node


def _services(spec: ChannelSpec) -> tuple[Any, Any]:
    iox = _iox()
    node = _get_node()
    name = f"shmring-bench/{spec.key}/{spec.index}"
    deadline = time.monotonic() + 5.0
    while True:  # both sides open_or_create; a concurrent creation may need a retry
        try:
            pubsub = (
                node.service_builder(iox.ServiceName.new(name))
                .publish_subscribe(iox.Slice[ctypes.c_uint8])
                .max_publishers(1)
                .max_subscribers(1)
                .history_size(0)
                .subscriber_max_buffer_size(spec.depth)
                .enable_safe_overflow(False)
                .open_or_create()
            )
            event = node.service_builder(iox.ServiceName.new(name)).event().open_or_create()
            return pubsub, event
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _view(ptr: int, nbytes: int) -> np.ndarray:
    return np.frombuffer((ctypes.c_uint8 * nbytes).from_address(ptr), np.uint8)


class _Sender(Sender):
    def __init__(self, spec: ChannelSpec) -> None:
        iox = _iox()
        self.pubsub, self.event = _services(spec)
        self.pub = (
            self.pubsub.publisher_builder()
            .initial_max_slice_len(spec.nbytes)
            .allocation_strategy(iox.AllocationStrategy.Static)
            .backpressure_strategy(iox.BackpressureStrategy.RetryUntilDelivered)
            .max_loaned_samples(2)
            .create()
        )
        self.notifier = self.event.notifier_builder().create()
        self.nbytes, self.shape, self.dtype = spec.nbytes, spec.shape, np.dtype(spec.dtype)

    def send(self, buf: Any) -> None:
        sample = self.pub.loan_slice_uninit(self.nbytes)
        np.copyto(_view(sample.payload_ptr, self.nbytes), as_u8(buf))
        sample.assume_init().send()
        self.notifier.notify()

    def close(self) -> None:
        self.notifier.delete()
        self.pub.delete()

    def loan(self) -> _Loan:
        return _Loan(self)


class _Loan:
    """``loan_slice_uninit`` on enter; ``assume_init().send()`` and notify on a clean exit."""

    __slots__ = ("sample", "tx")

    def __init__(self, tx: _Sender) -> None:
        self.tx = tx

    def __enter__(self) -> np.ndarray:
        tx = self.tx
        self.sample = tx.pub.loan_slice_uninit(tx.nbytes)
        return _view(self.sample.payload_ptr, tx.nbytes).view(tx.dtype).reshape(tx.shape)

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.sample.assume_init().send()
            self.tx.notifier.notify()



class _Receiver(Receiver):
    def __init__(self, spec: ChannelSpec) -> None:
        self.pubsub, self.event = _services(spec)
        self.sub = self.pubsub.subscriber_builder().buffer_size(spec.depth).create()
        self.listener = self.event.listener_builder().create()
        self.duration = _iox().Duration.from_secs_f64
        self.sample: Any = None

    def recv(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            sample = self.sub.receive()
            if sample is not None:
                self.sample = sample
                return _view(sample.payload_ptr, sample.payload().len())
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no message within {timeout} s")
            self.listener.timed_wait(self.duration(left))

    def release(self) -> None:
        self.sample.delete()
        self.sample = None

    def close(self) -> None:
        self.listener.delete()
        self.sub.delete()


class Iceoryx2Transport(Transport):
    name = "iceoryx2"
    description = "iceoryx2 pub/sub Slice[u8], loans, RetryUntilDelivered, event listener"
    zero_copy_write = True
    # With the subscriber created first, iceoryx2 0.10 did not hold the publisher back
    # when the subscriber's buffer was full (samples were lost despite
    # RetryUntilDelivered, cf. upstream issue #1697); created publisher-first it blocks.
    senders_first = True

    def unavailable(self) -> str | None:
        try:
            _iox()
        except ImportError:
            return "iceoryx2 not installed (pip install iceoryx2)"
        return None

    def sender(self, spec: ChannelSpec) -> Sender:
        return _Sender(spec)

    def receiver(self, spec: ChannelSpec) -> Receiver:
        return _Receiver(spec)
