"""The channel's exchange steps in C (shmring._core.channel_*) on a plain buffer: the bytes they
write are those the layout module reads, and bad arguments are refused with the numbers."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from shmring import _channel_codec as codec
from shmring import _channel_format as CF
from shmring import _core, _sync

LAYOUT = CF.Layout(slots=3, slot_bytes=256, meta_bytes=64)
PAY = LAYOUT.payload_offset
SLOT_BYTES = LAYOUT.slot_bytes


def _mapping() -> bytearray:
    buf = bytearray(LAYOUT.total_bytes)
    CF.write_header(buf, LAYOUT)
    return buf


def _claimed(buf: bytearray, index: int) -> int:
    state = CF.next_claim(_sync.load32(buf, LAYOUT.state_offset(index)))
    _sync.store32(buf, LAYOUT.state_offset(index), state)
    return state


def _post(buf: bytearray, index: int, ident: int, data: object = b"ping", meta: bytes = b"") -> int:
    enc = codec.encode(data, "request")
    return _core.channel_post(buf, LAYOUT.slot_offset(index), PAY, SLOT_BYTES, _claimed(buf, index), ident,
                              enc.kind, enc.typestr, enc.shape, 4321, meta, enc.raw)


def test_a_posted_request_reads_back_field_by_field_through_the_layout_module() -> None:
    buf = _mapping()
    array = np.arange(6, dtype="<u2").reshape(2, 3)
    posted = _post(buf, 1, 77, array, b'{"a":1}')
    assert CF.phase(posted) == CF.REQUEST and CF.ticket(posted) == 1
    assert _sync.load32(buf, LAYOUT.state_offset(1)) == posted
    h = CF.unpack_slot(buf, LAYOUT, 1)
    assert (h.id, h.payload_bytes, h.kind, h.meta_len) == (77, 12, CF.KIND_ARRAY, 7)
    assert (h.typestr, h.shape, h.client_pid) == ("<u2", (2, 3), 4321)
    assert h.posted_ns > 0
    assert bytes(buf[LAYOUT.meta_offset(1):LAYOUT.meta_offset(1) + 7]) == b'{"a":1}'
    start = LAYOUT.payload_start(1)
    assert bytes(buf[start:start + 12]) == array.tobytes()
    assert _sync.load32(buf, CF.OFF_REQUESTS) == 1  # `posted` bumped for a spinning server


def test_take_moves_the_oldest_posted_request_to_serving_and_then_finds_none() -> None:
    buf = _mapping()
    _post(buf, 0, 9)
    _post(buf, 2, 4)
    index, serving = _core.channel_take(buf, LAYOUT.slots, LAYOUT.slot_stride)  # type: ignore[misc]
    assert index == 2 and CF.phase(serving) == CF.SERVING
    assert _sync.load32(buf, LAYOUT.state_offset(2)) == serving
    assert _core.channel_take(buf, LAYOUT.slots, LAYOUT.slot_stride) == (0, CF.state_word(1, CF.SERVING))
    assert _core.channel_take(buf, LAYOUT.slots, LAYOUT.slot_stride) is None


def test_a_reply_is_read_back_and_the_client_read_frees_the_slot() -> None:
    buf = _mapping()
    _post(buf, 0, 5, b"question")
    index, serving = _core.channel_take(buf, LAYOUT.slots, LAYOUT.slot_stride)  # type: ignore[misc]
    assert index == 0
    assert _core.channel_read_bytes(buf, LAYOUT.slot_offset(0), PAY, SLOT_BYTES, serving, False) == (5, b"question")
    assert _core.channel_reply(buf, LAYOUT.slot_offset(0), PAY, SLOT_BYTES, serving, 5, CF.KIND_BYTES, "", (),
                               os.getpid(), b"", b"answer")
    replied = CF.state_word(CF.ticket(serving), CF.REPLY)
    assert _core.channel_read_bytes(buf, LAYOUT.slot_offset(0), PAY, SLOT_BYTES, replied, True) == (5, b"answer")
    assert _sync.load32(buf, LAYOUT.state_offset(0)) == CF.state_word(CF.ticket(serving), CF.FREE)


def test_a_reply_to_an_abandoned_slot_is_refused_and_leaves_it_alone() -> None:
    buf = _mapping()
    _post(buf, 0, 5)
    _, serving = _core.channel_take(buf, LAYOUT.slots, LAYOUT.slot_stride)  # type: ignore[misc]
    abandoned = CF.state_word(CF.ticket(serving), CF.ABANDONED)
    _sync.store32(buf, LAYOUT.state_offset(0), abandoned)
    assert not _core.channel_reply(buf, LAYOUT.slot_offset(0), PAY, SLOT_BYTES, serving, 5, CF.KIND_BYTES, "", (),
                                   1, b"", b"late")
    assert _sync.load32(buf, LAYOUT.state_offset(0)) == abandoned


@pytest.mark.parametrize("data, meta", [(np.zeros(3, "<f4"), b""), (b"x", b'{"k":1}')])
def test_read_bytes_leaves_arrays_metadata_and_other_states_to_the_general_path(data: object, meta: bytes) -> None:
    buf = _mapping()
    posted = _post(buf, 0, 1, data, meta)
    assert _core.channel_read_bytes(buf, LAYOUT.slot_offset(0), PAY, SLOT_BYTES, posted, True) is None
    assert _core.channel_read_bytes(buf, LAYOUT.slot_offset(1), PAY, SLOT_BYTES, posted, True) is None
    assert _sync.load32(buf, LAYOUT.state_offset(0)) == posted  # nothing moved


def test_a_wait_with_no_time_left_reports_a_timed_out_slice_and_a_reply_ends_a_sleep() -> None:
    buf = _mapping()
    posted = _post(buf, 0, 1)
    state, spun, caught, timed_out = _core.channel_wait(buf, LAYOUT.slot_offset(0), posted, 0.0, 0.0)
    assert (state, spun, caught, timed_out) == (posted, 0.0, False, True)
    serving = _core.channel_take(buf, LAYOUT.slots, LAYOUT.slot_stride)[1]  # type: ignore[index]
    replier = threading.Thread(target=lambda: (
        _wait_for_sleeper(buf),
        _core.channel_reply(buf, LAYOUT.slot_offset(0), PAY, SLOT_BYTES, serving, 1, 0, "", (), 1, b"", b"r")))
    replier.start()
    state, _, caught, timed_out = _core.channel_wait(buf, LAYOUT.slot_offset(0), posted, 0.0, 30.0)
    replier.join()
    assert CF.phase(state) == CF.REPLY and not caught and not timed_out
    assert _sync.load32(buf, LAYOUT.waiters_offset(0)) == 0  # the waiter counted itself out


def _wait_for_sleeper(buf: bytearray) -> None:
    while not _sync.load32(buf, LAYOUT.waiters_offset(0)):
        _sync.futex_wait(buf, LAYOUT.waiters_offset(0), 0, 0.01)  # bounded poll on the counter


def test_next_takes_a_posted_request_and_returns_none_when_the_slice_ends() -> None:
    buf = _mapping()
    seen = _sync.load32(buf, CF.OFF_REQUESTS)
    assert _core.channel_next(buf, LAYOUT.slots, LAYOUT.slot_stride, seen, 0.0, 0.0) == (None, 0.0, False)
    got, _, caught = _core.channel_next(buf, LAYOUT.slots, LAYOUT.slot_stride, seen, 0.0, 0.001)
    assert got is None and not caught
    _post(buf, 1, 3)
    got, _, _ = _core.channel_next(buf, LAYOUT.slots, LAYOUT.slot_stride, seen, 0.0, 0.0)
    assert got == (1, CF.state_word(1, CF.SERVING))
    assert _sync.load32(buf, CF.OFF_REQUESTS + 4) == 0  # no sleeper left counted


def _post_args(**change: object) -> list[object]:
    args = dict(buf=_mapping(), slot=LAYOUT.slot_offset(0), pay=PAY, size=SLOT_BYTES, state=CF.state_word(1, 1),
                ident=1, kind=0, typestr="", shape=(), pid=1, meta=b"", payload=b"x")
    args.update(change)
    return list(args.values())


@pytest.mark.parametrize("change, error, words", [
    ({"slot": LAYOUT.total_bytes}, ValueError, "does not fit"),
    ({"size": LAYOUT.total_bytes}, ValueError, "does not fit"),
    ({"pay": 8}, ValueError, "does not fit"),
    ({"buf": bytes(LAYOUT.total_bytes)}, TypeError, "writable buffer, got bytes"),
    ({"typestr": "<f4567890"}, ValueError, "at most 8 characters"),
    ({"typestr": b"<f4"}, TypeError, "typestr must be a str"),
    ({"shape": (1, 2, 3, 4, 5)}, TypeError, "at most 4 ints"),
    ({"shape": (-1,)}, ValueError, "a shape entry must be >= 0, got -1"),
    ({"meta": bytes(PAY)}, ValueError, f"metadata of {PAY} bytes does not fit"),
    ({"payload": bytes(SLOT_BYTES + 1)}, ValueError, f"payload of {SLOT_BYTES + 1} bytes does not fit a {SLOT_BYTES}"),
    ({"state": 2**32}, ValueError, "state must be in 0..2**32-1"),
    ({"kind": "0"}, TypeError, "kind must be an int, got str"),
])
def test_post_refuses_bad_arguments_naming_them(change: dict[str, object], error: type[Exception], words: str) -> None:
    args = _post_args(**change)
    before = bytes(args[0]) if isinstance(args[0], bytearray) else None  # type: ignore[arg-type]
    with pytest.raises(error, match=words.replace("*", r"\*").replace("(", r"\(")):
        _core.channel_post(*args)
    if before is not None:
        assert bytes(args[0]) == before  # type: ignore[arg-type]  # nothing written


def test_the_other_steps_refuse_bad_arguments_naming_them() -> None:
    buf = _mapping()
    with pytest.raises(ValueError, match="4 slots of 4096 bytes do not fit"):
        _core.channel_take(buf, 4, LAYOUT.slot_stride)
    with pytest.raises(ValueError, match="spin must be >= 0 seconds"):
        _core.channel_wait(buf, LAYOUT.slot_offset(0), 0, -1.0, 0.0)
    with pytest.raises(ValueError, match="sleep must be >= 0 seconds, got nan"):
        _core.channel_next(buf, LAYOUT.slots, LAYOUT.slot_stride, 0, 0.0, float("nan"))
    with pytest.raises(ValueError, match="not an aligned slot"):
        _core.channel_wait(buf, LAYOUT.total_bytes, 0, 0.0, 0.0)
    with pytest.raises(TypeError, match=r"takes exactly 6 arguments \(2 given\)"):
        _core.channel_read_bytes(buf, 0)  # type: ignore[call-arg]
