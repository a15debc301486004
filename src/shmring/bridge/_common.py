"""What both ends of the bridge share: endpoints, counters, logging of dropped messages."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger("shmring.bridge")

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
#: Seconds between a side's heartbeats (a sender's BEAT, a lossless receiver's CREDIT).
BEAT_S = 0.5
#: A side that heard nothing for this long shows the other as silent.
SILENT_S = 2.0
#: Live mode: frames ZeroMQ may queue per receiver on each side before the newest are dropped.
LIVE_HWM = 2
#: Lossless mode: frames the sender may have unacknowledged, unless the receiver asks for fewer.
DEFAULT_WINDOW = 16
#: Lossless mode: most frames a sender keeps unacknowledged, whatever the receiver asks...
MAX_WINDOW = 64
#: ... and most bytes of slots (at least two frames): what the receiver may have to buffer.
MAX_WINDOW_BYTES = 256 << 20


def window_frames(asked: int, slots: int, slot_bytes: int) -> int:
    """Frames a lossless sender may have unacknowledged: what the receiver asked for, capped.

    Both sides compute it from the sender ring's geometry, so the receiver knows when
    the sender would run dry. The sender holds each unacknowledged frame pinned in its
    ring, so fewer than ``slots``: the camera always has a slot to write. The byte cap
    bounds what the receiver's socket may have to hold.
    """
    by_bytes = max(2, MAX_WINDOW_BYTES // max(1, slot_bytes))
    return max(1, min(asked, slots - 1, MAX_WINDOW, by_bytes))

_TCP = re.compile(r"tcp://(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._*-]+):(?P<port>\d+)")


def check_endpoint(endpoint: str, parameter: str) -> str:
    """A ``tcp://HOST:PORT`` (or ``ipc://PATH``) endpoint, else ValueError naming ``parameter``."""
    if not isinstance(endpoint, str):
        raise TypeError(f"{parameter} must be a str such as {DEFAULT_ENDPOINT!r}, got {type(endpoint).__name__}")
    if endpoint.startswith("ipc://") and len(endpoint) > len("ipc://"):
        return endpoint
    match = _TCP.fullmatch(endpoint)
    if match is None or not 0 <= int(match.group("port")) <= 65535:
        raise ValueError(f"{parameter} must be tcp://HOST:PORT (port 0..65535) or ipc://PATH, got {endpoint!r}")
    return endpoint


def check_positive(value: Any, parameter: str, kind: type = int) -> Any:
    """``value`` if it is a positive ``kind``, else ValueError/TypeError naming ``parameter``."""
    if not isinstance(value, (int, float) if kind is float else int) or isinstance(value, bool):
        raise TypeError(f"{parameter} must be {'a number' if kind is float else 'an int'}, got {value!r}")
    if value <= 0:
        raise ValueError(f"{parameter} must be > 0, got {value!r}")
    return value


@dataclass
class SenderStats:
    """What a sender has done so far (``Sender.stats()``; ``shmring bridge send`` shows it).

    Attributes:
        ring: the ring relayed.
        endpoint: where the sender is bound (the real port when asked for port 0).
        mode: ``"live"`` or ``"lossless"``.
        sent: frames sent (resends not included).
        resent: frames sent again to a receiver that came back (lossless).
        lost: frames the sender's reader lost in its ring (it fell behind the writer).
        held: frames sent but not yet acknowledged (lossless).
        last_seq: seq of the last frame sent (None before the first).
        write_seq: the ring's write sequence at the last look.
        receiver: the session of the receiver being served (lossless), else None.
        refused: connections refused by CURVE authentication.
        copy: True when frames are copied out of the ring before sending (``overwrite`` policy).
    """

    ring: str
    endpoint: str
    mode: str
    sent: int = 0
    resent: int = 0
    lost: int = 0
    held: int = 0
    last_seq: int | None = None
    write_seq: int = 0
    receiver: int | None = None
    refused: int = 0
    copy: bool = False
    started: float = field(default_factory=time.monotonic)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["lag"] = self.write_seq - (self.last_seq + 1 if self.last_seq is not None else self.write_seq)
        out.pop("started")
        return out


@dataclass
class ReceiverStats:
    """What a receiver has done so far (``Receiver.stats()``; ``shmring bridge recv`` shows it).

    ``lost == lost_wire + lost_sender``: every sequence number the receiver never
    wrote. Local readers see these in ``Frame.lost`` together with what they lose
    in the local ring themselves.

    Attributes:
        ring: the local ring written.
        endpoint: the sender's endpoint.
        mode: ``"live"`` or ``"lossless"``.
        received: frames written into the local ring.
        lost: sequence numbers never received (lost_wire + lost_sender).
        lost_wire: of those, dropped by ZeroMQ between the sides (live mode's high-water marks).
        lost_sender: of those, lost before the wire: in the sender's ring, or while a side was down.
        duplicates: frames received again and dropped (a lossless resend after a restart).
        dropped: messages refused, by reason (``"magic"``, ``"shape"``, ...).
        rebases: times the sender's numbering restarted (a re-created sender ring): losses across it are unknown.
        last_seq: the sender's seq of the last frame written.
        sender_write_seq: the sender ring's write sequence it last reported.
        sender_session: the sender process last heard from.
        silent_s: seconds since the sender was last heard (None: never).
    """

    ring: str
    endpoint: str
    mode: str
    received: int = 0
    lost: int = 0
    lost_wire: int = 0
    lost_sender: int = 0
    duplicates: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    rebases: int = 0
    last_seq: int | None = None
    sender_write_seq: int = 0
    sender_session: int | None = None
    silent_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["dropped_total"] = sum(self.dropped.values())
        out["lag"] = max(0, self.sender_write_seq - (self.last_seq + 1)) if self.last_seq is not None else None
        return out


class DropLog:
    """Counts dropped messages by reason; logs the first few of each reason, then every 1000th."""

    def __init__(self, counts: dict[str, int], what: str) -> None:
        self.counts = counts
        self.what = what

    def drop(self, reason: str, detail: str) -> None:
        n = self.counts[reason] = self.counts.get(reason, 0) + 1
        if n <= 5 or n % 1000 == 0:
            log.warning("shmring bridge: %s dropped a message (%s, %d so far): %s", self.what, reason, n, detail)
