"""``shmring bridge send|recv|keys``: relay a ring to another host over ZeroMQ, with a live status view.

The relay runs in this process's main thread; every ``--interval`` seconds a
status sample (rates, lag, losses) is drawn in place like ``shmring watch``, or
printed as one JSON line with ``--json``. Ctrl-C ends it (exit 130).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import RenderableType
from rich.live import Live

from . import _render as R
from ._app import cli
from ._options import parse_mode, parse_size, ring_argument


def _bridge_module() -> Any:
    try:
        import shmring.bridge as bridge
    except ImportError as err:
        raise click.ClickException(f"the bridge needs the [bridge] extra ({err}); "
                                   "install it with: pip install 'shmring[bridge]'") from None
    return bridge


@cli.group()
def bridge() -> None:
    """Relay a ring to other machines over ZeroMQ (the [bridge] extra)."""


_common = [
    click.option("--lossless", is_flag=True, help="Credit-based flow control: nothing lost under the block policy."),
    click.option("--curve-keys", type=click.Path(file_okay=False, path_type=Path),
                 help="Turn on CURVE encryption and authentication with the keys in DIR (shmring bridge keys)."),
    click.option("--seconds", type=click.FloatRange(min=0), help="Stop after this many seconds."),
    click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(min=0.05),
                 help="Seconds between status samples."),
    click.option("--json", "as_json", is_flag=True, help="One JSON status line per sample instead of a live table."),
]


def _with_common(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_common):
        fn = option(fn)
    return fn


@bridge.command()
@click.argument("name")
@click.option("--bind", default="tcp://127.0.0.1:5555", show_default=True,
              help="Endpoint to serve on; tcp://0.0.0.0:PORT for every interface.")
@click.option("--hwm", default=2, show_default=True, type=click.IntRange(min=1),
              help="Live mode: frames queued per receiver before the newest are dropped.")
@click.option("--start", type=click.Choice(["next", "latest", "oldest"]), default="next", show_default=True,
              help="Live mode: first frame to relay.")
@_with_common
def send(name: str, bind: str, hwm: int, start: str, lossless: bool, curve_keys: Path | None,
         seconds: float | None, interval: float, as_json: bool) -> None:
    """Relay every frame of ring NAME to the receivers that connect; Ctrl-C ends."""
    b = _bridge_module()
    curve = None if curve_keys is None else b.Curve(curve_keys)
    try:
        sender = b.Sender(ring_argument(name), bind, lossless=lossless, hwm=hwm, curve=curve, start=start)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    with sender:
        R.note(f"shmring bridge: relaying ring {name} on {sender.endpoint} "
               f"({'lossless' if lossless else 'live'}{', CURVE' if curve else ''})")
        _show(_samples(sender, "sent", seconds, interval), as_json, _send_view)


@bridge.command()
@click.argument("endpoint")
@click.option("--into", "into", required=True, help="Local ring to write (created from the sender's geometry).")
@click.option("--window", default=16, show_default=True, type=click.IntRange(min=1),
              help="Lossless mode: frames the sender may have unacknowledged (it allows at most its "
                   "ring's slots - 1, 64, and 256 MiB of slots).")
@click.option("--hwm", default=2, show_default=True, type=click.IntRange(min=1),
              help="Live mode: frames queued here before the newest are dropped.")
@click.option("--policy", type=click.Choice(["overwrite", "block", "drop"]),
              help="Policy of a ring created here [default: block if --lossless, else overwrite].")
@click.option("--mode", "mode_text", default="600", show_default=True, help="File mode of a ring created here.")
@click.option("--curve-client", default="client", show_default=True,
              help="Name of this receiver's key pair in the --curve-keys directory.")
@click.option("--max-frame-bytes", "max_frame_text", default="1GiB", show_default=True,
              help="Largest slot accepted; bigger messages are refused before they take memory.")
@_with_common
def recv(endpoint: str, into: str, window: int, hwm: int, policy: str | None, mode_text: str, curve_client: str,
         max_frame_text: str, lossless: bool, curve_keys: Path | None, seconds: float | None, interval: float,
         as_json: bool) -> None:
    """Write the frames relayed from ENDPOINT into the local ring --into; Ctrl-C ends."""
    b = _bridge_module()
    curve = None if curve_keys is None else b.Curve(curve_keys, curve_client)
    mode = parse_mode(mode_text, "--mode")
    max_frame_bytes = parse_size(max_frame_text, "--max-frame-bytes")
    try:
        receiver = b.Receiver(endpoint, ring_argument(into), lossless=lossless, window=window, hwm=hwm,
                              policy=policy, mode=mode, curve=curve, max_frame_bytes=max_frame_bytes)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    with receiver:
        R.note(f"shmring bridge: receiving {endpoint} into ring {into} "
               f"({'lossless' if lossless else 'live'}{', CURVE' if curve else ''})")
        _show(_samples(receiver, "received", seconds, interval), as_json, _recv_view)


@bridge.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--client", default="client", show_default=True, help="Name of the receiver key pair to make.")
def keys(directory: Path, client: str) -> None:
    """Make CURVE keys in DIRECTORY: the sender's pair (once) and an allowed receiver pair."""
    b = _bridge_module()
    try:
        paths = b.make_keys(directory, client)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--client") from None
    for what, path in paths.items():
        click.echo(f"{what:14} {path}")
    R.note(f"shmring bridge: copy {paths['server']} and {paths['client_secret']} to the receiver's key "
           "directory; the secret files stay private")


# -- status ------------------------------------------------------------------------------


def _samples(end: Any, counter: str, seconds: float | None, interval: float) -> Iterator[dict[str, Any]]:
    """Run the relay, yielding a status sample every ``interval`` s with rates since the last one.

    Ctrl-C yields one last sample (the totals at that moment) before the
    KeyboardInterrupt goes on, so what a run relayed is never left unsaid.
    """
    stop_at = None if seconds is None else time.monotonic() + seconds
    last = (time.monotonic(), 0)
    try:
        while True:
            tick = time.monotonic() + interval
            while time.monotonic() < tick and (stop_at is None or time.monotonic() < stop_at):
                end.step(timeout=min(0.5, max(0.0, tick - time.monotonic())))
            sample, last = _sample(end, counter, last)
            yield sample
            if stop_at is not None and last[0] >= stop_at:
                return
    except KeyboardInterrupt:
        yield _sample(end, counter, last)[0]
        raise


def _sample(end: Any, counter: str, last: tuple[float, int]) -> tuple[dict[str, Any], tuple[float, int]]:
    """The relay's status now, with the rate since ``last`` (time, count); and the new ``last``."""
    now = time.monotonic()
    sample = end.stats().to_dict()
    sample["frames_per_s"] = round((sample[counter] - last[1]) / max(now - last[0], 1e-9), 2)
    return sample, (now, sample[counter])


def _show(samples: Iterator[dict[str, Any]], as_json: bool, view: Callable[[dict[str, Any]], RenderableType]) -> None:
    if as_json:
        for sample in samples:
            R.echo_json(sample)
        return
    console = R.console()
    if not console.is_terminal:
        for sample in samples:
            console.print(view(sample))
        return
    with Live(console=console, refresh_per_second=4) as live:
        for sample in samples:
            live.update(view(sample))


def _send_view(s: dict[str, Any]) -> RenderableType:
    held = f", {s['held']} held unacknowledged" if s["mode"] == "lossless" else ""
    return R.key_values(f"bridge send {s['ring']} on {s['endpoint']} ({s['mode']})", {
        "frames": f"{s['sent']} sent, {s['frames_per_s']:.1f}/s, {s['resent']} resent{held}",
        "lag": f"{s['lag']} frames behind the ring (write_seq {s['write_seq']})",
        "lost": f"{s['lost']} frames lost in the ring (the sender fell behind its writer)",
        "copy": "yes (overwrite policy: copied out before sending)" if s["copy"] else "no (zero-copy from the slot)",
        "receiver": ("any number (live)" if s["mode"] == "live" else "none yet") if s["receiver"] is None
                    else f"session {s['receiver']:x}",
        "refused": f"{s['refused']} connections (CURVE)",
    })


def _recv_view(s: dict[str, Any]) -> RenderableType:
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(s["dropped"].items())) or "none"
    silent = "never heard" if s["silent_s"] is None else (
        "connected" if s["silent_s"] < 2.0 else f"silent for {s['silent_s']:.1f} s")
    return R.key_values(f"bridge recv {s['endpoint']} into {s['ring']} ({s['mode']})", {
        "frames": f"{s['received']} received, {s['frames_per_s']:.1f}/s, last seq {s['last_seq']}",
        "lag": "-" if s["lag"] is None else f"{s['lag']} frames behind the sender's ring",
        "lost": f"{s['lost']} ({s['lost_wire']} on the wire, {s['lost_sender']} before it), "
                f"{s['duplicates']} duplicates dropped, {s['rebases']} numbering restarts",
        "dropped": f"{s['dropped_total']} malformed messages ({dropped})",
        "sender": silent,
    })
