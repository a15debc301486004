"""The benchmark's batch check finds what the per-message check finds, and names the same message."""

from __future__ import annotations

import numpy as np
import pytest

from shmring._bench.check import ONE_PACK_BYTES, DataError, stamp, verify, verify_many


def _batch(first: int, count: int, nbytes: int) -> list[bytes]:
    out = []
    for seq in range(first, first + count):
        buf = bytearray(nbytes)
        stamp(buf, seq, nbytes)
        out.append(bytes(buf))
    return out


@pytest.mark.parametrize("nbytes", [64, 4096, 28])
def test_an_intact_batch_passes(nbytes: int) -> None:
    verify_many(_batch(1000, 256, nbytes), 1000, nbytes)


def test_a_lost_message_is_named() -> None:
    bufs = _batch(0, 10, 64)
    del bufs[4]
    with pytest.raises(DataError, match="expected message 4, got 5"):
        verify_many(bufs, 0, 64)


def test_a_torn_message_is_named() -> None:
    bufs = _batch(0, 10, 64)
    torn = bytearray(bufs[7])
    torn[-1] ^= 1
    bufs[7] = bytes(torn)
    with pytest.raises(DataError, match="message 7: checksum mismatch"):
        verify_many(bufs, 0, 64)


def test_a_short_message_is_named() -> None:
    bufs = _batch(0, 10, 64)
    bufs[3] = bufs[3][:56]
    with pytest.raises(DataError, match="message 3: 56 bytes, expected 64"):
        verify_many(bufs, 0, 64)


def test_a_batch_from_the_wrong_start_fails() -> None:
    with pytest.raises(DataError, match="expected message 0, got 1"):
        verify_many(_batch(1, 5, 64), 0, 64)


@pytest.mark.parametrize("nbytes", [24, 64, 4096, 4104, 1 << 20])
@pytest.mark.parametrize("word", ["first", "middle", "last"])
def test_verify_finds_each_torn_word_of_small_and_large_messages(nbytes: int, word: str) -> None:
    buf = np.zeros(nbytes, np.uint8)
    stamp(buf, 77, nbytes)
    verify(buf, 77, nbytes)  # intact, as a numpy array
    verify(bytes(buf), 77, nbytes)  # and as bytes
    at = {"first": 0, "middle": (nbytes >> 1) & ~7, "last": nbytes - 8}[word]
    buf[at] ^= 1
    with pytest.raises(DataError, match="got 76|message 77: checksum mismatch"):
        verify(buf, 77, nbytes)


def test_a_large_stamp_writes_only_its_three_words() -> None:
    nbytes = ONE_PACK_BYTES + 8
    buf = np.full(nbytes, 0xAB, np.uint8)
    stamp(buf, 5, nbytes)
    words = {0, (nbytes >> 1) & ~7, nbytes - 8}
    untouched = np.ones(nbytes, bool)
    for at in words:
        untouched[at:at + 8] = False
    assert (buf[untouched] == 0xAB).all()


def test_a_message_shorter_than_the_stamp_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 24 bytes, got 16"):
        stamp(bytearray(16), 0, 16)
