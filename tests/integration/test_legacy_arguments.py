"""A bad argument to the legacy API is the caller's: a builtin TypeError/ValueError naming it, nothing touched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shmring import ShmringError
from shmring.legacy import Buf, SharedMem, answer, send

pytestmark = pytest.mark.usefixtures("shm_dir")


def _callers_error(info: pytest.ExceptionInfo[Exception]) -> None:
    assert not isinstance(info.value, ShmringError), f"{info.value!r} is about a file, not an argument"


def test_a_size_of_the_wrong_type_is_a_type_error_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "smem_types"
    with pytest.raises(TypeError, match=r"item_size must be an int >= 1, got '8' \(str\)") as info:
        SharedMem.create(path, "8", 3)  # type: ignore[arg-type]
    _callers_error(info)
    with pytest.raises(TypeError, match=r"item_alloc must be an int >= 1, got 2.0 \(float\)"):
        SharedMem.create(path, 8, 2.0)  # type: ignore[arg-type]
    assert not path.exists()


def test_put_buf_refuses_bad_dims_before_counting_or_writing(tmp_path: Path) -> None:
    with SharedMem.create(tmp_path / "smem_dims", 8, 2) as mem:
        with pytest.raises(TypeError, match=r"width must be an int, got 3.0 \(float\)") as info:
            mem.put_buf(b"x", width=3.0)  # type: ignore[arg-type]
        _callers_error(info)
        with pytest.raises(ValueError, match=r"flags must be a uint32 \(0..4294967295\), got -1"):
            mem.put_buf(b"x", flags=-1)
        assert (mem.header().count, mem.put_counter) == (0, 0), "a refused put changed the queue"
        assert mem.put_buf(b"y", width=np.uint32(4), height=np.int64(1))  # type: ignore[arg-type]  # numpy ints
        assert mem.get_buf() == Buf(b"y", 1, 4, 1, 0)


def test_waits_refuse_times_out_of_range(tmp_path: Path) -> None:
    with SharedMem.create(tmp_path / "smem_waits", 8, 2) as mem:
        with pytest.raises(ValueError, match="timeout must be >= 0 seconds or None, got -1"):
            mem.get_buf(timeout=-1)
        with pytest.raises(ValueError, match="poll_interval must be > 0 seconds, got 0"):
            mem.get_buf(timeout=1.0, poll_interval=0)
        with pytest.raises(TypeError, match=r"timeout must be a number of seconds, got '1' \(str\)"):
            mem.get_buf(timeout="1")  # type: ignore[arg-type]
    message_file = tmp_path / "msg"
    with pytest.raises(ValueError, match="timeout must be >= 0 seconds or None, got -1") as info:
        send(message_file, "hello", timeout=-1)
    _callers_error(info)
    with pytest.raises(ValueError, match=r"poll_interval must be > 0 seconds, got -0.5"):
        answer(message_file, poll_interval=-0.5)
    assert not message_file.exists(), "a refused call created the message file"


def test_a_message_that_is_no_text_is_a_type_error(tmp_path: Path) -> None:
    message_file = tmp_path / "msg"
    with pytest.raises(TypeError, match=r"text must be a str or bytes, got 5 \(int\)"):
        send(message_file, 5, timeout=0.1)  # type: ignore[arg-type]
    assert not message_file.exists(), "a refused send created the message file"


def test_a_transform_that_returns_no_str_leaves_the_message_for_the_next_answerer(tmp_path: Path) -> None:
    message_file = tmp_path / "msg"
    message_file.write_bytes(bytes([2]) + b"hi" + bytes(253))  # what an original sender leaves
    with pytest.raises(TypeError, match=r"transform must return a str, got 5 \(int\) for the message 'hi'"):
        answer(message_file, transform=lambda text: 5, timeout=1.0)  # type: ignore[arg-type,return-value]
    assert message_file.read_bytes()[:3] == b"\x02hi", "the unanswered message was lost"
    assert answer(message_file, timeout=1.0) == "hi"
    assert message_file.read_bytes()[:3] == b"\x00HI"


def test_raw_access_refuses_offsets_and_data_of_the_wrong_type(tmp_path: Path) -> None:
    with SharedMem.create_raw(tmp_path / "smem_raw", 16) as mem:
        with pytest.raises(TypeError, match=r"pos must be an int, got '0' \(str\)"):
            mem.read("0", 4)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"n must be an int, got 4.0 \(float\)"):
            mem.read(0, 4.0)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="data must be bytes-like or a numpy array, got int"):
            mem.write(0, 12)  # type: ignore[arg-type]
        mem.write(np.int64(2), b"ab")  # type: ignore[arg-type]
        assert mem.read(np.int64(2), 2) == b"ab"  # type: ignore[arg-type]
