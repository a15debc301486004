"""The channel file under the fuzzer: its seeds, the fields worth corrupting, and what a client does with it.

Seeds are channels made by :meth:`shmring.Channel.create` in a few shapes, with real
exchanges done in them (bytes and arrays, with metadata) and one request left
posted, so the slot words, headers, metadata and payloads hold what peers write.
Every offset comes from :mod:`shmring._channel_format`.

The opener does what a program using a channel does: open it, look at it
(``info()``), serve what is posted there, and ask through a second handle while a
server thread runs, every wait bounded by a short timeout.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

import shmring
from shmring import _channel_format as CF
from shmring._locks import Lease

from .targets import Field, Layout, Seed

__all__ = ["CHANNEL_LAYOUTS", "CHANNEL_OPENERS", "open_channel"]

_SHAPES = (  # (slots, slot_bytes, meta_bytes)
    (1, 64, 0),
    (3, 1000, 256),
    (4, 4096, 4096),
)
#: Longest any one wait of the opener: a request, a serve, stopping the server thread.
WAIT_S = 0.05

_HEADER_FIELDS = (
    Field("version", 8, 4), Field("header bytes", 12, 4), Field("total bytes", 16, 8), Field("slots", 24, 4),
    Field("meta bytes", 28, 4), Field("slot stride", 32, 8), Field("slot bytes", 40, 8),
    Field("next id", CF.OFF_NEXT_ID, 8), Field("requests posted", CF.OFF_REQUESTS, 4),
    Field("requests sleepers", CF.OFF_REQUESTS + 4, 4), Field("freed", CF.OFF_FREE, 4),
    Field("free sleepers", CF.OFF_FREE + 4, 4), Field("server epoch", CF.OFF_SERVER_EPOCH, 4),
)


def _slot_fields(layout: CF.Layout, index: int) -> tuple[Field, ...]:
    base = layout.slot_offset(index)
    named = (("state", CF.S_STATE, 4), ("waiters", CF.S_WAITERS, 4), ("id", CF.S_ID, 8),
             ("payload bytes", 16, 8), ("kind", 24, 4), ("meta length", 28, 4), ("typestr", 32, 8),
             ("ndim", 40, 4), ("client pid", 44, 4), *((f"shape{d}", 48 + 8 * d, 8) for d in range(CF.MAX_DIMS)))
    return tuple(Field(f"slot{index} {n}", base + off, w) for n, off, w in named)


def _echo(request: Any, meta: dict[str, Any]) -> Any:
    return shmring.Message(request, meta)


def _exchanges(server: shmring.Channel) -> None:
    """Real requests of each kind from a client handle, served by a thread of ``server``."""
    with server.serve(_echo), shmring.Channel.open(server.path) as ch:
        for n in range(ch.slots + 1):
            if n % 2:
                ch.request(np.arange(n + 1, dtype=np.int64).reshape(-1, 1), meta={"N": n} if ch.meta_bytes else None,
                           timeout=5)
            else:
                ch.request(b"seed %d" % n, meta={"TEXT": "x" * n} if ch.meta_bytes else None, timeout=5)


def _with_posted_request(ch: shmring.Channel) -> bytes:
    """The file's bytes while a request waits, posted and not yet taken by the server."""
    ch.serve_once(_echo, 0)  # this handle becomes the server: a client may post
    client = shmring.Channel.open(ch.path)
    request = np.arange(6, dtype=np.int16).reshape(3, 2) if ch.slot_bytes >= 12 else b"posted"
    meta = {"POSTED": True, "TEXT": "waiting"} if ch.meta_bytes >= 64 else None
    asking = threading.Thread(target=client.request, args=(request, meta), kwargs={"timeout": 10})
    asking.start()
    deadline = time.monotonic() + 10
    while "request" not in ch.info()["slot_phases"]:
        if time.monotonic() > deadline:
            raise RuntimeError("the seed's request was never posted")
        time.sleep(0.001)  # another thread's slot word: nobody announces it to this one
    data = ch.path.read_bytes()
    ch.serve_once(_echo, 10)
    asking.join(10)
    client.close()
    return data


def _channel_files(scratch: Path) -> list[tuple[bytes, CF.Layout]]:
    out = []
    for index, (slots, slot_bytes, meta_bytes) in enumerate(_SHAPES):
        with shmring.Channel.create(scratch / f"chan{index}", slots, slot_bytes, meta_bytes) as ch:
            layout = ch._attachment().layout
            _exchanges(ch)
            out.append((ch.path.read_bytes(), layout))
            out.append((_with_posted_request(ch), layout))
            ch.unlink()
    return out


def _header_seeds(scratch: Path) -> list[Seed]:
    return [Seed(data, _HEADER_FIELDS, (0, CF.OFF_SERVER_EPOCH + 4)) for data, _ in _channel_files(scratch)]


def _slot_seeds(scratch: Path) -> list[Seed]:
    seeds = []
    for data, layout in _channel_files(scratch):
        fields = tuple(f for i in range(layout.slots) for f in _slot_fields(layout, i))
        start = layout.slot_offset(0)
        seeds.append(Seed(data, fields, (start, start + layout.payload_offset + 64)))
    return seeds


def _case_name(scratch: Path) -> str:
    return "case"


def _serve_as_if_their_clients_lived(server: shmring.Channel) -> None:
    """Serve the requests the file holds while their slots' leases are held, as by live (hostile) clients.

    (A request whose client is gone is dropped unread; a live client's is read and checked.)
    """
    att = server._attachment()
    leases = [Lease.try_take(att.seg.fd, att.layout.slot_offset(i)) for i in range(server.slots)]
    try:
        server.serve_pending(_echo)
    finally:
        for lease in leases:
            if lease is not None:
                lease.release()


def open_channel(path: Path) -> None:
    """What a channel's users do: open, inspect, serve what is posted, then ask with a server running."""
    with shmring.Channel.open(path) as server:
        server.info()
        _serve_as_if_their_clients_lived(server)
        with server.serve(_echo), shmring.Channel.open(path) as client:
            for n in range(client.slots + 1):  # every slot, whatever its words said
                client.info()
                client.request(b"ping %d" % n, timeout=WAIT_S)
            if client.slot_bytes >= 16:
                client.request(np.arange(2, dtype=np.int64), meta={"K": 1} if client.meta_bytes >= 16 else None,
                               timeout=WAIT_S)


CHANNEL_LAYOUTS = {
    "channel header": Layout("channel header", _header_seeds, _case_name),
    "channel slots": Layout("channel slots", _slot_seeds, _case_name),
}
CHANNEL_OPENERS = {
    ("channel header", "python Channel.open"): open_channel,
    ("channel slots", "python Channel.open"): open_channel,
}
