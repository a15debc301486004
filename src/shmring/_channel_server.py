"""The serving side of a channel: the server lease, one request handled, and the serving thread.

One server at a time: serving needs the channel's server lease (an OFD lock
held for as long as it serves). Its clients ask the kernel for that lease
while they wait, so a server that dies, SIGKILL included, fails their requests
at once with BrokenError instead of letting them wait out their timeouts.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from . import _channel_codec as codec
from . import _channel_format as CF
from . import _core, _sync
from ._channel_codec import Message
from ._channel_slots import SlotTable
from ._errors import ShmringError, WaitTimeout, WouldBlock
from ._locks import Lease
from ._spin import AdaptiveSpin

log = logging.getLogger("shmring")

#: ``handler(request, meta) -> reply``: request is bytes or an array; reply bytes, an array or a Message.
Handler = Callable[[Any, dict[str, Any]], Any]

#: Longest sleep of an idle server before it looks at its stop flag (stop() also wakes it).
SERVER_SLICE_S = 1.0


class ServerRole:
    """This handle's claim to serve: the server lease, taken once, held until :meth:`release`.

    Raises:
        WouldBlock: another live server holds the channel.
    """

    def __init__(self, table: SlotTable, fd: int) -> None:
        lease = Lease.try_take(fd, CF.LOCK_SERVER)
        if lease is None:
            raise WouldBlock(f"channel {table.name!r} already has a live server", name=table.name)
        self._lease: Lease | None = lease
        self.table = table
        self.served = 0
        self.spin: float | None = None  # seconds to busy-poll for the next request before sleeping; None: learned
        self._spinning = AdaptiveSpin()
        self._stopping = False
        _sync.fetch_add32(table.buf, CF.OFF_SERVER_EPOCH, 1)
        settled = table.recover()
        if settled:
            log.info("shmring: channel %r: settled %d slots a previous server left", table.name, settled)

    @property
    def alive(self) -> bool:
        return self._lease is not None

    @property
    def stopping(self) -> bool:
        return self._stopping

    def serve_once(self, handler: Handler, timeout: float | None) -> bool:
        """Wait up to ``timeout`` s (None: until stopped) for a request and handle it; False if none came.

        Each wait is one call into C with the GIL released (take, spin, sleep a
        slice, take); the first spins ``spin`` s, or the learned budget.
        """
        table, layout = self.table, self.table.layout
        deadline = None if timeout is None else time.monotonic() + timeout
        spin = self._spinning.seconds(self.spin)
        if timeout is not None:
            spin = max(0.0, min(spin, timeout))
        first = True
        while True:
            seen = table.requests.snapshot()  # before the stop flag is looked at: stop() moves it
            stopping = self._stopping
            if stopping and not first:
                return False
            remaining = SERVER_SLICE_S if deadline is None else max(0.0, min(deadline - time.monotonic(),
                                                                              SERVER_SLICE_S))
            if stopping:
                spin = remaining = 0.0  # one look, as a stopped server still answers what is posted
            got, _spun, caught = _core.channel_next(table.buf, layout.slots, layout.slot_stride, seen, spin,
                                                   remaining)
            if spin > 0 and self.spin is None:
                self._spinning.learn(spin, caught)  # C counts a catch after a yield that ran others as none
            spin, first = 0.0, False
            if got is not None:
                self.handle(*got, handler)
                return True
            if self._stopping or (deadline is not None and time.monotonic() >= deadline):
                return False

    def serve_pending(self, handler: Handler) -> int:
        """Handle every request posted now, without waiting; returns how many."""
        count = 0
        while (got := self.table.take()) is not None:
            self.handle(*got, handler)
            count += 1
        return count

    def handle(self, index: int, serving: int, handler: Handler) -> None:
        """Run ``handler`` on the request in slot ``index`` and publish its reply (or its error)."""
        table = self.table
        if not table.client_alive(index):
            table.drop(index, serving)  # its client died mid-request: nobody would read the reply
            return
        layout = table.layout
        plain = _core.channel_read_bytes(table.buf, table.slot_at[index], layout.payload_offset, layout.slot_bytes,
                                         serving, False)
        if plain is not None:  # bytes without metadata: no header object, no metadata to decode
            self._answer(index, serving, plain[0], plain[1], {}, handler)
            return
        try:
            header, data, meta = table.read(index)
        except ShmringError as err:  # a corrupt request: its client (if any) learns why
            self._publish(index, serving, table.request_id(index), _error_reply(err, layout.meta_bytes))
            return
        self._answer(index, serving, header.id, data, meta, handler)

    def _answer(self, index: int, serving: int, ident: int, data: object, meta: dict[str, Any],
                handler: Handler) -> None:
        layout = self.table.layout
        try:
            result = handler(data, meta)
            if type(result) is bytes and len(result) <= layout.slot_bytes:
                self._publish_bytes(index, serving, ident, result)
                return
            reply = _reply(result, layout, self.table.name)
        except Exception as err:  # noqa: BLE001 -- a handler's error goes back to its client
            reply = _error_reply(err, layout.meta_bytes)
        except BaseException as err:  # KeyboardInterrupt, SystemExit: tell the client, then stop
            self._publish(index, serving, ident, _error_reply(err, layout.meta_bytes, broken=True))
            raise
        self._publish(index, serving, ident, reply)

    def _publish_bytes(self, index: int, serving: int, ident: int, data: bytes) -> None:
        """Step 4 of a plain bytes reply, in one call: fields, payload, REPLY, the client's wake-up."""
        table, layout = self.table, self.table.layout
        if not _core.channel_reply(table.buf, table.slot_at[index], layout.payload_offset, layout.slot_bytes,
                                   serving, ident, CF.KIND_BYTES, "", (), os.getpid(), b"", data):
            table.drop(index, CF.state_word(CF.ticket(serving), CF.ABANDONED))  # its client gave up
        self.served += 1

    def _publish(self, index: int, serving: int, ident: int, reply: tuple[codec.Encoded, bytes]) -> None:
        enc, meta = reply
        header = CF.SlotHeader(ident, enc.raw.nbytes, enc.kind, len(meta), enc.typestr, enc.shape,
                               os.getpid(), time.monotonic_ns())
        self.table.write(index, header, meta, enc)
        self.table.reply(index, serving)
        self.served += 1

    def stop(self) -> None:
        """Make a waiting :meth:`serve_once` (in any thread) return."""
        self._stopping = True
        self.table.requests.wake_all()

    def release(self) -> None:
        """Give up serving; clients waiting now get BrokenError."""
        self._stopping = True
        if self._lease is not None:
            self._lease.release()
            self._lease = None


def _reply(result: object, layout: CF.Layout, name: str) -> tuple[codec.Encoded, bytes]:
    data, meta = (result.data, result.meta) if isinstance(result, Message) else (result, None)
    if isinstance(data, str):
        data = data.encode("utf-8")
    enc = codec.encode(data, "the handler's reply")
    codec.check_fits(enc, layout.slot_bytes, name, "the handler's reply")
    return enc, codec.encode_meta(meta, layout.meta_bytes, name)


def _error_reply(err: BaseException, limit: int, *, broken: bool = False) -> tuple[codec.Encoded, bytes]:
    return codec.encode_error(err, limit, broken=broken)


class Server:
    """A thread serving a channel with ``handler``, one request at a time. Make one with ``Channel.serve()``.

    A handler's exception goes back to the client that asked (as RemoteError)
    and the server goes on. Usable as a context manager; ``stop()`` ends it.

    Attributes:
        served: requests answered so far.
        error: what ended the thread other than ``stop()`` (then ``stop()`` re-raises it).
    """

    def __init__(self, role: ServerRole, handler: Handler, name: str) -> None:
        self._role = role
        self._handler = handler
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"shmring-serve-{name}", daemon=True)
        self._thread.start()

    @property
    def served(self) -> int:
        return self._role.served

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while self._role.alive and not self._role.stopping:
                self._role.serve_once(self._handler, None)
        except BaseException as err:  # noqa: BLE001 -- ends the thread; stop() re-raises it
            log.error("shmring: channel server ended by %r", err)
            self.error = err
        finally:
            self._role.release()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop serving (after the request in hand) and wait ``timeout`` s for the thread.

        Raises:
            WaitTimeout: the handler is still running after ``timeout``.
        """
        self._role.stop()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise WaitTimeout(f"channel server still running {timeout} s after stop() (is the handler "
                              "blocked?)", timeout=timeout)
        if self.error is not None:
            err, self.error = self.error, None
            raise err

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
