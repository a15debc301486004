"""shmring.bridge: relay a ring to other machines over ZeroMQ, so the same Reader reads a remote camera.

On the camera's host::

    shmring.bridge.send("cam0", bind="tcp://0.0.0.0:5555")          # blocks; Ctrl-C ends

On the other host::

    shmring.bridge.recv("tcp://camera-host:5555", into="cam0")       # writes ring cam0 there

Any local reader of ``cam0`` on the far side (Python, C, MATLAB) then reads the
camera's frames with the camera's sequence numbers; ``Frame.lost`` counts the frames
lost on the wire, in the sender's ring and in the local ring, exactly. The wire
format and the two modes (live, lossless) are described in docs/bridge.md.

Needs the ``[bridge]`` extra (pyzmq).
"""

from __future__ import annotations

import os
from typing import Any

from ._common import DEFAULT_ENDPOINT, ReceiverStats, SenderStats
from ._keys import Curve, CurveKeyError, make_keys
from ._receiver import SOURCE_TIME_KEY, Receiver
from ._sender import Sender

__all__ = [
    "DEFAULT_ENDPOINT",
    "SOURCE_TIME_KEY",
    "Curve",
    "CurveKeyError",
    "Receiver",
    "ReceiverStats",
    "Sender",
    "SenderStats",
    "make_keys",
    "recv",
    "send",
]


def send(ring: str | os.PathLike[str], bind: str = DEFAULT_ENDPOINT, *, lossless: bool = False,
         seconds: float | None = None, stop: Any = None, **options: Any) -> SenderStats:
    """Relay every frame of ``ring`` to the receivers that connect to ``bind``, until stopped.

    Args:
        ring: the local ring's name or path.
        bind: ZeroMQ endpoint (``tcp://127.0.0.1:5555`` by default: this host only;
            ``tcp://0.0.0.0:5555`` for every interface).
        lossless: credit-based flow control: nothing lost under the ``block`` policy.
        seconds: stop after this long (None: until ``stop`` is set or Ctrl-C).
        stop: a ``threading.Event`` that ends the relay.
        **options: passed to :class:`Sender` (``hwm``, ``curve``, ``directory``, ``start``).

    Returns:
        The sender's counters at the end.
    """
    with Sender(ring, bind, lossless=lossless, **options) as sender:
        return sender.run(seconds=seconds, stop=stop)


def recv(connect: str = DEFAULT_ENDPOINT, into: str | os.PathLike[str] = "bridge", *, lossless: bool = False,
         seconds: float | None = None, stop: Any = None, **options: Any) -> ReceiverStats:
    """Write the frames the sender at ``connect`` relays into the local ring ``into``, until stopped.

    Args:
        connect: the sender's endpoint.
        into: the local ring (created from the sender's geometry if missing).
        lossless: must match the sender's mode.
        seconds: stop after this long (None: until ``stop`` is set or Ctrl-C).
        stop: a ``threading.Event`` that ends it.
        **options: passed to :class:`Receiver` (``window``, ``hwm``, ``policy``, ``mode``,
            ``curve``, ``directory``, ``max_frame_bytes``).

    Returns:
        The receiver's counters at the end.
    """
    with Receiver(connect, into, lossless=lossless, **options) as receiver:
        return receiver.run(seconds=seconds, stop=stop)
