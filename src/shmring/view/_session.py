"""One page's WebSocket: which ring it shows, how, and the paced, acknowledged stream of frames.

The page acknowledges each frame once it has drawn it; the next one is
grabbed only then, and no sooner than ``1 / max_fps`` after the last. So a
slow browser or link lowers the rate at which frames are taken from the
ring instead of queueing them, and the ring is never read faster than the
page can show.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from .. import ShmringError
from ._image import Stretch, frame_message, pack
from ._sources import LegacySource, NativeSource, Snapshot, SourceGone, open_source

#: Seconds between status messages (rate, losses, writer) and between retries of a removed ring.
STATUS_S = 1.0
#: Frames sent kept per page, so the one the page shows can be saved or re-stretched.
RECENT_FRAMES = 3
#: Longest one grab waits for a new frame before the loop looks at the page's wishes again.
GRAB_S = 0.25


@dataclass(frozen=True)
class ViewConfig:
    """What the server was started with.

    Attributes:
        directory: where native rings are listed.
        legacy_dir: where ``smem_*`` SharedMem files are listed (None: not at all).
        names: only these rings are listed (empty: all).
        max_fps: most frames per second sent to one page.
        max_side: frames larger than this many pixels on a side are binned on the server.
        token: when set, required on every request and WebSocket.
    """

    directory: Path
    legacy_dir: Path | None = Path("/tmp")
    names: tuple[str, ...] = ()
    max_fps: float = 10.0
    max_side: int = 1024
    token: str | None = None


class Session:
    """The server side of one open page."""

    def __init__(self, ws: WebSocket, config: ViewConfig, resolve: Callable[[str], Path | None]) -> None:
        self.id = secrets.token_urlsafe(12)
        self.ws = ws
        self.config = config
        self._resolve = resolve  # a name the page shows -> its file, if the catalog lists it
        self.ring: str | None = None
        self.stretch = Stretch()
        self.paused = False
        self.held: Snapshot | None = None  # the frame sent last
        # The last few frames sent: the one the page shows may be one behind the last sent
        # (a frame in flight when the user paused), and "save" must save what the page shows.
        self._recent: collections.deque[Snapshot] = collections.deque(maxlen=RECENT_FRAMES)
        self._resend_seq: int | None = None
        self._source: NativeSource | LegacySource | None = None
        self._wanted: str | None = None
        self._acked = True
        self._resend = False
        self._last_sent = 0.0
        self._last_status = 0.0
        self._gone: str | None = None
        self._after: int | None = None  # the newest seq shown from the current source
        self._after_generation = 0
        self._shape: tuple[tuple[int, ...], str] | None = None
        self._changed = asyncio.Event()

    async def run(self) -> None:
        """Serve the page until it goes away."""
        await self._send({"type": "hello", "session": self.id, "max_fps": self.config.max_fps,
                          "max_side": self.config.max_side})
        receiver = asyncio.create_task(self._receive_loop())
        try:
            await self._send_loop(receiver)
        except (WebSocketDisconnect, RuntimeError):
            pass  # the page closed (RuntimeError: a send raced the close)
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await receiver
            await asyncio.to_thread(self._close_source)

    # -- the page's wishes ----------------------------------------------------------------

    async def _receive_loop(self) -> None:
        while True:
            text = await self.ws.receive_text()
            try:
                message = json.loads(text)
                self._handle(message if isinstance(message, dict) else {})
            except ValueError as err:  # bad JSON too: the page is told, the stream goes on
                await self._send({"type": "problem", "kind": "request", "message": str(err)})
            self._changed.set()

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "select":
            self._wanted = str(message.get("ring", ""))
        elif kind == "stretch":
            self.stretch = Stretch.from_request(message)
            self._resend = True
            seq = message.get("seq")
            self._resend_seq = seq if isinstance(seq, int) else None
        elif kind == "pause":
            self.paused = True
        elif kind == "resume":
            self.paused = False
        elif kind == "ack":
            self._acked = True
        else:
            raise ValueError(f"unknown message type {kind!r}")

    def shown(self, seq: int | None) -> Snapshot | None:
        """The recently sent frame ``seq`` (the last one sent for None), if still kept."""
        if seq is None:
            return self.held
        return next((snap for snap in reversed(self._recent) if snap.seq == seq), None)

    # -- the stream ---------------------------------------------------------------------------

    async def _send_loop(self, receiver: asyncio.Task[None]) -> None:
        while not receiver.done():
            if self._wanted is not None:
                await self._switch(self._wanted)
            await self._maybe_status()
            if self._resend and self.held is not None and self._acked:
                self._resend = False
                await self._send_frame(self.shown(self._resend_seq) or self.held)
                continue
            if self._source is None or self.paused or not self._acked:
                await self._idle()
                continue
            await self._pace()
            await self._grab_and_send()
        receiver.result()  # re-raise how the page went away

    async def _idle(self) -> None:
        self._changed.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._changed.wait(), STATUS_S / 2)

    async def _pace(self) -> None:
        # The rate limit itself: nothing to wait for but the clock.
        delay = self._last_sent + 1.0 / self.config.max_fps - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _grab_and_send(self) -> None:
        source = self._source
        assert source is not None
        after = self._after if self._after_generation == source.generation else None
        try:
            snap = await asyncio.to_thread(source.grab, after, GRAB_S)
        except (SourceGone, ShmringError, OSError) as err:
            await self._lost_source(err)
            return
        if snap is not None:
            await self._note_shape(snap)
            await self._send_frame(snap)

    async def _send_frame(self, snap: Snapshot) -> None:
        header, pixels = await asyncio.to_thread(frame_message, snap, self.stretch, self.config.max_side)
        header["ring"] = self.ring
        self.held = snap
        if snap not in self._recent:
            self._recent.append(snap)
        self._after, self._after_generation = snap.seq, snap.generation
        self._acked = False
        self._last_sent = time.monotonic()
        await self.ws.send_bytes(pack(header, pixels))

    async def _note_shape(self, snap: Snapshot) -> None:
        shape = (tuple(snap.data.shape), str(snap.data.dtype))
        if self._shape is not None and shape != self._shape:
            text = "x".join(str(n) for n in reversed(shape[0]))
            await self._send({"type": "notice", "kind": "shape",
                              "message": f"{self.ring}: frames are now {text} {shape[1]} "
                                         f"(were {'x'.join(str(n) for n in reversed(self._shape[0]))} "
                                         f"{self._shape[1]})"})
        self._shape = shape

    # -- choosing and losing a ring -------------------------------------------------------------

    async def _switch(self, name: str) -> None:
        self._wanted = None
        await asyncio.to_thread(self._close_source)
        self._recent.clear()
        self.ring, self.held, self._shape, self._gone, self._acked = name, None, None, None, True
        path = await asyncio.to_thread(self._resolve, name)
        if path is None:
            await self._send({"type": "problem", "kind": "unknown", "message": f"no ring {name!r} is listed"})
            return
        await self._open(path)

    async def _open(self, path: Path) -> bool:
        self._after = None  # a source opened anew may be another file whose seqs start at 0
        try:
            self._source = await asyncio.to_thread(open_source, path)
        except (ShmringError, OSError) as err:
            await self._lost_source(err)
            return False
        if self._gone is not None:
            await self._send({"type": "notice", "kind": "back", "message": f"{self.ring} is back"})
        self._gone = None
        await self._send_status()
        return True

    async def _lost_source(self, err: Exception) -> None:
        await asyncio.to_thread(self._close_source)
        message = str(err) or type(err).__name__
        if message != self._gone:
            kind = "removed" if isinstance(err, (SourceGone, FileNotFoundError)) else "error"
            await self._send({"type": "problem", "kind": kind, "ring": self.ring,
                              "message": f"{message}; the last frame stays shown, waiting for it to come back"})
        self._gone = message

    async def _maybe_status(self) -> None:
        if time.monotonic() - self._last_status < STATUS_S:
            return
        if self._source is None and self._gone is not None and self.ring is not None:
            path = await asyncio.to_thread(self._resolve, self.ring)  # a removed ring: is it back?
            if path is not None:
                await self._open(path)
        await self._send_status()

    async def _send_status(self) -> None:
        self._last_status = time.monotonic()
        if self._source is None:
            return
        try:
            status = await asyncio.to_thread(self._source.status)
        except (ShmringError, OSError) as err:
            await self._lost_source(err)
            return
        await self._send({"type": "status", "ring": self.ring, **status})

    def _close_source(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None

    async def _send(self, message: dict[str, Any]) -> None:
        await self.ws.send_json(message)
