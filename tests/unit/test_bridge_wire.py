"""The bridge's wire format: round trips, and every field refused with its reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("zmq")
from shmring.bridge import Receiver, Sender, make_keys
from shmring.bridge import _wire as W

LIMIT = 1 << 30


def _header(**fields: object) -> W.Header:
    base: dict[str, object] = dict(
        kind=W.KIND_FRAME, ring_flags=W.RING_FIXED_SCHEMA, ring_id=7, session=11, seq=3, write_seq=9,
        sender_lost=2, timestamp_ns=123, monotonic_ns=456, flags=1, meta_len=0, payload_len=64, typestr="<u2",
        shape=(4, 8), slots=4, meta_bytes=256, slot_bytes=64)
    base.update(fields)
    return W.Header(**base)  # type: ignore[arg-type]


def test_a_frame_round_trips_every_field() -> None:
    meta = W.encode_meta({"EXPTIME": 1.5, "OBJECT": "M31"})
    h = _header(meta_len=len(meta))
    payload = np.arange(32, dtype="<u2").tobytes()
    got, got_meta, got_payload = W.parse([W.pack_header(h), meta, payload], LIMIT)
    assert got == h
    assert got_meta == {"EXPTIME": 1.5, "OBJECT": "M31"}
    assert got_payload is not None and bytes(got_payload) == payload
    assert W.HEADER.size == 136


def test_a_beat_and_a_credit_round_trip() -> None:
    beat = _header(kind=W.KIND_BEAT, payload_len=0)
    assert W.parse([W.pack_header(beat)], LIMIT) == (beat, {}, None)
    credit = W.Credit(session=5, ring_id=7, next_seq=100, window=4)
    assert W.parse_credit(W.pack_credit(credit)) == credit
    assert W.CREDIT.size == 40


def _parts(h: W.Header, meta: bytes = b"", payload: bytes = bytes(64)) -> list[bytes]:
    return [W.pack_header(h), meta, payload]


@pytest.mark.parametrize(("parts", "reason", "says"), [
    ([], "parts", "empty"),
    ([b"\0" * 10], "header size", "136 bytes, got 10"),
    ([b"NOPE" + W.pack_header(_header())[4:], b"", bytes(64)], "magic", "b'NOPE'"),
    ([W.pack_header(_header())[:4] + b"\x02" + W.pack_header(_header())[5:], b"", bytes(64)], "version", "got 2"),
    ([W.pack_header(_header(kind=9)), b"", bytes(64)], "kind", "got kind 9"),
    ([W.pack_header(_header())], "parts", "3 parts, got 1"),
    (_parts(_header(), payload=bytes(63)), "payload length", "64 bytes, the part has 63"),
    (_parts(_header(meta_len=3)), "meta length", "3 bytes, the part has 0"),
    (_parts(_header(meta_len=1000, meta_bytes=256)), "meta length", "more than the ring's 256"),
    (_parts(_header(meta_len=2), meta=b"[]"), "meta", "JSON object"),
    (_parts(_header(meta_len=2), meta=b"\xff\xfe"), "meta", "not UTF-8 JSON"),
    (_parts(_header(shape=(1 << 40, 1 << 40))), "shape", "makes"),
    (_parts(_header(shape=(4, 4))), "shape", "makes 32 bytes, payload_len says 64"),
    (_parts(_header(typestr="|O8")), "dtype", "not a bool/int/uint/float/complex"),
    (_parts(_header(typestr="<u\x002")), "dtype", "NUL-padded ASCII"),
    (_parts(_header(seq=1 << 62)), "seq", "< 2**62"),
    (_parts(_header(slots=1)), "ring geometry", "slots 1"),
    (_parts(_header(slot_bytes=LIMIT + 1)), "ring geometry", "max_frame_bytes"),
    (_parts(_header(ring_flags=0x80)), "ring flags", "0x80"),
    ([W.pack_header(_header(kind=W.KIND_BEAT, payload_len=64))], "beat", "carries no data"),
])
def test_a_bad_field_is_refused_with_its_reason(parts: list[bytes], reason: str, says: str) -> None:
    with pytest.raises(W.WireError) as err:
        W.parse(parts, LIMIT)
    assert err.value.reason == reason
    assert says in str(err.value)


def test_ndim_above_four_is_refused() -> None:
    raw = bytearray(W.pack_header(_header()))
    raw[6] = 5
    with pytest.raises(W.WireError, match="ndim 5"):
        W.parse([bytes(raw), b"", bytes(64)], LIMIT)


@pytest.mark.parametrize(("raw", "says"), [
    (b"\0" * 39, "40 bytes, got 39"),
    (W.pack_credit(W.Credit(1, 0, 0, 4))[:5] + b"\x01" + W.pack_credit(W.Credit(1, 0, 0, 4))[6:], "got kind 1"),
    (W.pack_credit(W.Credit(1, 0, 0, 0)), "window 0"),
    (W.pack_credit(W.Credit(1, 0, 1 << 62, 4)), "next_seq"),
])
def test_a_bad_credit_is_refused(raw: bytes, says: str) -> None:
    with pytest.raises(W.WireError, match=says):
        W.parse_credit(raw)


@pytest.mark.parametrize("endpoint", ["127.0.0.1:5555", "tcp://127.0.0.1", "tcp://127.0.0.1:99999", "udp://x:1"])
def test_a_bad_endpoint_is_a_value_error_naming_the_parameter(endpoint: str) -> None:
    with pytest.raises(ValueError, match=r"connect must be tcp://HOST:PORT"):
        Receiver(endpoint, "ring")
    with pytest.raises(ValueError, match=r"bind must be tcp://HOST:PORT"):
        Sender("ring", endpoint)


def test_bad_receiver_options_name_themselves() -> None:
    with pytest.raises(ValueError, match="window must be an int >= 1, got 0"):
        Receiver("tcp://127.0.0.1:1", "ring", window=0)
    with pytest.raises(ValueError, match="policy must be overwrite, block or drop, got 'fifo'"):
        Receiver("tcp://127.0.0.1:1", "ring", policy="fifo")


def test_make_keys_keeps_the_server_key_and_allows_each_client(tmp_path: Path) -> None:
    first = make_keys(tmp_path, "alpha")
    server = first["server_secret"].read_bytes()
    make_keys(tmp_path, "beta")
    assert first["server_secret"].read_bytes() == server, "making a second client must not replace the server key"
    assert sorted(p.name for p in (tmp_path / "allowed").iterdir()) == ["alpha.key", "beta.key"]
    assert first["client_secret"].stat().st_mode & 0o077 == 0, "secret keys must be private to their owner"
    with pytest.raises(ValueError, match="client must be a plain name"):
        make_keys(tmp_path, "../evil")
