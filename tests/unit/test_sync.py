"""The C core in one process: atomics, futex wait/wake semantics, and refusal of bad arguments."""

from __future__ import annotations

import mmap
import threading
import time

import numpy as np
import pytest

from shmring import _sync

LOADS = {32: _sync.load32, 64: _sync.load64}
STORES = {32: _sync.store32, 64: _sync.store64}
CASES = {32: _sync.cas32, 64: _sync.cas64}
ADDS = {32: _sync.fetch_add32, 64: _sync.fetch_add64}
WIDTHS = [32, 64]


@pytest.fixture
def buf() -> bytearray:
    return bytearray(64)


@pytest.fixture
def anon() -> mmap.mmap:
    m = mmap.mmap(-1, mmap.PAGESIZE)
    yield m
    m.close()


# -- atomics --------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_store_then_load_round_trips_little_endian(anon: mmap.mmap, width: int) -> None:
    value = (1 << width) - 2  # every byte but the lowest is 0xff
    STORES[width](anon, 8, value)

    assert LOADS[width](anon, 8) == value
    assert int.from_bytes(anon[8 : 8 + width // 8], "little") == value


@pytest.mark.parametrize("width", WIDTHS)
def test_cas_swaps_only_when_the_word_holds_expected(buf: bytearray, width: int) -> None:
    STORES[width](buf, 16, 5)

    assert CASES[width](buf, 16, 4, 9) == 5, "a failed compare-exchange returns what it found"
    assert LOADS[width](buf, 16) == 5, "a failed compare-exchange must not write"
    assert CASES[width](buf, 16, 5, 9) == 5
    assert LOADS[width](buf, 16) == 9


@pytest.mark.parametrize("width", WIDTHS)
def test_fetch_add_returns_the_previous_value_and_wraps(buf: bytearray, width: int) -> None:
    top = (1 << width) - 1
    STORES[width](buf, 0, top)

    assert ADDS[width](buf, 0, 2) == top
    assert LOADS[width](buf, 0) == 1, "adding past the top wraps modulo 2**width"
    assert ADDS[width](buf, 0, -3) == 1
    assert LOADS[width](buf, 0) == top - 1, "a negative delta subtracts, wrapping below zero"


def test_a_32_bit_store_leaves_the_neighbouring_words_alone(buf: bytearray) -> None:
    _sync.store32(buf, 4, 0xFFFFFFFF)

    assert bytes(buf[:4]) == bytes(4) and bytes(buf[8:12]) == bytes(4)


def test_numpy_arrays_and_integer_scalars_are_accepted() -> None:
    arr = np.zeros(4, dtype=np.uint64)

    _sync.store64(arr, np.int64(8), np.uint64(2**63))
    _sync.fetch_add32(arr, 0, np.int32(-1))

    assert arr[1] == 2**63
    assert arr[0] == 0xFFFFFFFF


def test_loads_and_futex_waits_accept_read_only_buffers() -> None:
    """Readers may map a segment read-only: they still load and sleep on its words."""
    data = (7).to_bytes(4, "little") + bytes(4)

    assert _sync.load32(data, 0) == 7
    assert _sync.futex_wait(data, 0, 7, 0.0) == _sync.TIMED_OUT


def test_fence_is_callable() -> None:
    assert _sync.fence() is None


# -- futex ----------------------------------------------------------------


def test_futex_wait_with_zero_timeout_reports_without_sleeping(buf: bytearray) -> None:
    assert _sync.futex_wait(buf, 0, 0, 0) == _sync.TIMED_OUT
    assert _sync.futex_wait(buf, 0, 1, 0) == _sync.VALUE_CHANGED


def test_futex_wait_times_out_on_time(buf: bytearray) -> None:
    started = time.monotonic()

    outcome = _sync.futex_wait(buf, 0, 0, 0.15)

    elapsed = time.monotonic() - started
    assert outcome == _sync.TIMED_OUT
    assert 0.15 <= elapsed < 1.0, f"a 0.15 s wait took {elapsed:.3f} s"


def test_futex_wait_returns_at_once_when_the_value_differs(buf: bytearray) -> None:
    _sync.store32(buf, 0, 3)
    started = time.monotonic()

    assert _sync.futex_wait(buf, 0, 2, 10.0) == _sync.VALUE_CHANGED
    assert time.monotonic() - started < 1.0


def test_futex_wake_without_sleepers_wakes_nobody(buf: bytearray) -> None:
    assert _sync.futex_wake(buf, 0) == 0
    assert _sync.futex_wake(buf, 0, 1) == 0


def test_futex_wait_releases_the_gil_so_another_thread_can_wake_it(anon: mmap.mmap) -> None:
    outcome: list[int] = []
    sleeper = threading.Thread(target=lambda: outcome.append(_sync.futex_wait(anon, 0, 0, 20.0)))
    sleeper.start()
    # The main thread runs while the sleeper is in the kernel: only possible without the GIL.
    deadline = time.monotonic() + 10.0
    while _sync.futex_wake(anon, 0) == 0 and time.monotonic() < deadline:
        time.sleep(0.001)  # nothing says when the thread is asleep; re-try
    sleeper.join(10.0)

    assert outcome == [_sync.WOKEN], "the sleeping thread was not woken"


@pytest.mark.parametrize("timeout", [-0.5, float("nan")])
def test_futex_wait_refuses_a_negative_or_nan_timeout(buf: bytearray, timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout must be >= 0 seconds or None"):
        _sync.futex_wait(buf, 0, 0, timeout)


@pytest.mark.parametrize("n", [0, -1, 2**31, 2**70])
def test_futex_wake_refuses_a_count_out_of_range(buf: bytearray, n: int) -> None:
    with pytest.raises(ValueError, match=r"n \(waiters to wake; None for all\) must be in 1\.\.2147483647"):
        _sync.futex_wake(buf, 0, n)


# -- bad arguments: clear errors, never a crash -----------------------------

ALL_WORD_CALLS = {
    "load32": lambda b, off: _sync.load32(b, off),
    "load64": lambda b, off: _sync.load64(b, off),
    "store32": lambda b, off: _sync.store32(b, off, 1),
    "store64": lambda b, off: _sync.store64(b, off, 1),
    "cas32": lambda b, off: _sync.cas32(b, off, 0, 1),
    "cas64": lambda b, off: _sync.cas64(b, off, 0, 1),
    "fetch_add32": lambda b, off: _sync.fetch_add32(b, off, 1),
    "fetch_add64": lambda b, off: _sync.fetch_add64(b, off, 1),
    "futex_wait": lambda b, off: _sync.futex_wait(b, off, 1, 0),
    "futex_wake": lambda b, off: _sync.futex_wake(b, off),
}
WIDTH_OF = {name: 8 if "64" in name else 4 for name in ALL_WORD_CALLS}
WRITERS = ["store32", "store64", "cas32", "cas64", "fetch_add32", "fetch_add64"]


@pytest.mark.parametrize("name", ALL_WORD_CALLS)
def test_misaligned_offsets_are_refused(buf: bytearray, name: str) -> None:
    for offset in range(1, WIDTH_OF[name]):
        with pytest.raises(ValueError, match=f"offset {offset} is not {WIDTH_OF[name]}-byte aligned"):
            ALL_WORD_CALLS[name](buf, offset)


@pytest.mark.parametrize("name", ALL_WORD_CALLS)
def test_offsets_past_the_end_are_refused(buf: bytearray, name: str) -> None:
    width = WIDTH_OF[name]
    for offset in (len(buf) - width + 1, len(buf), 10**6):
        with pytest.raises(ValueError, match=f"offset {offset} out of range for a {width}-byte word in a 64-byte"):
            ALL_WORD_CALLS[name](buf, offset)


@pytest.mark.parametrize("name", ALL_WORD_CALLS)
@pytest.mark.parametrize("offset", [-1, -(2**70), 2**70])
def test_negative_and_huge_offsets_are_value_errors(buf: bytearray, name: str, offset: int) -> None:
    with pytest.raises(ValueError, match=f"offset must be in 0..{2**63 - 1}, got {offset}"):
        ALL_WORD_CALLS[name](buf, offset)


@pytest.mark.parametrize("name", ALL_WORD_CALLS)
def test_a_buffer_too_small_for_one_word_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="out of range"):
        ALL_WORD_CALLS[name](bytearray(2), 0)


def _read_only_buffers() -> dict[str, object]:
    frozen = np.zeros(2, dtype=np.uint64)
    frozen.flags.writeable = False
    return {"bytes": bytes(16), "memoryview": memoryview(bytearray(16)).toreadonly(), "numpy": frozen}


@pytest.mark.parametrize("name", WRITERS)
@pytest.mark.parametrize("kind", ["bytes", "memoryview", "numpy"])
def test_writes_to_read_only_buffers_are_type_errors(name: str, kind: str) -> None:
    target = _read_only_buffers()[kind]
    expected = f"buffer must be a writable contiguous buffer .*got a read-only .*{type(target).__name__}"
    with pytest.raises(TypeError, match=expected):
        ALL_WORD_CALLS[name](target, 0)


@pytest.mark.parametrize("name", WRITERS)
def test_writes_to_a_read_only_mmap_are_type_errors(tmp_path, name: str) -> None:
    path = tmp_path / "f"
    path.write_bytes(bytes(16))
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as ro:
        with pytest.raises(TypeError, match="writable contiguous buffer .*got a read-only mmap.mmap"):
            ALL_WORD_CALLS[name](ro, 0)
        assert ro[:] == bytes(16), "a refused write must leave the bytes untouched"


@pytest.mark.parametrize("name", ALL_WORD_CALLS)
@pytest.mark.parametrize("target", [None, "text", 12, [0, 0, 0, 0]])
def test_objects_without_a_buffer_are_type_errors(name: str, target: object) -> None:
    with pytest.raises(TypeError, match=f"contiguous buffer .*got {type(target).__name__}"):
        ALL_WORD_CALLS[name](target, 0)


def test_a_non_contiguous_numpy_view_is_refused() -> None:
    strided = np.zeros((4, 4), dtype=np.uint32)[:, 0]
    with pytest.raises(ValueError, match="contiguous"):
        _sync.load32(strided, 0)


def test_a_closed_mmap_is_refused() -> None:
    m = mmap.mmap(-1, 4096)
    m.close()
    with pytest.raises(ValueError, match="closed"):
        _sync.load32(m, 0)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda b: _sync.load32(b, 1.0), TypeError, "offset must be an int, got float"),
        (lambda b: _sync.load32(b, "0"), TypeError, "offset must be an int, got str"),
        (lambda b: _sync.store32(b, 0, 1.5), TypeError, "value must be an int, got float"),
        (lambda b: _sync.store32(b, 0, 2**32), ValueError, r"value must be in 0..2\*\*32-1, got 4294967296"),
        (lambda b: _sync.store32(b, 0, -1), ValueError, r"value must be in 0..2\*\*32-1, got -1"),
        (lambda b: _sync.store64(b, 0, 2**64), ValueError, r"value must be in 0..2\*\*64-1"),
        (lambda b: _sync.cas32(b, 0, -1, 0), ValueError, r"expected must be in 0..2\*\*32-1, got -1"),
        (lambda b: _sync.cas64(b, 0, 0, 2**64), ValueError, r"desired must be in 0..2\*\*64-1"),
        (lambda b: _sync.fetch_add64(b, 0, 2**63), ValueError, "delta must be in"),
        (lambda b: _sync.fetch_add32(b, 0, None), TypeError, "delta must be an int, got NoneType"),
        (lambda b: _sync.futex_wait(b, 0, 2**32), ValueError, r"expected must be in 0..2\*\*32-1"),
        (lambda b: _sync.futex_wait(b, 0, 0, "1"), TypeError, "must be real number"),
        (lambda b: _sync.futex_wake(b, 0, 1.0), TypeError, r"n \(waiters to wake; None for all\) must be an int"),
        (lambda b: _sync.load32(b), TypeError, r"load32\(\) takes exactly 2 arguments \(1 given\)"),
        (lambda b: _sync.futex_wait(b, 0, 0, 1, 2), TypeError, r"futex_wait\(\) takes 3 to 4 arguments"),
    ],
)
def test_wrong_argument_types_and_values_name_the_parameter(buf: bytearray, call, error, message) -> None:
    with pytest.raises(error, match=message):
        call(buf)
    assert bytes(buf) == bytes(64), "a refused call must not write"


# -- OFD lock argument checks (the locking itself is tested across processes) --


@pytest.fixture
def fd(tmp_path) -> int:
    import os

    descriptor = os.open(tmp_path / "lockfile", os.O_RDWR | os.O_CREAT, 0o600)
    yield descriptor
    os.close(descriptor)


@pytest.mark.parametrize(
    ("start", "length", "message"),
    [
        (-1, 1, "lock start must be in 0..9223372036854775807, got -1"),
        (0, 0, "lock length must be in 1..9223372036854775807, got 0"),
        (2**70, 1, "lock start must be in"),
        (2**62, 2**63 - 1, "lock length must be in 1..4611686018427387903"),
    ],
)
def test_ofd_lock_refuses_bad_ranges(fd: int, start: int, length: int, message: str) -> None:
    for call in (_sync.ofd_lock, _sync.ofd_unlock, _sync.ofd_held):
        with pytest.raises(ValueError, match=message):
            call(fd, start, length)


def test_ofd_lock_refuses_a_negative_descriptor() -> None:
    with pytest.raises(ValueError, match="negative"):
        _sync.ofd_lock(-1, 0, 1)


def test_an_exclusive_lock_through_a_read_only_descriptor_says_why(tmp_path) -> None:
    import os

    path = tmp_path / "f"
    path.write_bytes(b"x")
    ro = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(ValueError, match=f"an exclusive lock needs a descriptor opened for writing; fd {ro}"):
            _sync.ofd_lock(ro, 0, 1)
        assert _sync.ofd_lock(ro, 0, 1, False) is True, "a shared lock needs only read access"
    finally:
        os.close(ro)
