"""``shmring legacy ...``: the seed's self-tests, against the original SharedMem bytes.

Every looping command is bounded by ``--count`` and/or ``--seconds`` so it can
be scripted and tested; Ctrl-C exits 130 (handled by the application).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import click

from .. import SegmentNotFoundError
from ..legacy import SharedMem, answer, legacy_path, send
from ._app import cli

_POLL_HELP = "Longest sleep between looks, seconds (original peers cannot signal, so they are polled)."


@cli.group()
def legacy() -> None:
    """Work with files of the original io.files.SharedMem (C++/Python/MATLAB) layout.

    NAME is a bare name (camera1 -> /tmp/smem_camera1) or a path containing '/'.
    """


def _ticks(count: int | None, seconds: float | None, interval: float) -> Iterator[int]:
    """Yield 0, 1, ... every ``interval`` s until ``count`` ticks or ``seconds`` have passed."""
    end = None if seconds is None else time.monotonic() + seconds
    i = 0
    while (count is None or i < count) and (end is None or time.monotonic() < end):
        yield i
        i += 1
        if (count is None or i < count) and interval > 0:
            time.sleep(interval)  # pacing a producer, not waiting for anyone


def _uint32(text: str, option: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an integer", param_hint=option) from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise click.BadParameter(f"{text} is not a uint32 (0..0xffffffff)", param_hint=option)
    return value


def _now_string() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"


@legacy.command()
@click.argument("name")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many writes.")
@click.option("--seconds", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--interval", default=0.1, show_default=True, type=click.FloatRange(min=0),
              help="Seconds between writes.")
@click.option("--size", default=1024, show_default=True, type=click.IntRange(min=100),
              help="File size in bytes if it has to be created.")
def server(name: str, count: int | None, seconds: float | None, interval: float, size: int) -> None:
    """Write the current time string at offset 0 of NAME (no header), every --interval s."""
    with SharedMem.create_raw(name, size, exist_ok=True) as mem:
        for _ in _ticks(count, seconds, interval):
            text = _now_string().encode()
            mem.write(0, text + bytes(min(100, mem.size) - len(text)))
            click.echo(text.decode())


@legacy.command()
@click.argument("name")
@click.option("--count", type=click.IntRange(min=1), help="Stop after printing this many strings.")
@click.option("--seconds", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--poll-interval", default=0.05, show_default=True, type=click.FloatRange(min=0.001),
              help=_POLL_HELP)
def client(name: str, count: int | None, seconds: float | None, poll_interval: float) -> None:
    """Print each new string found at offset 0 of NAME (the first 100 bytes, NULs stripped)."""
    end = None if seconds is None else time.monotonic() + seconds
    printed, last = 0, None
    with SharedMem.open_raw(name) as mem:
        mark = mem.write_mark()
        while (count is None or printed < count) and (end is None or time.monotonic() < end):
            text = mem.read(0, min(100, mem.size)).replace(b"\0", b"").decode("utf-8", "replace")
            if text and text != last:
                click.echo(text)
                printed, last = printed + 1, text
                continue
            wait = poll_interval if end is None else max(0.0, min(poll_interval, end - time.monotonic()))
            mark = mem.wait_write(mark, wait)  # a shmring server wakes us; an original one is polled


@legacy.command("client-buf")
@click.argument("name")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many buffers.")
@click.option("--seconds", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--poll-interval", default=0.01, show_default=True, type=click.FloatRange(min=0.001),
              help=_POLL_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary instead of text.")
def client_buf(name: str, count: int | None, seconds: float | None, poll_interval: float,
               as_json: bool) -> None:
    """Read buffers from the queue in NAME and report every gap in put_counter (dropped buffers)."""
    end = None if seconds is None else time.monotonic() + seconds
    received, gaps, last = 0, [], None
    with SharedMem.open(name) as mem:
        while (count is None or received < count) and (end is None or time.monotonic() < end):
            wait = None if end is None else max(0.0, end - time.monotonic())
            buf = mem.get_buf(timeout=wait, poll_interval=poll_interval)
            if buf is None:
                break
            received += 1
            if last is not None and buf.put_counter != (last + 1) & 0xFFFFFFFF:
                missed = (buf.put_counter - last - 1) & 0xFFFFFFFF
                gaps.append({"after": last, "next": buf.put_counter, "dropped": missed})
                if not as_json:
                    click.echo(f"gap: put_counter {last} -> {buf.put_counter}: {missed} dropped")
            if not as_json:
                click.echo(f"buffer put_counter={buf.put_counter} bytes={len(buf.data)} "
                           f"{buf.width}x{buf.height} flags={buf.flags:#x}")
            last = buf.put_counter
    dropped = sum(g["dropped"] for g in gaps)
    if as_json:
        click.echo(json.dumps({"received": received, "dropped": dropped, "gaps": gaps}))
    else:
        click.echo(f"received {received} buffers, {dropped} dropped in {len(gaps)} gaps")


def _open_or_create(name: str, item_size: int, slots: int) -> SharedMem:
    try:
        return SharedMem.open(name)  # an existing queue keeps its geometry (longer buffers are truncated)
    except SegmentNotFoundError:
        return SharedMem.create(name, item_size, slots, exist_ok=True)


@legacy.command()
@click.argument("name")
@click.option("--count", default=100, show_default=True, type=click.IntRange(min=1),
              help="Buffers to put.")
@click.option("--slots", default=8, show_default=True, type=click.IntRange(min=1),
              help="item_alloc if the file has to be created (an existing file keeps its own).")
@click.option("--width", default=320, show_default=True, type=click.IntRange(min=1))
@click.option("--height", default=240, show_default=True, type=click.IntRange(min=1))
@click.option("--flags", default="0x12345678", show_default=True, help="BufHeader flags (int, 0x.. allowed).")
@click.option("--interval", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds between puts.")
@click.option("--replace", is_flag=True, help="Delete and re-create the file first, as the C++ init() did.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary instead of text.")
def put(name: str, count: int, slots: int, width: int, height: int, flags: str, interval: float,
        replace: bool, as_json: bool) -> None:
    """Put --count buffers of width*height bytes, buffer k filled with byte k % 256 (the C++ unit test)."""
    flag_value = _uint32(flags, "--flags")
    item_size = width * height
    if replace:
        legacy_path(name).unlink(missing_ok=True)
    stored = 0
    with _open_or_create(name, item_size, slots) as mem:
        for k in _ticks(count, None, interval):
            stored += mem.put_buf(bytes([k % 256]) * item_size, width, height, flag_value)
        path = str(mem.path)
    summary = {"path": path, "put": count, "stored": stored, "dropped": count - stored}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"put {count} buffers into {path}: {stored} stored, {count - stored} dropped")


@legacy.command("send")
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("text")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds to wait for the reply.")
@click.option("--poll-interval", default=0.01, show_default=True, type=click.FloatRange(min=0.001),
              help=_POLL_HELP)
def send_command(file: str, text: str, timeout: float, poll_interval: float) -> None:
    """Send TEXT through the 256-byte message FILE and print the reply."""
    click.echo(send(file, text, timeout=timeout, poll_interval=poll_interval))


@legacy.command("answer")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--count", type=click.IntRange(min=1), help="Stop after answering this many messages.")
@click.option("--timeout", type=click.FloatRange(min=0),
              help="Give up (exit 1) when no message arrives within this many seconds.")
@click.option("--poll-interval", default=0.01, show_default=True, type=click.FloatRange(min=0.001),
              help=_POLL_HELP)
def answer_command(file: str, count: int | None, timeout: float | None, poll_interval: float) -> None:
    """Answer messages on FILE by upper-casing them in place; print each message received."""
    answered = 0
    while count is None or answered < count:
        request = answer(file, timeout=timeout, poll_interval=poll_interval)
        click.echo(request)
        answered += 1
