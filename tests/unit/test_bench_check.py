"""The benchmark's batch check finds what the per-message check finds, and names the same message."""

from __future__ import annotations

import pytest

from shmring._bench.check import DataError, stamp, verify_many


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
