"""``shmring demo`` until the ring demo lands: a two-process smoke check of a segment."""

from __future__ import annotations

import multiprocessing as mp
import os
import time

import click

from .. import Segment
from .._sync import futex_wait, futex_wake, load32, store32
from ._app import cli

_READY = 0  # futex word: 1 once the child has filled the payload
_PAYLOAD = 64


def _pattern(n: int) -> bytes:
    return (bytes(range(256)) * (n // 256 + 1))[:n]


def _fill(name: str, size: int) -> None:
    seg = Segment.open(name)
    buf = seg.mapping()
    buf[_PAYLOAD:size] = _pattern(size - _PAYLOAD)
    store32(buf, _READY, 1)
    futex_wake(buf, _READY)
    seg.close()


@cli.command()
@click.option("--bytes", "size", default=1 << 20, show_default=True, help="Segment size.")
def demo(size: int) -> None:
    """Create a segment, fill it from a second process, and check every byte."""
    name = f"shmring-smoke-{os.getpid()}"
    seg = Segment.create(name, size)
    try:
        child = mp.get_context("spawn").Process(target=_fill, args=(name, size))
        started = time.monotonic()
        child.start()
        deadline = started + 30.0
        # Sleep on the futex; wake at least every 0.1 s to notice a child that died.
        while not load32(seg.mapping(), _READY) and child.is_alive() and time.monotonic() < deadline:
            futex_wait(seg.mapping(), _READY, 0, 0.1)
        child.join(30)
        if not load32(seg.mapping(), _READY):
            raise click.ClickException(f"the filling process (exit code {child.exitcode}) did not finish")
        if seg.mapping()[_PAYLOAD:size] != _pattern(size - _PAYLOAD):
            raise click.ClickException("the bytes read differ from the bytes written")
        click.echo(f"ok: {size:,} bytes written by pid {child.pid} and read back by pid {os.getpid()} "
                   f"through {seg.path} in {time.monotonic() - started:.3f} s")
    finally:
        seg.unlink()
        seg.close()
