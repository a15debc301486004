"""``shmring view``: serve a web page that lists the rings and shows one live (the ``[view]`` extra)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from . import _render as R
from ._app import cli
from ._options import ring_dir


@cli.command()
@click.argument("names", nargs=-1)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to serve on (0.0.0.0: every interface, a warning says who can then look).")
@click.option("--port", default=8750, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port (0: any free one).")
@click.option("--token", envvar="SHMRING_VIEW_TOKEN", help="Require this token on every request "
              "(also from $SHMRING_VIEW_TOKEN, which keeps it out of the process list).")
@click.option("--max-fps", default=10.0, show_default=True, type=click.FloatRange(min=0.1, max=200),
              help="Most frames per second sent to one page.")
@click.option("--max-side", default=1024, show_default=True, type=click.IntRange(min=16),
              help="Frames larger than this on a side are binned on the server.")
@click.option("--legacy-dir", default="/tmp", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where to look for original SharedMem files (smem_*).")
@click.option("--no-legacy", is_flag=True, help="List native rings only.")
def view(names: tuple[str, ...], host: str, port: int, token: str | None, max_fps: float, max_side: int,
         legacy_dir: Path, no_legacy: bool) -> None:
    """Serve a live web viewer of the rings NAMES (default: every ring); Ctrl-C stops.

    The page lists the rings with their rate, lag and losses and shows the chosen
    one live; it reads like any other reader and never slows the writer.
    """
    try:
        from ..view import ViewConfig, serve
    except ImportError as err:
        raise click.ClickException(f"shmring view needs the [view] extra ({err}); "
                                   "install it with: pip install 'shmring[view]'") from None
    if token is not None and not token.strip():
        raise click.BadParameter("must not be empty", param_hint="--token")
    config = ViewConfig(directory=ring_dir(), legacy_dir=None if no_legacy else legacy_dir, names=names,
                        max_fps=max_fps, max_side=max_side, token=token)
    _warn_if_exposed(host, token)
    try:
        serve(config, host, port, on_ready=_announce)
    except OSError as err:
        raise click.ClickException(f"cannot serve on {host}:{port}: {err.strerror or err}") from None


def _announce(url: str) -> None:
    click.echo(f"shmring view: serving {url}", err=True)
    click.echo(url)


def _warn_if_exposed(host: str, token: str | None) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return
    who = "every machine that can reach this one" if host in ("0.0.0.0", "::") else f"anyone who can reach {host}"
    guard = "they need the token" if token else "and no --token is set: anyone of them can watch every ring"
    R.note(f"warning: serving on {host}: {who} can open the viewer; {guard}")
