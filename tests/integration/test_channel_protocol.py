"""The channel protocol's crash paths, driven step by step on a real segment (docs/format.md, "Channel protocol")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import shmring
from shmring import _channel_codec as codec
from shmring import _channel_format as CF
from shmring._channel_server import ServerRole
from shmring._channel_slots import SlotTable


def _post(table: SlotTable, fd: int, data: bytes) -> tuple[int, object, int]:
    """What a client does up to posting: claim a slot, write the request, post it."""
    got = table.claim(fd)
    assert got is not None, "no slot could be claimed"
    index, lease, claimed = got
    enc = codec.encode(data, "request")
    table.write(index, CF.SlotHeader(table.new_id(), enc.raw.nbytes, enc.kind, 0), b"", enc)
    return index, lease, table.post(index, claimed)


def test_a_new_server_turns_what_a_dead_one_was_serving_into_broken_errors(shm_dir: Path, unique_name: str) -> None:
    with shmring.Channel.create(unique_name, slots=2, slot_bytes=64) as ch:
        att = ch._attachment()
        table = att.table
        index, lease, _ = _post(table, att.seg.fd, b"move stage")
        taken = table.take()  # the server that then "dies": it took the request, never replied
        assert taken is not None and taken[0] == index
        role = ServerRole(table, att.seg.fd)  # the next server
        try:
            assert CF.phase(table.state(index)) == CF.REPLY
            header, body, _ = table.read(index)
            assert header.kind == CF.KIND_ERROR
            fields = codec.decode_error(body)  # type: ignore[arg-type]
            assert fields["broken"] is True and "died while handling request" in fields["message"]
        finally:
            role.release()
            lease.release()  # type: ignore[attr-defined]


def test_a_new_server_frees_abandoned_slots_and_keeps_posted_requests(shm_dir: Path, unique_name: str) -> None:
    with shmring.Channel.create(unique_name, slots=2, slot_bytes=64) as ch:
        att = ch._attachment()
        table = att.table
        first, lease1, _ = _post(table, att.seg.fd, b"one")
        taken = table.take()
        assert taken is not None
        assert table.withdraw(first, taken[1]) == "abandoned"  # its client gave up while it was served
        second, lease2, _ = _post(table, att.seg.fd, b"two")  # posted, never taken
        role = ServerRole(table, att.seg.fd)
        try:
            assert CF.phase(table.state(first)) == CF.FREE
            assert CF.phase(table.state(second)) == CF.REQUEST
            assert role.serve_pending(lambda request, meta: request.upper()) == 1
            assert table.read(second)[1] == b"TWO"
        finally:
            role.release()
            lease1.release()  # type: ignore[attr-defined]
            lease2.release()  # type: ignore[attr-defined]


def test_a_stale_look_cannot_move_a_slot_that_began_a_new_exchange(shm_dir: Path, unique_name: str) -> None:
    with shmring.Channel.create(unique_name, slots=1, slot_bytes=64) as ch:
        att = ch._attachment()
        table = att.table
        index, lease, posted = _post(table, att.seg.fd, b"old")
        assert table.withdraw(index, posted) == "withdrawn"
        table.finish(index, CF.state_word(CF.ticket(posted), CF.CLAIMED))
        again = table.claim_leased(index)
        assert again is not None
        new_posted = table.post(index, again)
        # The server's look before the withdrawal said "request, ticket t": it must not take ticket t+1.
        assert not table.move(index, posted, CF.state_word(CF.ticket(posted), CF.SERVING))
        assert table.state(index) == new_posted
        lease.release()  # type: ignore[attr-defined]


def test_the_server_drops_the_request_of_a_client_that_died(shm_dir: Path, unique_name: str) -> None:
    with shmring.Channel.create(unique_name, slots=1, slot_bytes=64) as ch:
        att = ch._attachment()
        table = att.table
        index, lease, _ = _post(table, att.seg.fd, b"orphan")
        lease.release()  # type: ignore[attr-defined]  # what the kernel does when the client dies
        calls: list[bytes] = []
        role = ServerRole(table, att.seg.fd)
        try:
            assert role.serve_pending(lambda request, meta: calls.append(request) or request) == 1
        finally:
            role.release()
        assert calls == [], "the handler ran for a client that was gone"
        assert CF.phase(table.state(index)) == CF.FREE


def test_a_corrupt_request_gets_an_error_reply_not_a_crash(shm_dir: Path, unique_name: str) -> None:
    with shmring.Channel.create(unique_name, slots=1, slot_bytes=64) as ch:
        att = ch._attachment()
        table = att.table
        got = table.claim(att.seg.fd)
        assert got is not None
        index, lease, claimed = got
        # A hostile or broken peer: payload length beyond slot_bytes.
        ident = table.new_id()
        table.write(index, CF.SlotHeader(ident, 10_000, CF.KIND_BYTES, 0), b"",
                    codec.encode(b"", "request"))
        table.post(index, claimed)
        role = ServerRole(table, att.seg.fd)
        try:
            assert role.serve_pending(lambda request, meta: pytest.fail("handler called")) == 1
        finally:
            role.release()
        header, body, _ = table.read(index)
        assert header.kind == CF.KIND_ERROR and "LayoutError" in body.decode()  # type: ignore[attr-defined]
        assert header.id == ident, "the error reply does not carry its request's id"
        lease.release()  # type: ignore[attr-defined]
        assert os.path.exists(shm_dir / unique_name)
