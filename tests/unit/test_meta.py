"""Frame metadata encoding."""

from __future__ import annotations

import pytest

from shmring import FrameError, _meta


def test_values_come_back_equal_with_their_types_and_key_case() -> None:
    meta = {"EXPTIME": 1.5, "NAXIS": 2, "OBJECT": "M 31 — Andromeda", "SIMPLE": True, "gain": 0}
    back = _meta.decode(_meta.encode(meta, 4096))
    assert back == meta
    assert [type(v) for v in back.values()] == [float, int, str, bool, int]


def test_empty_metadata_takes_no_bytes() -> None:
    assert _meta.encode(None, 0) == b"" and _meta.encode({}, 0) == b""
    assert _meta.decode(b"") == {}


def test_too_large_names_both_sizes() -> None:
    with pytest.raises(FrameError, match=r"metadata is 2,008 bytes encoded, the ring allows 100"):
        _meta.encode({"K": "x" * 2000}, 100)


@pytest.mark.parametrize("meta", [{1: 2}, {"a": [1]}, {"a": {"b": 1}}, {"a": 1j}, {"a": b"raw"}])
def test_bad_keys_and_values_are_refused(meta: dict[object, object]) -> None:
    with pytest.raises(FrameError, match="meta"):
        _meta.encode(meta, 4096)  # type: ignore[arg-type]


def test_garbage_never_raises() -> None:
    assert "_invalid" in _meta.decode(b"\xff\xfe")
    assert "_invalid" in _meta.decode(b"[1, 2]")
