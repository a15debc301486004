"""Channels and pollable descriptors across real processes: load, crashes on both sides, event loops."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import resource
import selectors
import signal
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

import _channel_children as kids
import numpy as np
import pytest

import shmring

SPAWN = mp.get_context("spawn")
Spawn = Callable[..., BaseProcess]
JOIN_S = 30.0


def _join_ok(proc: BaseProcess, what: str) -> None:
    proc.join(JOIN_S)
    assert not proc.is_alive(), f"{what} still running after {JOIN_S} s"
    assert proc.exitcode == kids.EXIT_OK, f"{what} exited with {proc.exitcode}"


def _start_server(spawn: Spawn, target: Callable[..., None], *args: object) -> BaseProcess:
    ready = SPAWN.Event()
    proc = spawn(target, *args[:1], ready, *args[1:])
    assert ready.wait(JOIN_S), f"server process did not start serving within {JOIN_S} s"
    return proc


def test_four_clients_two_thousand_requests_each_get_their_own_replies(
        shm_dir: Path, unique_name: str, spawn: Spawn) -> None:
    shmring.Channel.create(unique_name, slots=4, slot_bytes=256).close()
    server = _start_server(spawn, kids.serve_echo, unique_name)
    clients = [spawn(kids.hammer, unique_name, c, 2000) for c in range(4)]
    for c, proc in enumerate(clients):
        _join_ok(proc, f"client {c}")
    assert server.is_alive(), "the server died under load"
    with shmring.Channel.open(unique_name) as ch:
        assert ch.info()["requests"] == 4 * 2000


def test_server_killed_under_load_fails_every_client_before_its_timeout_and_a_new_server_serves(
        shm_dir: Path, unique_name: str, spawn: Spawn) -> None:
    request_timeout = 10.0
    shmring.Channel.create(unique_name, slots=8, slot_bytes=256).close()
    server = _start_server(spawn, kids.serve_echo, unique_name)
    reports = []
    for c in range(3):
        warm, (mine, theirs) = SPAWN.Event(), SPAWN.Pipe(duplex=False)
        reports.append((spawn(kids.hammer_until_broken, unique_name, c, warm, theirs, request_timeout), warm, mine))
    for c, (_, warm, _) in enumerate(reports):
        assert warm.wait(JOIN_S), f"client {c} got no 50 replies within {JOIN_S} s"
    os.kill(server.pid, signal.SIGKILL)  # type: ignore[arg-type]
    killed_at = time.monotonic()
    server.join(JOIN_S)
    for c, (proc, _, conn) in enumerate(reports):
        assert conn.poll(JOIN_S), f"client {c} reported nothing within {JOIN_S} s of the kill"
        error, at, replies = conn.recv()
        assert error == "BrokenError", f"client {c} got {error} after {replies} replies, not BrokenError"
        assert at - killed_at < request_timeout, (
            f"client {c} learned of the dead server {at - killed_at:.2f} s after the kill: its "
            f"{request_timeout} s timeout, not the server's lease, ended the wait")
        _join_ok(proc, f"client {c}")

    _start_server(spawn, kids.serve_echo, unique_name)
    with shmring.Channel.open(unique_name) as ch:
        assert ch.request(b"after restart", timeout=JOIN_S) == b"after restart"
        assert ch.info()["server_epoch"] == 2


def test_client_killed_mid_request_leaves_the_server_serving_and_its_slot_reusable(
        shm_dir: Path, unique_name: str, spawn: Spawn) -> None:
    shmring.Channel.create(unique_name, slots=1, slot_bytes=256).close()  # one slot: it must come back
    holding, release = SPAWN.Event(), SPAWN.Event()
    server = _start_server(spawn, kids.serve_holding, unique_name, holding, release)
    client = spawn(kids.request_hold, unique_name)
    assert holding.wait(JOIN_S), f"the server did not receive the client's request within {JOIN_S} s"
    os.kill(client.pid, signal.SIGKILL)  # type: ignore[arg-type]
    client.join(JOIN_S)
    release.set()  # the handler returns; its reply has no reader
    with shmring.Channel.open(unique_name) as ch:
        assert ch.request(b"next client", timeout=JOIN_S) == b"next client"
        assert ch.request(b"and again", timeout=JOIN_S) == b"and again"
    assert server.is_alive(), "the server died with its client"


def test_channel_fileno_with_selectors_serves_a_client_in_another_process(
        shm_dir: Path, unique_name: str, spawn: Spawn) -> None:
    with shmring.Channel.create(unique_name, slots=2, slot_bytes=256) as ch:
        fd = ch.fileno()
        client = spawn(kids.few_requests, unique_name, 5)
        served = 0
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            deadline = time.monotonic() + JOIN_S
            while served < 5 and time.monotonic() < deadline:
                if sel.select(timeout=1.0):
                    os.read(fd, 8)
                    served += ch.serve_pending(lambda request, meta: request.upper())
        assert served == 5, f"served {served} of 5 requests within {JOIN_S} s"
        _join_ok(client, "client")


def test_reader_fileno_with_selectors_sees_frames_written_by_another_process(
        shm_dir: Path, unique_name: str, spawn: Spawn) -> None:
    go = SPAWN.Event()
    with shmring.Ring.create(unique_name, slots=64, slot_bytes=64) as ring, ring.reader() as reader:
        fd = reader.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            assert sel.select(timeout=0.2) == [], "readable before any frame was written"
            writer = spawn(kids.write_frames, unique_name, 20, go)
            go.set()
            got: list[int] = []
            deadline = time.monotonic() + JOIN_S
            while len(got) < 20 and time.monotonic() < deadline:
                if sel.select(timeout=1.0):
                    os.read(fd, 8)
                    while (frame := reader.try_get()) is not None:
                        got.append(int(frame.data[0]))
        assert got == list(range(20)), f"frames seen through the descriptor: {got}"
        _join_ok(writer, "writer")


def test_reader_fileno_with_asyncio_add_reader(shm_dir: Path, unique_name: str, spawn: Spawn) -> None:
    go = SPAWN.Event()

    async def collect(reader: shmring.Reader, count: int) -> list[int]:
        loop = asyncio.get_running_loop()
        got: list[int] = []
        done = asyncio.Event()

        def on_readable() -> None:  # the usual add_reader pattern: clear, then take everything there is
            os.read(reader.fileno(), 8)
            while (frame := reader.try_get()) is not None:
                got.append(int(frame.data[0]))
            if len(got) >= count:
                done.set()

        loop.add_reader(reader.fileno(), on_readable)
        try:
            await asyncio.wait_for(done.wait(), JOIN_S)
        finally:
            loop.remove_reader(reader.fileno())
        return got

    with shmring.Ring.create(unique_name, slots=64, slot_bytes=64) as ring, ring.reader() as reader:
        writer = spawn(kids.write_frames, unique_name, 10, go)
        go.set()
        assert asyncio.run(collect(reader, 10)) == list(range(10))
        _join_ok(writer, "writer")


def test_arequest_from_asyncio_against_a_server_process(shm_dir: Path, unique_name: str, spawn: Spawn) -> None:
    shmring.Channel.create(unique_name, slots=4, slot_bytes=256).close()
    _start_server(spawn, kids.serve_echo, unique_name)

    async def ask(ch: shmring.Channel) -> list[object]:
        return list(await asyncio.gather(*(ch.arequest(np.arange(i + 1), timeout=JOIN_S) for i in range(4))))

    with shmring.Channel.open(unique_name) as ch:
        replies = asyncio.run(ask(ch))
    for i, reply in enumerate(replies):
        assert np.array_equal(reply, np.arange(i + 1)), f"reply {i}: {reply!r}"  # type: ignore[arg-type]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@pytest.mark.parametrize("kind", ["reader", "channel"])
def test_an_idle_descriptor_waiter_does_not_busy_loop(shm_dir: Path, unique_name: str, kind: str) -> None:
    if kind == "reader":
        owner: shmring.Ring | shmring.Channel = shmring.Ring.create(unique_name, slots=4, slot_bytes=64)
        handle: shmring.Reader | shmring.Channel = owner.reader()  # type: ignore[union-attr]
    else:
        owner = handle = shmring.Channel.create(unique_name, slots=2, slot_bytes=64)
    try:
        fd = handle.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            cpu, wall = _cpu_seconds(), time.monotonic()
            events = sel.select(timeout=1.5)
            cpu, wall = _cpu_seconds() - cpu, time.monotonic() - wall
        assert events == [], "the descriptor became readable with nothing written"
        assert cpu < 0.1 * wall, f"{cpu:.3f} s of CPU in {wall:.2f} s idle: the waiter thread is spinning"
    finally:
        owner.close()
