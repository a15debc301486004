"""``send`` / ``answer``: the seed's request/reply over a 256-byte file.

Byte 0 holds the message length (0 = idle, or reply ready), bytes 1..255 the
text. A sender writes the text, then the length; an answerer transforms the
text in place and sets byte 0 back to 0. The file layout is exactly the
original's; shmring's futex word and locks live in the file's
:class:`~shmring.legacy.Locker` segment, so shmring peers wake each other at
once while originals (which only poll) keep working and are seen within
``poll_interval``.

Ordering: text stores, a full fence, then the length byte (and the reverse on
the reading side), so a peer that sees the length sees the whole text even on
weakly ordered CPUs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._errors import FrameError, SegmentExistsError, SegmentNotFoundError, WaitTimeout
from .._locks import WakeWord
from .._segment import Segment
from .._sync import fence
from . import _format as fmt
from ._checks import poll_seconds, wait_seconds
from ._locker import Locker

__all__ = ["answer", "send"]

#: Longest sleep (seconds) between looks at the file, for peers that cannot signal (the originals).
DEFAULT_POLL_INTERVAL = 0.01
#: Seconds an answerer waits for the Locker held by another shmring answerer.
LOCK_TIMEOUT = 10.0
_TEXT = slice(fmt.MSG_TEXT, fmt.MSG_FILE_SIZE)


def _open_message_file(path: Path, mode: int) -> Segment:
    # Whoever comes first (sender or answerer) creates the zero-filled (idle) file.
    for _ in range(3):
        try:
            seg = Segment.open(path)
        except SegmentNotFoundError:
            try:
                return Segment.create(path, fmt.MSG_FILE_SIZE, mode=mode)
            except SegmentExistsError:
                continue
        try:
            fmt.validate_message_file(seg.size, path)
        except BaseException:
            seg.close()
            raise
        return seg
    raise SegmentNotFoundError(f"message file {path} keeps disappearing while being opened", path=str(path))


def _check_waits(timeout: float | None, poll_interval: float) -> None:
    wait_seconds("timeout", timeout)
    poll_seconds("poll_interval", poll_interval)


def _encode(text: str | bytes) -> bytes:
    if isinstance(text, str):
        raw = text.encode("utf-8")
    elif isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
    else:  # bytes(5) would silently be five NUL bytes
        raise TypeError(f"text must be a str or bytes, got {text!r} ({type(text).__name__})")
    if len(raw) > fmt.MSG_MAX_TEXT:
        raise FrameError(f"message is {len(raw)} bytes; a send/answer file holds at most "
                         f"{fmt.MSG_MAX_TEXT} bytes of text", length=len(raw), limit=fmt.MSG_MAX_TEXT)
    if not raw or b"\0" in raw:
        raise ValueError(f"message must be 1..{fmt.MSG_MAX_TEXT} bytes without NUL bytes, got {raw[:40]!r}")
    return raw


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


def _wait_until(cond: Callable[[], bool], signal: WakeWord, deadline: float | None, poll: float) -> bool:
    """Sleep on the futex word, looking at least every ``poll`` s, until ``cond()`` or the deadline."""
    while True:
        seen = signal.snapshot()  # before looking: a change after the look still wakes us
        if cond():
            fence()  # acquire side of the length byte
            return True
        remaining = _remaining(deadline)
        if remaining is not None and remaining <= 0:
            return False
        signal.sleep(seen, poll if remaining is None else min(poll, remaining))


def _publish_length(buf: Any, length: int) -> None:
    fence()  # the text (or reply) is complete before byte 0 says so
    buf[fmt.MSG_LEN] = length
    fence()


def send(path: str | os.PathLike[str], text: str | bytes, *, timeout: float | None = 5.0,
         poll_interval: float = DEFAULT_POLL_INTERVAL, mode: int = 0o600) -> str:
    """Send ``text`` to whoever runs :func:`answer` on ``path`` and return the reply.

    Creates the 256-byte file if missing. shmring senders to one file take
    turns (a lock held for the whole exchange).

    Args:
        path: the message file (used as given).
        text: 1..255 bytes once UTF-8 encoded, without NUL.
        timeout: seconds for the whole exchange; None waits forever.
        poll_interval: longest sleep between looks, seconds (originals only poll).
        mode: permission bits if the file has to be created.

    Returns:
        The reply (bytes 1.. up to the first NUL, decoded as UTF-8).

    Raises:
        FrameError: the message is longer than 255 bytes.
        WaitTimeout: nobody answered within ``timeout`` (the message is withdrawn).
        LayoutError: ``path`` exists and is not 256 bytes.
        TypeError: ``text`` is not a str or bytes, or a time is not a number.
        ValueError: ``text`` is empty or holds a NUL byte, ``timeout`` < 0,
            or ``poll_interval`` <= 0.
    """
    _check_waits(timeout, poll_interval)
    raw = _encode(text)
    deadline = None if timeout is None else time.monotonic() + timeout
    seg = _open_message_file(Path(os.fspath(path)), mode)
    locker = Locker.for_file(seg.path)
    try:
        remaining = _remaining(deadline)
        try:
            got = locker._exchange.acquire(None if remaining is None else max(0.0, remaining))
        except WaitTimeout:
            got = False
        if not got:
            raise WaitTimeout(f"another shmring sender kept {seg.path} busy for {timeout} s",
                              path=str(seg.path), timeout=timeout)
        try:
            return _exchange(seg, locker.data_signal, raw, deadline, poll_interval, timeout)
        finally:
            locker._exchange.release()
    finally:
        locker.close()
        seg.close()


def _exchange(seg: Segment, signal: WakeWord, raw: bytes, deadline: float | None, poll: float,
              timeout: float | None) -> str:
    buf = seg.mapping()
    if not _wait_until(lambda: buf[fmt.MSG_LEN] == 0, signal, deadline, poll):
        raise WaitTimeout(f"{seg.path} stayed busy (byte 0 = {buf[fmt.MSG_LEN]}, an earlier message "
                          f"unanswered) for {timeout} s", path=str(seg.path), timeout=timeout)
    # Zero the rest too: the original answerer rewrites only `length` bytes,
    # and the reply is read up to the first NUL.
    buf[_TEXT] = raw.ljust(fmt.MSG_MAX_TEXT, b"\0")
    _publish_length(buf, len(raw))
    signal.announce()
    if not _wait_until(lambda: buf[fmt.MSG_LEN] == 0, signal, deadline, poll):
        buf[fmt.MSG_LEN] = 0  # withdraw, so a late answerer does not answer a sender that has gone
        raise WaitTimeout(f"nobody answered on {seg.path} within {timeout} s (is `shmring legacy answer "
                          f"{seg.path}` or the original answer() running?)", path=str(seg.path), timeout=timeout)
    return bytes(buf[_TEXT]).split(b"\0", 1)[0].decode("utf-8", "replace")


def answer(path: str | os.PathLike[str], transform: Callable[[str], str] = str.upper, *,
           timeout: float | None = None, poll_interval: float = DEFAULT_POLL_INTERVAL,
           mode: int = 0o600) -> str:
    """Wait for one message on ``path``, reply with ``transform(message)`` in place, and return the message.

    Creates the 256-byte file if missing. A reply longer than 255 bytes
    (UTF-8) is cut to 255.

    Args:
        path: the message file (used as given).
        transform: maps the request text to the reply (the original upper-cased it).
        timeout: seconds to wait for a message; None waits forever.
        poll_interval: longest sleep between looks, seconds (original senders only poll).
        mode: permission bits if the file has to be created.

    Raises:
        WaitTimeout: no message arrived within ``timeout``.
        LayoutError: ``path`` exists and is not 256 bytes.
        ValueError: ``timeout`` < 0 or ``poll_interval`` <= 0.
        TypeError: ``transform`` returned something other than a str (the
            message stays for the next answerer).
    """
    _check_waits(timeout, poll_interval)
    deadline = None if timeout is None else time.monotonic() + timeout
    seg = _open_message_file(Path(os.fspath(path)), mode)
    locker = Locker.for_file(seg.path, timeout=LOCK_TIMEOUT)
    try:
        buf = seg.mapping()
        while True:
            if not _wait_until(lambda: buf[fmt.MSG_LEN] != 0, locker.data_signal, deadline, poll_interval):
                raise WaitTimeout(f"no message arrived on {seg.path} within {timeout} s",
                                  path=str(seg.path), timeout=timeout)
            with locker:  # one shmring answerer per message
                request = _reply_locked(buf, transform)
            if request is not None:
                locker.data_signal.announce()
                return request
    finally:
        locker.close()
        seg.close()


def _reply_locked(buf: Any, transform: Callable[[str], str]) -> str | None:
    length = buf[fmt.MSG_LEN]
    if length == 0:
        return None  # another answerer took it
    fence()
    request = bytes(buf[fmt.MSG_TEXT : fmt.MSG_TEXT + length]).decode("utf-8", "surrogateescape")
    text = transform(request)
    if not isinstance(text, str):
        raise TypeError(f"transform must return a str, got {text!r} ({type(text).__name__}) "
                        f"for the message {request!r}")
    reply = text.encode("utf-8", "surrogateescape")[: fmt.MSG_MAX_TEXT]
    buf[_TEXT] = reply.ljust(fmt.MSG_MAX_TEXT, b"\0")
    _publish_length(buf, 0)
    return request
