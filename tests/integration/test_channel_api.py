"""Channel API in one process (server thread, client handle): payloads, errors, limits, validation."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shmring

WAIT_S = 10.0


def upper(request: Any, meta: dict[str, Any]) -> Any:
    return request.upper() if isinstance(request, bytes) else request * 2


@pytest.fixture
def served(shm_dir: Path, unique_name: str) -> Iterator[tuple[shmring.Channel, shmring.Channel]]:
    """(server handle serving ``upper``, client handle)."""
    with shmring.Channel.create(unique_name, slots=4, slot_bytes=4096, meta_bytes=256) as server:
        with server.serve(upper), shmring.Channel.open(unique_name) as client:
            yield server, client


def test_bytes_and_arrays_come_back_transformed(served: tuple[shmring.Channel, shmring.Channel]) -> None:
    _, client = served
    assert client.request(b"set exposure 2.5", timeout=WAIT_S) == b"SET EXPOSURE 2.5"
    assert client.request(bytearray(b"abc"), timeout=WAIT_S) == b"ABC"
    image = np.arange(12, dtype=np.uint16).reshape(3, 4)
    reply = client.request(image, timeout=WAIT_S)
    assert reply.dtype == np.uint16 and reply.shape == (3, 4)
    assert np.array_equal(reply, image * 2)
    strided = np.arange(20, dtype=np.float32)[::2]
    assert np.array_equal(client.request(strided, timeout=WAIT_S), strided * 2)
    assert client.request(b"", timeout=WAIT_S) == b""


def test_metadata_travels_both_ways_with_the_correlation_id(shm_dir: Path, unique_name: str) -> None:
    def handler(request: Any, meta: dict[str, Any]) -> shmring.Message:
        return shmring.Message(request, {"exposure": meta["exposure"] * 2, "ok": True})

    with shmring.Channel.create(unique_name, slots=2, slot_bytes=64) as ch, ch.serve(handler):
        first = ch.call(b"a", meta={"exposure": 2.5}, timeout=WAIT_S)
        second = ch.call(b"b", meta={"exposure": 1}, timeout=WAIT_S)
    assert first == shmring.Message(b"a", {"exposure": 5.0, "ok": True}, first.id)
    assert second.meta == {"exposure": 2, "ok": True}
    assert second.id == first.id + 1


def test_a_handler_exception_comes_back_as_remote_error_and_the_server_goes_on(
        shm_dir: Path, unique_name: str) -> None:
    def handler(request: Any, meta: dict[str, Any]) -> Any:
        if request == b"bad":
            raise KeyError("no such setting: 'gain'")
        return request

    with shmring.Channel.create(unique_name, slots=2, slot_bytes=64) as ch, ch.serve(handler) as server:
        with pytest.raises(shmring.RemoteError, match="KeyError.*no such setting") as info:
            ch.request(b"bad", timeout=WAIT_S)
        assert info.value.remote_type == "KeyError"
        assert ch.request(b"good", timeout=WAIT_S) == b"good"
        assert server.served == 2


def test_a_reply_the_slot_cannot_hold_is_an_error_for_its_client_only(shm_dir: Path, unique_name: str) -> None:
    with shmring.Channel.create(unique_name, slots=2, slot_bytes=400) as ch:
        with ch.serve(lambda request, meta: request * 100):
            with pytest.raises(shmring.RemoteError, match=r"reply is 500 bytes.*at most 400") as info:
                ch.request(b"12345", timeout=WAIT_S)
            assert info.value.remote_type == "FrameError"
            assert ch.request(b"1", timeout=WAIT_S) == b"1" * 100


def test_a_handler_reply_of_the_wrong_type_is_a_remote_type_error(shm_dir: Path, unique_name: str) -> None:
    with shmring.Channel.create(unique_name, slots=2, slot_bytes=64) as ch, ch.serve(lambda r, m: 42):
        with pytest.raises(shmring.RemoteError, match="reply must be bytes.*got int"):
            ch.request(b"x", timeout=WAIT_S)


def test_bad_requests_are_refused_before_anything_is_sent(served: tuple[shmring.Channel, shmring.Channel]) -> None:
    server, client = served
    with pytest.raises(shmring.FrameError, match=r"request is 5,000 bytes.*at most 4,096"):
        client.request(b"x" * 5000)
    with pytest.raises(TypeError, match="request must be bytes.*got str"):
        client.request("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dtype"):
        client.request(np.array(["a"]))
    with pytest.raises(shmring.FrameError, match="metadata is .* bytes encoded, the ring allows 256"):
        client.request(b"x", meta={"k": "v" * 300})
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        client.request(b"x", timeout=-1)
    assert server.info()["requests"] == 0, "a refused request consumed a correlation id"


def test_no_reply_in_time_is_wait_timeout_and_the_slot_comes_back(shm_dir: Path, unique_name: str) -> None:
    release = threading.Event()

    def slow(request: Any, meta: dict[str, Any]) -> Any:
        if request == b"slow":
            release.wait(WAIT_S)
        return request

    with shmring.Channel.create(unique_name, slots=1, slot_bytes=64) as ch, ch.serve(slow):
        with pytest.raises(shmring.WaitTimeout, match="no reply on channel .* within 0.2 s"):
            ch.request(b"slow", timeout=0.2)
        release.set()  # the abandoned exchange ends; the server frees its slot
        assert ch.request(b"fast", timeout=WAIT_S) == b"fast"


def test_all_slots_busy_is_wait_timeout_naming_the_slots(shm_dir: Path, unique_name: str) -> None:
    entered, release = threading.Event(), threading.Event()

    def hold(request: Any, meta: dict[str, Any]) -> Any:
        entered.set()
        release.wait(WAIT_S)
        return request

    with shmring.Channel.create(unique_name, slots=1, slot_bytes=64) as ch, ch.serve(hold):
        with shmring.Channel.open(unique_name) as other:
            busy = threading.Thread(target=other.request, args=(b"hold", None, WAIT_S))
            busy.start()
            try:
                assert entered.wait(WAIT_S), "the other handle's request never reached the handler"
                with pytest.raises(shmring.WaitTimeout, match="all 1 slots of channel .* stayed busy for 0.2 s"):
                    ch.request(b"x", timeout=0.2)
            finally:
                release.set()
                busy.join(WAIT_S)


def test_no_server_is_broken_error_at_once(shm_dir: Path, unique_name: str) -> None:
    with shmring.Channel.create(unique_name, slots=2, slot_bytes=64) as ch:
        with pytest.raises(shmring.BrokenError, match="has no server"):
            ch.request(b"x", timeout=WAIT_S)


def test_after_stop_serving_requests_fail_with_broken_error(shm_dir: Path, unique_name: str) -> None:
    with shmring.Channel.create(unique_name, slots=2, slot_bytes=64) as ch, shmring.Channel.open(unique_name) as cl:
        ch.serve(upper)
        assert cl.request(b"x", timeout=WAIT_S) == b"X"
        ch.stop_serving()
        with pytest.raises(shmring.BrokenError, match="has no server"):
            cl.request(b"x", timeout=WAIT_S)
        assert cl.info()["server_alive"] is False


def test_one_server_at_a_time(served: tuple[shmring.Channel, shmring.Channel]) -> None:
    server, client = served
    with pytest.raises(shmring.WouldBlock, match="already has a live server"):
        client.serve(upper)
    with pytest.raises(shmring.WouldBlock, match="already serves"):
        server.serve(upper)


def test_serve_once_and_serve_pending_in_the_callers_thread(shm_dir: Path, unique_name: str) -> None:
    with shmring.Channel.create(unique_name, slots=4, slot_bytes=64) as ch:
        assert ch.serve_once(upper, timeout=0.05) is False
        with shmring.Channel.open(unique_name) as cl:
            replies: list[Any] = []
            asker = threading.Thread(target=lambda: replies.append(cl.request(b"once", timeout=WAIT_S)))
            asker.start()
            assert ch.serve_once(upper, timeout=WAIT_S) is True
            asker.join(WAIT_S)
            assert replies == [b"ONCE"]
            assert ch.serve_pending(upper) == 0


def test_arequest_and_cancellation(served: tuple[shmring.Channel, shmring.Channel]) -> None:
    _, client = served

    async def main() -> list[Any]:
        return list(await asyncio.gather(client.arequest(b"a", timeout=WAIT_S), client.arequest(b"b")))

    assert asyncio.run(main()) == [b"A", b"B"]


def test_cancelling_arequest_withdraws_it(shm_dir: Path, unique_name: str) -> None:
    entered, release = threading.Event(), threading.Event()

    def handler(request: Any, meta: dict[str, Any]) -> Any:
        if request == b"hold":
            entered.set()
            release.wait(WAIT_S)
        return request

    async def main(ch: shmring.Channel) -> None:
        task = asyncio.ensure_future(ch.arequest(b"hold", timeout=WAIT_S))
        await asyncio.get_running_loop().run_in_executor(None, entered.wait, WAIT_S)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with shmring.Channel.create(unique_name, slots=1, slot_bytes=64) as ch, ch.serve(handler):
        asyncio.run(main(ch))
        release.set()
        assert ch.request(b"next", timeout=WAIT_S) == b"next"


def test_a_channel_is_unlinked_by_name_from_the_class_or_through_its_handle(shm_dir: Path,
                                                                            unique_name: str) -> None:
    with shmring.Channel.create(unique_name, slots=1, slot_bytes=64):
        shmring.Channel.unlink(unique_name)
        assert not (shm_dir / unique_name).exists()
    with shmring.Channel.create(unique_name, slots=1, slot_bytes=64) as ch:
        ch.unlink()
        assert not (shm_dir / unique_name).exists()
    with pytest.raises(shmring.SegmentNotFoundError, match=unique_name):
        shmring.Channel.unlink(unique_name)


def test_create_is_0600_and_open_validates(shm_dir: Path, unique_name: str) -> None:
    with shmring.Channel.create(unique_name, slots=3, slot_bytes=100):
        assert stat.S_IMODE(os.stat(shm_dir / unique_name).st_mode) == 0o600
        with pytest.raises(shmring.SegmentExistsError):
            shmring.Channel.create(unique_name)
        with shmring.Channel.open(unique_name) as again:
            assert (again.slots, again.slot_bytes, again.meta_bytes) == (3, 100, 4096)
    with pytest.raises(shmring.SegmentNotFoundError):
        shmring.Channel.open("nobody-here")


def test_open_refuses_a_ring_and_a_truncated_channel(shm_dir: Path, unique_name: str) -> None:
    shmring.Ring.create(unique_name + "-ring", slots=2, slot_bytes=64).close()
    with pytest.raises(shmring.LayoutError, match=r"magic is .*\(this is a shmring ring; open it with Ring.open\)"):
        shmring.Channel.open(unique_name + "-ring")
    shmring.Channel.create(unique_name, slots=2, slot_bytes=64).close()
    path = shm_dir / unique_name
    os.truncate(path, os.path.getsize(path) - 4096)
    with pytest.raises(shmring.LayoutError, match="file size") as info:
        shmring.Channel.open(unique_name)
    assert info.value.field == "file size"


def test_open_refuses_a_slot_in_an_impossible_phase(shm_dir: Path, unique_name: str) -> None:
    shmring.Channel.create(unique_name, slots=2, slot_bytes=64, meta_bytes=0).close()
    with open(shm_dir / unique_name, "r+b") as f:
        f.seek(4096 * 2)  # slot 1's state word (slot stride is one page here)
        f.write((7).to_bytes(4, "little"))
    with pytest.raises(shmring.LayoutError, match="slot 1 has phase 7"):
        shmring.Channel.open(unique_name)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"slots": 0}, ValueError, r"slots must be in 1\.\.4096, got 0"),
    ({"slots": 2.0}, TypeError, "slots must be an int, got 2.0"),
    ({"slot_bytes": 0}, ValueError, "slot_bytes must be >= 1, got 0"),
    ({"meta_bytes": -1}, ValueError, r"meta_bytes must be in 0\.\.1048576, got -1"),
])
def test_create_names_the_bad_size(shm_dir: Path, unique_name: str, kwargs: dict[str, Any],
                                   error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        shmring.Channel.create(unique_name, **kwargs)
    assert not (shm_dir / unique_name).exists()


def test_a_closed_handle_says_so(shm_dir: Path, unique_name: str) -> None:
    ch = shmring.Channel.create(unique_name, slots=2, slot_bytes=64)
    ch.close()
    ch.close()
    with pytest.raises(shmring.ClosedError, match="was closed"):
        ch.request(b"x")


def test_spinning_sides_still_exchange_correctly_and_spin_is_checked(shm_dir: Path, unique_name: str) -> None:
    with shmring.Channel.create(unique_name, slots=2, slot_bytes=64) as ch, ch.serve(upper, spin=1e-4):
        assert [ch.request(b"a%d" % i, timeout=WAIT_S, spin=1e-4) for i in range(3)] == [b"A0", b"A1", b"A2"]
        with pytest.raises(ValueError, match="spin must be None .learned. or >= 0 seconds, got -1"):
            ch.request(b"x", spin=-1)
    with shmring.Channel.create(unique_name + "-2", slots=2, slot_bytes=64) as other:
        with pytest.raises(ValueError, match="spin must be None .learned. or >= 0 seconds, got 'fast'"):
            other.serve(upper, spin="fast")  # type: ignore[arg-type]


def test_closing_a_handle_ends_its_waiting_requests_with_closed_error(shm_dir: Path, unique_name: str) -> None:
    entered, release = threading.Event(), threading.Event()

    def hold(request: Any, meta: dict[str, Any]) -> Any:
        entered.set()
        release.wait(WAIT_S)
        return request

    with shmring.Channel.create(unique_name, slots=2, slot_bytes=64) as ch, ch.serve(hold):
        cl = shmring.Channel.open(unique_name)
        errors: list[BaseException] = []

        def ask() -> None:
            try:
                cl.request(b"hold", timeout=WAIT_S)
            except BaseException as err:  # noqa: BLE001 -- handed to the test
                errors.append(err)

        waiting = threading.Thread(target=ask)
        waiting.start()
        assert entered.wait(WAIT_S), "the request never reached the handler"
        cl.close()
        waiting.join(WAIT_S)
        release.set()
        assert not waiting.is_alive(), "close() left a request waiting"
        assert len(errors) == 1 and isinstance(errors[0], shmring.ClosedError), errors
        assert ch.request(b"after", timeout=WAIT_S) == b"after"


def test_a_request_cancelled_before_it_was_posted_is_withdrawn_and_the_slot_serves_the_next(
        shm_dir: Path, unique_name: str) -> None:
    from shmring._channel_client import Cancelled, CancelToken

    with shmring.Channel.create(unique_name, slots=1, slot_bytes=64) as ch:
        ch.serve_pending(upper)  # this handle is the server now, but answers only when told
        with shmring.Channel.open(unique_name) as cl:
            token = CancelToken()
            token.cancelled = True
            with pytest.raises(Cancelled, match="was cancelled"):
                cl._attachment().client.call(b"never", None, None, token)
            assert ch.serve_pending(upper) == 0  # withdrawn: nothing was left posted
            asker = threading.Thread(target=lambda: replies.append(cl.request(b"next", timeout=WAIT_S)))
            replies: list[bytes] = []
            asker.start()
            assert ch.serve_once(upper, timeout=WAIT_S)  # woken by the post
            asker.join(WAIT_S)
            assert replies == [b"NEXT"]
