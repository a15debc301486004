"""One module per peer library; ``registry()`` lists them all, shmring first.

shmring's own transport and the interface live in ``shmring._bench`` (``shmring bench``).

A transport whose library is missing stays listed; ``unavailable()`` says why.
"""

from __future__ import annotations

from shmring._bench.base import ChannelSpec, Receiver, Sender, Transport, Unsupported
from shmring._bench.shmring_ring import shmring_transports


def peer_transports() -> list[Transport]:
    from .faster_fifo_q import FasterFifoTransport
    from .iceoryx2_ps import Iceoryx2Transport
    from .mp_std import MpPipeTransport, MpQueueTransport
    from .shm_posix import ShmPosixTransport
    from .zmq_ipc import ZmqTransport

    return [
        Iceoryx2Transport(),
        ShmPosixTransport(),
        ZmqTransport(),
        FasterFifoTransport(),
        MpPipeTransport(),
        MpQueueTransport(),
    ]


def registry() -> dict[str, Transport]:
    return {t.name: t for t in shmring_transports() + peer_transports()}


__all__ = [
    "ChannelSpec",
    "Receiver",
    "Sender",
    "Transport",
    "Unsupported",
    "peer_transports",
    "registry",
    "shmring_transports",
]
