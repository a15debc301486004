"""``shmring call | serve``: send a command over a request/reply channel, or answer as a test server."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from .. import Channel, Message, SegmentNotFoundError
from . import _render as R
from ._app import cli
from ._options import parse_meta, parse_size, ring_argument


def _show(data: Any) -> str:
    """A reply as text: UTF-8 when it is, else a repr of the bytes or a summary of the array."""
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return repr(data)
    return f"array {data.dtype} {list(data.shape)}: {data!r}"


@cli.command()
@click.argument("name")
@click.argument("text")
@click.option("--meta", "meta_items", multiple=True, metavar="KEY=VALUE",
              help="Metadata sent with the request (repeatable; numbers and true/false are typed).")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds to wait for the reply.")
@click.option("--json", "as_json", is_flag=True, help="Print the reply as one JSON line (id, reply, meta).")
def call(name: str, text: str, meta_items: tuple[str, ...], timeout: float, as_json: bool) -> None:
    """Send TEXT (UTF-8) as a request on channel NAME and print the reply."""
    meta = parse_meta(meta_items)
    with Channel.open(ring_argument(name)) as ch:
        reply = ch.call(text.encode("utf-8"), meta=meta or None, timeout=timeout)
    if as_json:
        R.echo_json({"id": reply.id, "reply": _show(reply.data), "meta": reply.meta})
    else:
        click.echo(_show(reply.data))


def _echo(request: Any, meta: dict[str, Any]) -> Any:
    return Message(request, meta)


def _upper(request: Any, meta: dict[str, Any]) -> Any:
    return Message(request.upper() if isinstance(request, bytes) else request, meta)


@cli.command()
@click.argument("name")
@click.option("--echo", "handler", flag_value="echo", help="Reply with the request and its metadata.")
@click.option("--upper", "handler", flag_value="upper",
              help="Reply with the request upper-cased (what the original answer() did).")
@click.option("--slots", default=16, show_default=True, type=click.IntRange(1, 4096),
              help="If NAME does not exist: requests in flight at once.")
@click.option("--slot-bytes", default="64KiB", show_default=True,
              help="If NAME does not exist: largest request or reply.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many requests.")
@click.option("--seconds", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per request served.")
def serve(name: str, handler: str | None, slots: int, slot_bytes: str, count: int | None,
          seconds: float | None, as_json: bool) -> None:
    """Serve channel NAME as a test server (created if missing, and then removed on exit)."""
    if handler is None:
        raise click.UsageError("choose what the server does: --echo or --upper")
    fn = _echo if handler == "echo" else _upper
    ch, created = _open_or_create(name, slots, parse_size(slot_bytes, "--slot-bytes"))
    try:
        logged = _logged(fn, as_json)
        served = ch.serve_pending(logged)  # takes the server role before saying so
        R.note(f"serving channel {ch.name!r} ({handler}); Ctrl-C to stop")
        served += _serve_bounded(ch, logged, None if count is None else count - served, seconds)
        R.note(f"served {served} requests")
    finally:
        if created:
            ch.unlink()
        ch.close()


def _open_or_create(name: str, slots: int, slot_bytes: int) -> tuple[Channel, bool]:
    target = ring_argument(name)
    try:
        return Channel.open(target), False
    except SegmentNotFoundError:
        return Channel.create(target, slots=slots, slot_bytes=slot_bytes), True


def _logged(fn: Callable[[Any, dict[str, Any]], Any], as_json: bool) -> Callable[[Any, dict[str, Any]], Any]:
    def handler(request: Any, meta: dict[str, Any]) -> Any:
        if as_json:
            R.echo_json({"request": _show(request), "meta": meta})
        return fn(request, meta)

    return handler


def _serve_bounded(ch: Channel, handler: Callable[[Any, dict[str, Any]], Any],
                   count: int | None, seconds: float | None) -> int:
    """Serve until ``count`` requests or ``seconds`` have passed (either may be None: no bound)."""
    end = None if seconds is None else time.monotonic() + seconds
    served = 0
    while count is None or served < count:
        remaining = None if end is None else end - time.monotonic()
        if remaining is not None and remaining <= 0:
            break
        served += ch.serve_once(handler, timeout=remaining)
    return served
