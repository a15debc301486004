"""The asking side of a channel: lease a slot, post a request, wait for its reply.

A client waits on its own slot's state word (a futex the server wakes when the
reply is there). The sleep is cut into slices of :data:`RECHECK_S` to ask the
kernel whether the server's lease is still held: a dead server is noticed
within a slice, and the request fails with BrokenError long before its
timeout. A handle keeps the lease of its last slot between requests (one
``open()`` syscall less per request); the kernel drops it if the process dies.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from . import _channel_codec as codec
from . import _channel_format as CF
from . import _core
from ._channel_codec import Message
from ._channel_slots import SlotTable
from ._errors import BrokenError, ClosedError, ShmringError, WaitTimeout
from ._locks import Lease
from ._spin import AdaptiveSpin, check_spin

#: A request as it enters a slot: kind, payload (any buffer), typestr, shape (an Encoded, or a plain tuple).
_Payload = tuple[int, Any, str, tuple[int, ...]]

#: Longest a waiting client sleeps before asking whether the server is still alive, in seconds.
RECHECK_S = 0.1


class Cancelled(ClosedError):
    """The request was cancelled (``arequest`` cancelled, or the handle closed) while waiting."""


class _Exchange:
    """One request in flight: its slot, lease and state word, and a flag to cancel it."""

    def __init__(self, index: int, lease: Lease, state: int) -> None:
        self.index = index
        self.lease: Lease | None = lease
        self.state = state
        self.cancelled = False


class CancelToken:
    """Lets another thread (an asyncio task being cancelled) stop one request, before or during its wait."""

    def __init__(self) -> None:
        self.cancelled = False
        self.exchange: _Exchange | None = None

    def cancel(self, table: SlotTable) -> None:
        self.cancelled = True
        if self.exchange is not None:
            cancel(table, self.exchange)


class ClientSide:
    """Requests made through one Channel handle, from any number of threads."""

    def __init__(self, table: SlotTable, fd: int) -> None:
        self.table = table
        self._fd = fd
        self._idle: tuple[int, Lease] | None = None  # the slot kept leased between requests
        # _mutex guards _idle and _in_flight (a plain lock: every request takes it a few times);
        # cancel_all() waits on _left for the requests in flight to leave, which they signal only then.
        self._mutex = threading.Lock()
        self._left = threading.Condition(self._mutex)
        self._closing = False
        self._in_flight: set[_Exchange] = set()
        self._spinning = AdaptiveSpin()  # the learned spin of requests with spin=None

    def call(self, data: object, meta: object, timeout: float | None, token: CancelToken | None = None,
             spin: float | None = None) -> Message:
        """One exchange; ``token`` lets another thread cancel it; ``spin`` s of busy-polling before sleeping
        (None: learned)."""
        reply, reply_meta, ident = self.exchange(data, meta, timeout, token, spin)
        return Message(reply, {} if reply_meta is None else reply_meta, ident)

    def exchange(self, data: object, meta: object, timeout: float | None, token: CancelToken | None = None,
                 spin: float | None = None) -> tuple[Any, dict[str, Any] | None, int]:
        """One exchange: ``(reply data, reply metadata or None when it has none, correlation id)``."""
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
            raise ValueError(f"timeout must be >= 0 seconds or None, got {timeout!r}")
        spin = check_spin(spin)
        table = self.table
        if type(data) is bytes and meta is None:  # the common case: no Encoded, no metadata to encode
            if len(data) > table.layout.slot_bytes:
                codec.check_fits(codec.encode(data, "request"), table.layout.slot_bytes, table.name, "request")
            enc: _Payload = (CF.KIND_BYTES, data, "", ())
            meta_raw = b""
        else:
            enc = encoded = codec.encode(data, "request")
            codec.check_fits(encoded, table.layout.slot_bytes, table.name, "request")
            meta_raw = codec.encode_meta(meta, table.layout.meta_bytes, table.name)
        deadline = None if timeout is None else time.monotonic() + timeout
        self._require_server()
        ex = self._acquire(deadline, timeout)
        if token is not None:
            token.exchange = ex
            ex.cancelled = token.cancelled
        return self._run(ex, enc, meta_raw, deadline, timeout, spin)

    def _run(self, ex: _Exchange, enc: _Payload, meta_raw: bytes, deadline: float | None,
             timeout: float | None, spin: float | None) -> tuple[Any, dict[str, Any] | None, int]:
        table = self.table
        kept = False
        with self._mutex:
            self._in_flight.add(ex)
        try:
            ident = table.new_id()
            kind, raw, typestr, shape = enc
            # Step 2 in one call: the slot's fields, metadata and payload, REQUEST, the server's wake-up.
            ex.state = _core.channel_post(table.buf, table.slot_at[ex.index], table.layout.payload_offset,
                                          table.layout.slot_bytes, ex.state, ident, kind, typestr, shape,
                                          os.getpid(), meta_raw, raw)
            kept = self._await_reply(ex, deadline, timeout, spin)
            got = _core.channel_read_bytes(table.buf, table.slot_at[ex.index], table.layout.payload_offset,
                                           table.layout.slot_bytes, ex.state, True)  # read, then FREE
            if got is not None:
                self._check_id(ex, got[0], ident)
                return got[1], None, ident
            try:
                return self._read_reply(ex, ident)
            finally:
                table.finish(ex.index, ex.state)
        finally:
            self._give_back(ex, kept)
            with self._mutex:
                self._in_flight.discard(ex)
                if self._closing:
                    self._left.notify_all()

    def _await_reply(self, ex: _Exchange, deadline: float | None, timeout: float | None,
                     spin: float | None) -> bool:
        """Spin a while (``spin`` s, or the learned budget), then sleep until the reply is in; True once
        it is. Raises (after withdrawing) otherwise.

        Each wait is one call into C with the GIL released: the spin and a sleep
        slice of at most :data:`RECHECK_S`. The server's lease and the deadline
        are asked only when a slice ends without a wake-up (or on
        cancellation): the common reply costs no extra syscall.
        """
        table = self.table
        buf, at = table.buf, table.slot_at[ex.index]
        reply_state = CF.state_word(CF.ticket(ex.state), CF.REPLY)
        seconds = self._spinning.seconds(spin)
        if timeout is not None:
            seconds = min(seconds, timeout)
        slice_s = RECHECK_S if deadline is None else max(0.0, min(RECHECK_S, deadline - time.monotonic()))
        if ex.cancelled:  # cancelled before it was posted: look at once, do not sleep a slice first
            seconds = slice_s = 0.0
        current, _spun, caught, look = _core.channel_wait(buf, at, ex.state, seconds, slice_s)
        if spin is None and seconds > 0:
            self._spinning.learn(seconds, caught)  # C counts a catch after a yield that ran others as none
        while True:
            if current == reply_state:
                ex.state = current
                return True
            failure = self._failure(ex, deadline, timeout) if look or ex.cancelled else None
            if failure is not None:
                self._withdraw(ex, failure)
                current = table.state(ex.index)
                continue  # the reply came in the meantime
            slice_s = RECHECK_S if deadline is None else max(0.0, min(RECHECK_S, deadline - time.monotonic()))
            current, _, _, look = _core.channel_wait(buf, at, ex.state, 0.0, slice_s)

    def _failure(self, ex: _Exchange, deadline: float | None, timeout: float | None) -> ShmringError | None:
        name = self.table.name
        if ex.cancelled:
            return Cancelled(f"request on channel {name!r} was cancelled (its handle was closed, or its "
                             "asyncio task cancelled)", name=name)
        if not self.table.server_alive():
            return BrokenError(f"the server of channel {name!r} is gone (it died or stopped serving) "
                               "while a request waited for its reply", name=name)
        if deadline is not None and time.monotonic() >= deadline:
            return WaitTimeout(f"no reply on channel {name!r} within {timeout} s (the server is alive "
                               "but has not answered)", timeout=timeout, name=name)
        return None

    def _withdraw(self, ex: _Exchange, failure: ShmringError) -> None:
        outcome = self.table.withdraw(ex.index, ex.state)
        if outcome == "withdrawn":
            self.table.finish(ex.index, CF.state_word(CF.ticket(ex.state), CF.CLAIMED))
        elif outcome == "abandoned" and ex.lease is not None:
            ex.lease.release()  # the server frees the slot when its handler returns
        if outcome != "replied":
            raise failure

    def _read_reply(self, ex: _Exchange, ident: int) -> tuple[Any, dict[str, Any], int]:
        header, data, meta = self.table.read(ex.index)
        self._check_id(ex, header.id, ident)
        if header.kind == CF.KIND_ERROR:
            raise _remote_error(codec.decode_error(data), self.table.name)  # type: ignore[arg-type]
        return data, meta, ident

    def _check_id(self, ex: _Exchange, found: int, ident: int) -> int:
        """``found`` if it is the id of our request; BrokenError otherwise (a corrupt or hostile file)."""
        if found != ident:
            name = self.table.name
            raise BrokenError(f"channel {name!r}: the reply in slot {ex.index} is for request {found}, "
                              f"not {ident}", name=name)
        return found

    # -- slots -----------------------------------------------------------------------

    def _require_server(self) -> None:
        if not self.table.server_alive():
            name = self.table.name
            raise BrokenError(f"channel {name!r} has no server (start one with Channel.serve, "
                              f"or `shmring serve {name}`)", name=name)

    def _acquire(self, deadline: float | None, timeout: float | None) -> _Exchange:
        with self._mutex:
            idle, self._idle = self._idle, None
        if idle is not None:
            state = self.table.claim_leased(idle[0])
            if state is not None:
                return _Exchange(idle[0], idle[1], state)
            idle[1].release()
        return self._claim_waiting(deadline, timeout)

    def _claim_waiting(self, deadline: float | None, timeout: float | None) -> _Exchange:
        freed = self.table.freed
        while True:
            seen = freed.snapshot()
            freed.register()
            try:
                got = self.table.claim(self._fd)  # after registering: a slot freed now wakes us
                if got is not None:
                    return _Exchange(*got)
                remaining = RECHECK_S if deadline is None else min(RECHECK_S, deadline - time.monotonic())
                if remaining <= 0:
                    raise WaitTimeout(f"all {self.table.layout.slots} slots of channel {self.table.name!r} "
                                      f"stayed busy for {timeout} s", timeout=timeout, name=self.table.name)
                # Slots of clients that died are freed by nobody: the slice bounds the wait for them.
                freed.wait(seen, remaining)
            finally:
                freed.unregister()
            self._require_server()

    def _give_back(self, ex: _Exchange, done: bool) -> None:
        """Keep the slot's lease for the next request (one per handle), or let it go."""
        lease, ex.lease = ex.lease, None
        if lease is None or not lease.alive:
            return
        if done:
            with self._mutex:
                if self._idle is None:
                    self._idle = (ex.index, lease)
                    return
        lease.release()
        self.table.freed.wake_sleepers()

    def cancel_all(self, wait: float) -> bool:
        """Make every waiting request of this handle raise, and wait up to ``wait`` s for them to leave."""
        with self._mutex:
            self._closing = True
            for ex in self._in_flight:
                cancel(self.table, ex)
            return self._left.wait_for(lambda: not self._in_flight, timeout=wait)

    def close(self) -> None:
        with self._mutex:
            idle, self._idle = self._idle, None
        if idle is not None:
            idle[1].release()
            self.table.freed.wake_sleepers()


def cancel(table: SlotTable, ex: _Exchange) -> None:
    """Make the thread waiting on ``ex`` give up at once."""
    ex.cancelled = True
    table.wake_slot(ex.index, always=True)


def _remote_error(body: dict[str, Any], name: str) -> ShmringError:
    from ._errors import RemoteError

    remote_type, message = str(body.get("type", "?")), str(body.get("message", ""))
    if body.get("broken"):
        return BrokenError(message, name=name)
    return RemoteError(f"channel {name!r}: the handler raised {remote_type}: {message}",
                       remote_type=remote_type, remote_message=message, name=name)
