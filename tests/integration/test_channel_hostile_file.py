"""A channel file whose words a corrupt or hostile peer wrote: the server and its clients go on.

Each case is one the chaos campaign's fuzzer found (benchmarks/chaos/channel_targets.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import shmring
from shmring import _channel_codec as codec
from shmring import _channel_format as CF
from shmring import _sync
from shmring._locks import Lease


def _post_array(ch: shmring.Channel, typestr: str, shape: tuple[int, ...], nbytes: int,
                meta: bytes = b"") -> tuple[int, Lease]:
    """Post a request whose header declares ``typestr`` x ``shape`` in ``nbytes``, as a hostile client would.

    Returns the slot and its lease (the poster's sign of life: hold it until the reply is read).
    """
    att = ch._attachment()
    table = att.table
    got = table.claim(att.seg.fd)
    assert got is not None, "no slot could be claimed"
    index, lease, claimed = got
    enc = codec.Encoded(CF.KIND_ARRAY, memoryview(bytes(nbytes)), typestr, shape)
    table.write(index, CF.SlotHeader(table.new_id(), nbytes, CF.KIND_ARRAY, len(meta), typestr, shape), meta, enc)
    table.post(index, claimed)
    return index, lease


@pytest.mark.parametrize(("typestr", "shape", "nbytes"), [
    ("<i3", (2,), 6),                    # a typestr numpy has no type for
    ("<c4", (1,), 4),
    ("<u0", (1,), 0),
    ("<f8", (2**62, 2**62), 0),          # a shape whose product wraps to 0 in int64
    ("<f8", (2**32, 2**32), 0),
])
def test_a_request_declaring_an_impossible_array_gets_an_error_reply_and_the_server_goes_on(
        shm_dir: Path, unique_name: str, typestr: str, shape: tuple[int, ...], nbytes: int) -> None:
    with shmring.Channel.create(unique_name, slots=2, slot_bytes=64, meta_bytes=256) as ch:
        index, lease = _post_array(ch, typestr, shape, nbytes)
        with ch.serve(lambda request, meta: request) as server, shmring.Channel.open(unique_name) as client:
            assert client.request(b"after", timeout=10) == b"after", "the server stopped after a hostile request"
            assert server.running
        header, body, _ = ch._attachment().table.read(index)
        lease.release()
        assert header.kind == CF.KIND_ERROR and b"LayoutError" in body, body  # type: ignore[operator]


def test_request_metadata_nested_past_the_parsers_limit_reads_as_invalid_and_the_server_goes_on(
        shm_dir: Path, unique_name: str) -> None:
    seen: list[dict[str, object]] = []

    def handler(request: object, meta: dict[str, object]) -> object:
        seen.append(meta)
        return b"ok"

    with shmring.Channel.create(unique_name, slots=2, slot_bytes=64, meta_bytes=4096) as ch:
        _, lease = _post_array(ch, "<i2", (2,), 4, meta=b"[" * 4000)
        with ch.serve(handler) as server, shmring.Channel.open(unique_name) as client:
            assert client.request(b"after", timeout=10) == b"ok"
            assert server.running
        lease.release()
        assert "_invalid" in seen[0], seen


def test_correlation_ids_wrap_at_2_64_like_the_u64_they_are(shm_dir: Path, unique_name: str) -> None:
    with shmring.Channel.create(unique_name, slots=2, slot_bytes=64) as ch, ch.serve(lambda r, m: r):
        _sync.store64(ch._attachment().table.buf, CF.OFF_NEXT_ID, 2**64 - 1)
        with shmring.Channel.open(unique_name) as client:
            assert client.call(b"last", timeout=10).id == 0
            assert client.call(np.arange(3), timeout=10).id == 1
