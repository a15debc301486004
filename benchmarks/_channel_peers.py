"""The request/reply subjects of ``benchmarks/channel.py``: each an echo server and a client.

``prepare(subject, where)`` returns ``(server_arg, client_arg)``; the server
runs ``SERVERS[subject](server_arg, ready)`` in its own process (setting
``ready`` once it serves) and the client enters ``CLIENTS[subject](client_arg)``
for a function ``ask(request) -> reply``.
"""

from __future__ import annotations

import ctypes
import importlib.util
import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

Ask = Callable[[bytes], bytes]

SUBJECTS = ("channel", "channel-sleep", "channel-spin", "legacy", "iceoryx2", "zmq", "pipe")
#: Busy-polling of both sides of ``channel-spin`` before they sleep, in seconds.
SPIN_S = 50e-6
_NEEDS = {"zmq": "zmq", "iceoryx2": "iceoryx2"}


def missing(subject: str) -> str:
    """Why ``subject`` cannot run here ('' when it can)."""
    module = _NEEDS.get(subject)
    if module and importlib.util.find_spec(module) is None:
        return f"{module} is not installed (pip install -e '.[bench]')"
    return ""


def prepare(subject: str, where: str) -> tuple[Any, Any]:
    if subject.startswith("channel"):
        import shmring

        shmring.Channel.create(Path(where), slots=2, slot_bytes=4096).close()
    if subject == "pipe":
        server_end, client_end = mp.get_context("spawn").Pipe()
        return server_end, client_end
    if subject == "zmq":
        return f"ipc://{where}.sock", f"ipc://{where}.sock"
    if subject == "iceoryx2":
        name = f"shmring-bench-rr/{os.getpid()}/{Path(where).name}"
        return name, name
    return where, where


def cleanup(subject: str, where: str) -> None:
    for path in (where, f"{where}.sock"):
        if os.path.exists(path):
            os.unlink(path)


# -- servers (run in the server process) -------------------------------------------

def _channel_server(where: str, ready: Event, spin: float | None = None) -> None:
    import shmring

    def echo(request: Any, meta: dict[str, Any]) -> Any:
        return request

    ch = shmring.Channel.open(Path(where))
    ch.serve_pending(echo)  # takes the server role before saying "ready"
    ready.set()
    ch.serve_forever(echo, spin=spin)


def _channel_spin_server(where: str, ready: Event) -> None:
    _channel_server(where, ready, SPIN_S)


def _channel_sleep_server(where: str, ready: Event) -> None:
    _channel_server(where, ready, 0.0)


def _legacy_server(where: str, ready: Event) -> None:
    from shmring.legacy import answer

    ready.set()
    while True:
        answer(where, lambda text: text, timeout=None)


class _Msg64(ctypes.Structure):
    """iceoryx2's request and response type: 64 bytes."""

    _fields_ = [("data", ctypes.c_uint8 * 64)]


def _iox_service(name: str) -> Any:
    import iceoryx2 as iox

    iox.set_log_level_from_env_or(iox.LogLevel.Error)
    node = iox.NodeBuilder.new().create(iox.ServiceType.Ipc)
    service = node.service_builder(iox.ServiceName.new(name)).request_response(_Msg64, _Msg64).open_or_create()
    return node, service


def _iceoryx2_server(name: str, ready: Event) -> None:
    # The binding offers no blocking wait for a request (short of a second, event
    # service): poll, yielding the core between looks so one core can be shared.
    _node, service = _iox_service(name)
    server = service.server_builder().create()
    ready.set()
    while True:
        active = server.receive()
        if active is None:
            os.sched_yield()
            continue
        active.send_copy(active.payload().contents)
        active.delete()


def _zmq_server(address: str, ready: Event) -> None:
    import zmq

    sock = zmq.Context.instance().socket(zmq.REP)
    sock.bind(address)
    ready.set()
    while True:
        sock.send(sock.recv())


def _pipe_server(conn: Any, ready: Event) -> None:
    ready.set()
    while True:
        conn.send_bytes(conn.recv_bytes())


SERVERS: dict[str, Callable[[Any, Event], None]] = {
    "channel": _channel_server, "channel-sleep": _channel_sleep_server, "channel-spin": _channel_spin_server,
    "legacy": _legacy_server,
    "zmq": _zmq_server, "pipe": _pipe_server, "iceoryx2": _iceoryx2_server,
}


# -- clients -------------------------------------------------------------------------

@contextmanager
def _channel_client(where: str, spin: float | None = None) -> Iterator[Ask]:
    import shmring

    with shmring.Channel.open(Path(where)) as ch:
        yield lambda request: ch.request(request, timeout=10.0, spin=spin)  # type: ignore[no-any-return]


def _channel_spin_client(where: str) -> Any:
    return _channel_client(where, SPIN_S)


def _channel_sleep_client(where: str) -> Any:
    return _channel_client(where, 0.0)


@contextmanager
def _legacy_client(where: str) -> Iterator[Ask]:
    from shmring.legacy import send

    yield lambda request: send(where, request, timeout=10.0).encode()


@contextmanager
def _iceoryx2_client(name: str) -> Iterator[Ask]:
    node, service = _iox_service(name)
    client = service.client_builder().create()
    request = _Msg64()

    def ask(data: bytes) -> bytes:
        request.data[:] = data
        pending = client.send_copy(request)
        while (response := pending.receive()) is None:
            os.sched_yield()  # polled, as the server is
        reply = bytes(response.payload().contents.data)
        response.delete()
        pending.delete()
        return reply

    try:
        yield ask
    finally:
        client.delete()
        del node


@contextmanager
def _zmq_client(address: str) -> Iterator[Ask]:
    import zmq

    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.connect(address)

    def ask(request: bytes) -> bytes:
        sock.send(request)
        return sock.recv()  # type: ignore[no-any-return]

    try:
        yield ask
    finally:
        sock.close(linger=0)


@contextmanager
def _pipe_client(conn: Any) -> Iterator[Ask]:
    def ask(request: bytes) -> bytes:
        conn.send_bytes(request)
        return conn.recv_bytes()  # type: ignore[no-any-return]

    yield ask


CLIENTS: dict[str, Callable[[Any], Any]] = {
    "channel": _channel_client, "channel-sleep": _channel_sleep_client, "channel-spin": _channel_spin_client,
    "legacy": _legacy_client,
    "zmq": _zmq_client, "pipe": _pipe_client, "iceoryx2": _iceoryx2_client,
}
