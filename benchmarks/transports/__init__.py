"""One module per library; ``registry()`` lists them all, shmring first.

A transport whose library is missing stays listed; ``unavailable()`` says why.
"""

from __future__ import annotations

from .base import ChannelSpec, Receiver, Sender, Transport, Unsupported

SHMRING_SPIN = 50e-6  # seconds the "shmring-spin" reader spins before it blocks


def shmring_transports() -> list[Transport]:
    from .shmring_ring import ShmringTransport

    return [ShmringTransport(), ShmringTransport(spin=SHMRING_SPIN)]


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
