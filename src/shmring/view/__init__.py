"""``shmring.view``: a live web viewer for rings and SharedMem files (the ``[view]`` extra).

Run it as ``shmring view``, or from Python::

    from shmring.view import ViewConfig, serve
    serve(ViewConfig(directory=shmring.segment_dir()), host="127.0.0.1", port=8750)

The page lists the rings, shows one live (stretch, colour map, zoom, pixel
values, histogram, metadata), pauses, and saves the shown frame as FITS or
PNG. See docs/view.md.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from ._app import create_app
from ._session import ViewConfig

__all__ = ["ViewConfig", "create_app", "serve"]


def serve(config: ViewConfig, host: str = "127.0.0.1", port: int = 8750,
          on_ready: Callable[[str], None] | None = None) -> None:
    """Serve the viewer until interrupted (Ctrl-C).

    Args:
        config: what to list and how fast to send.
        host: address to bind (127.0.0.1: this machine only).
        port: TCP port (0: any free one).
        on_ready: called with the page's URL once the port is bound, before serving.

    Raises:
        OSError: the address cannot be bound (in use, or not this machine's).
    """
    import uvicorn

    from ._image import preload

    preload()  # astropy takes most of a second to import: not on the first frame
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)  # listening before the URL is announced: a client may connect at once
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    if on_ready is not None:
        on_ready(f"http://{shown}:{bound}/" + (f"?token={config.token}" if config.token else ""))
    # No per-message deflate: zlib on megabytes of pixels costs a second per frame and saves
    # little on noisy images; the frames' size is bounded by binning instead (--max-side).
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", ws="auto",
                                           ws_per_message_deflate=False, lifespan="off"))
    server.run(sockets=[sock])
