"""``Channel``: request/reply between processes — one server, many clients, on shared memory.

A channel is one segment of ``slots`` slots; each slot carries one exchange at a
time, so ``slots`` is how many requests can be in flight at once. The protocol
(docs/format.md, "Channel") is in :mod:`._channel_slots`; this module holds the
handle: create, open, close, and the public verbs of both sides.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from . import _channel_format as CF
from . import _sync
from ._channel_client import CancelToken, ClientSide
from ._channel_codec import Message, Payload
from ._channel_server import Handler, Server, ServerRole
from ._channel_slots import SlotTable
from ._errors import BrokenError, ClosedError, LayoutError, WouldBlock
from ._locks import Lease, reopen
from ._readyfd import ReadyFd
from ._segment import NameOrPath, Segment
from ._spin import check_spin
from ._unlink import HandleOrName

__all__ = ["Channel"]

_fork_generation = 0


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Attachment:
    """One open channel file: the mapping, the slot table, and this handle's kernel-held locks."""

    def __init__(self, seg: Segment, layout: CF.Layout) -> None:
        self.seg = seg
        self.layout = layout
        self.probe_fd = reopen(seg.fd)
        # Held shared while this handle is open: "is anyone using this channel?" has a kernel answer.
        self.attached_fd = reopen(seg.fd)
        _sync.ofd_lock(self.attached_fd, CF.LOCK_ATTACHED, 1, False, False)
        self.table = SlotTable(seg.mapping(), layout, self.probe_fd, seg.path.name)
        self.client = ClientSide(self.table, seg.fd)

    def close(self) -> None:
        self.client.close()
        self.table.view.release()
        os.close(self.probe_fd)
        os.close(self.attached_fd)
        del self.table
        try:
            self.seg.close()
        except BufferError:  # a thread still inside a wait (close() waited 2 s): leave the pages mapped
            self.seg.buf = None
            os.close(self.seg.fd)


def _validate_slots(att: _Attachment, name: str) -> None:
    for index in range(att.layout.slots):
        phase = CF.phase(att.table.state(index))
        if phase >= len(CF.PHASE_NAMES):
            raise LayoutError(f"{name}: slot {index} has phase {phase}", field="slot phase",
                                 expected=f"0..{len(CF.PHASE_NAMES) - 1}", found=phase)




def _phase_name(state: int) -> str:
    phase = CF.phase(state)
    return CF.PHASE_NAMES[phase] if phase < len(CF.PHASE_NAMES) else f"invalid ({phase})"


class Channel:
    """A request/reply channel. Create with :meth:`create`, attach with :meth:`open`.

    Any handle can ask (:meth:`request`); one handle at a time serves
    (:meth:`serve`, :meth:`serve_forever`, :meth:`serve_once`, or
    :meth:`fileno` with :meth:`serve_pending` in an event loop).

    Attributes:
        name: the file name.
        path: the file's path.
        slots: requests that can be in flight at once.
        slot_bytes: largest request or reply payload, in bytes.
        meta_bytes: largest encoded metadata of a request or reply, in bytes.
    """

    def __init__(self, seg: Segment, layout: CF.Layout) -> None:
        self._att: _Attachment | None = _Attachment(seg, layout)
        self.path: Path = seg.path
        self.name: str = seg.path.name
        self.slots = layout.slots
        self.slot_bytes = layout.slot_bytes
        self.meta_bytes = layout.meta_bytes
        self._role: ServerRole | None = None
        self._server: Server | None = None
        self._ready: ReadyFd | None = None
        self._pid = os.getpid()
        self._generation = _fork_generation

    # -- lifecycle ----------------------------------------------------------------

    @classmethod
    def create(cls, name: NameOrPath, slots: int = 16, slot_bytes: int = 64 << 10, meta_bytes: int = 4096,
               mode: int = 0o600, *, directory: str | os.PathLike[str] | None = None) -> Channel:
        """Create a channel; fails if the name exists.

        Args:
            name: channel name (``[A-Za-z0-9._-]{1,200}``, no leading dot) or a ``pathlib.Path``.
            slots: requests in flight at once, from all clients together (1..4096).
            slot_bytes: largest request or reply payload, in bytes.
            meta_bytes: largest encoded metadata of a request or reply, in bytes.
            mode: file permission bits (exactly; 0o660 to share with a group).
            directory: where a bare name lives (default ``$SHMRING_DIR`` or /dev/shm).

        Raises:
            SegmentExistsError: the name is taken.
            NoSpaceError: the directory's tmpfs cannot hold the channel.
            ValueError, TypeError: a size is out of range (the message names it).
        """
        CF.check_sizes(slots, slot_bytes, meta_bytes)
        layout = CF.Layout(slots, slot_bytes, meta_bytes, time.time_ns())
        seg = Segment.create(name, layout.total_bytes, directory=directory, mode=mode,
                             init=lambda buf: CF.write_header(buf, layout))
        return cls(seg, layout)

    @classmethod
    def open(cls, name: NameOrPath, *, directory: str | os.PathLike[str] | None = None) -> Channel:
        """Attach to an existing channel, validating its header and slot words first.

        Raises:
            SegmentNotFoundError: no such channel.
            LayoutError: the file is not a v1 channel (the message names the field,
                what was expected and what was found).
        """
        seg = Segment.open(name, directory=directory, min_size=CF.HEADER_BYTES)
        try:
            layout = CF.read_header(seg.mapping(), seg.size, str(seg.path))
        except BaseException:
            seg.close()
            raise
        channel = cls(seg, layout)
        try:
            _validate_slots(channel._attachment(), str(seg.path))
        except BaseException:
            channel.close()
            raise
        return channel

    def close(self) -> None:
        """Stop serving (if this handle serves), fail its waiting requests, close the handle. Idempotent."""
        if self._att is None:
            return
        self._stop_serving_quietly()
        self._att.client.cancel_all(wait=2.0)  # requests of other threads leave before the mapping goes
        self._att.close()
        self._att = None

    def _stop_serving_quietly(self) -> None:
        if self._ready is not None:
            self._ready.close()
            self._ready = None
        if self._server is not None:
            self._server.error = None
            self._server.stop()
            self._server = None
        if self._role is not None:
            self._role.release()
            self._role = None

    #: ``channel.unlink()``, or ``Channel.unlink(name, directory=None)``: remove the channel's name.
    unlink: HandleOrName[Channel] = HandleOrName()

    def _unlink_handle(self) -> None:
        """Remove the channel's name for everyone; attached processes keep working until they close."""
        self._attachment().seg.unlink()

    @property
    def closed(self) -> bool:
        return self._att is None

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._att is None else f"{self.slots} x {self.slot_bytes:,} B"
        return f"<Channel {self.name!r} {state}>"

    # -- asking --------------------------------------------------------------------

    def request(self, data: Payload, meta: dict[str, Any] | None = None, timeout: float | None = None, *,
                spin: float | None = None) -> Any:
        """Send a request and wait for its reply.

        Args:
            data: bytes-like, or a numpy array (bool/int/float/complex, up to 4 dims).
            meta: a small dict of str to int/float/str/bool sent along.
            timeout: seconds to wait for a free slot and the reply (None: forever).
            spin: seconds to busy-poll (GIL released) for the reply before sleeping;
                None (the default) learns how long from the last requests, up to
                50 µs, and stops spinning for a slow server; 0 never spins
                (docs/channel.md, "Spinning").

        Returns:
            The reply: ``bytes``, or a numpy array (a copy).

        Raises:
            WaitTimeout: no reply (or no free slot) within ``timeout``.
            BrokenError: the channel has no live server, or it died while this request waited.
            RemoteError: the handler raised (``remote_type``, ``remote_message``).
            FrameError: the request or its metadata is larger than the channel allows.
        """
        return self._attachment().client.exchange(data, meta, timeout, None, spin)[0]  # no Message to build

    def call(self, data: Payload, meta: dict[str, Any] | None = None, timeout: float | None = None, *,
             spin: float | None = None) -> Message:
        """Like :meth:`request`, but return the whole reply: ``Message(data, meta, id)``."""
        return self._attachment().client.call(data, meta, timeout, None, spin)

    async def arequest(self, data: Payload, meta: dict[str, Any] | None = None,
                       timeout: float | None = None) -> Any:
        """``await ch.arequest(...)``: :meth:`request` without blocking the event loop."""
        return (await self.acall(data, meta, timeout)).data

    async def acall(self, data: Payload, meta: dict[str, Any] | None = None,
                    timeout: float | None = None) -> Message:
        """``await ch.acall(...)``: :meth:`call` waiting in a worker thread; cancelling withdraws the request."""
        client = self._attachment().client
        token = CancelToken()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, client.call, data, meta, timeout, token)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            token.cancel(client.table)
            # The worker returns at once with Cancelled; nobody wants that result.
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise

    # -- serving -------------------------------------------------------------------

    def serve(self, handler: Handler, *, spin: float | None = None) -> Server:
        """Serve requests from a background thread: ``reply = handler(request, meta)``.

        ``request`` is bytes or a numpy array, ``meta`` a dict; the handler
        returns bytes (or str, sent UTF-8), an array, or a :class:`Message` to
        attach metadata. An exception it raises goes back to the client as
        RemoteError and the server goes on. ``server.stop()`` ends it.
        ``spin`` (seconds) busy-polls for the next request before sleeping, for
        the lowest latency when requests come back to back; None (the default)
        learns how long, up to 50 µs, and stops spinning when requests come
        rarely; 0 never spins (docs/channel.md, "Spinning").

        Raises:
            WouldBlock: another live server holds the channel.
        """
        if self._server is not None and self._server.running:
            raise WouldBlock(f"this handle already serves channel {self.name!r} (stop that server first)",
                             name=self.name)
        spin = check_spin(spin)
        role = self._take_role()
        role.spin = spin
        self._server = Server(role, handler, self.name)
        return self._server

    def serve_forever(self, handler: Handler, *, spin: float | None = None) -> None:
        """Serve in this thread until :meth:`stop_serving` is called (from another thread) or a signal.

        ``spin`` as for :meth:`serve`.
        """
        spin = check_spin(spin)
        role = self._take_role()
        role.spin = spin
        try:
            while role.alive and not role.stopping:
                role.serve_once(handler, None)
        finally:
            self.stop_serving()

    def serve_once(self, handler: Handler, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` s for one request and handle it; False if none came.

        The first call makes this handle the channel's server until :meth:`stop_serving` or close.
        """
        return self._take_role().serve_once(handler, timeout)

    def serve_pending(self, handler: Handler) -> int:
        """Handle every request waiting now, without waiting; returns how many (for event loops)."""
        return self._take_role().serve_pending(handler)

    def stop_serving(self) -> None:
        """Give up serving: a running :meth:`serve_forever` or thread returns; clients then see BrokenError."""
        if self._role is not None:
            self._role.stop()
        self._stop_serving_quietly()

    def fileno(self) -> int:
        """A file descriptor readable when requests are waiting; makes this handle the server.

        For ``select``/``selectors``/``asyncio``'s ``add_reader``/Qt's
        ``QSocketNotifier``: when readable, ``os.read(fd, 8)`` (clears it),
        then :meth:`serve_pending`. It may be readable with nothing waiting
        (a spurious wake-up); it never stays unreadable while a request waits.
        """
        role = self._take_role()
        if self._ready is None:
            table = role.table
            self._ready = ReadyFd(table.requests, table.any_posted, self.name)
        return self._ready.fileno()

    def _take_role(self) -> ServerRole:
        att = self._attachment()
        if self._role is None or not self._role.alive:
            self._role = ServerRole(att.table, att.seg.fd)
        return self._role

    # -- inspection -----------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Sizes, whether a server is alive, and the phase of every slot, as plain data."""
        att = self._attachment()
        table = att.table
        return {
            "name": self.name, "path": str(self.path), "layout_version": CF.VERSION,
            "slots": self.slots, "slot_bytes": self.slot_bytes, "meta_bytes": self.meta_bytes,
            "total_bytes": att.layout.total_bytes, "created_ns": att.layout.created_ns,
            "server_alive": table.server_alive(),
            "requests": _sync.load64(table.buf, CF.OFF_NEXT_ID),
            "server_epoch": _sync.load32(table.buf, CF.OFF_SERVER_EPOCH),
            "slot_phases": [_phase_name(table.state(i)) for i in range(self.slots)],
            "slot_clients_alive": [Lease.is_held(att.probe_fd, att.layout.slot_offset(i))
                                   for i in range(self.slots)],
        }

    def _attachment(self) -> _Attachment:
        if self._att is None:
            raise ClosedError(f"channel {self.name!r} was closed")
        if self._generation != _fork_generation:
            raise BrokenError(
                f"channel {self.name!r} was opened in process {self._pid} and used after fork() in "
                f"{os.getpid()}: a child shares its parent's locks, so it must Channel.open() anew")
        return self._att
