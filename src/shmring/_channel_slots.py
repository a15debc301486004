"""The channel protocol on a mapping: slot phases, who may move them, and the words peers sleep on.

docs/format.md ("Channel protocol") is the normative text. In short, a slot
carries one exchange at a time and its state word says whose it is::

    FREE --claim--> CLAIMED --post--> REQUEST --take--> SERVING --reply--> REPLY --finish--> FREE
      (client, holding the        (client)          (server)           (server)     (client)
       slot's lease byte)

Every move is a compare-exchange of the whole word, ticket included: the
ticket grows with each claim, so a stale look at a slot (an exchange that
ended and a new one that began in the meantime) can never move it. The CAS is
sequentially consistent, so the fields written before it are visible to the
peer that sees the new phase, and it orders the poster's later look at the
sleeper count (the no-lost-wake-up rule of :class:`~shmring._locks.WakeWord`).

Leases settle crashes: a client holds the slot's first byte (an OFD lock) for
the whole exchange, the server holds :data:`LOCK_SERVER`. Whoever finds a
slot whose lease nobody holds may take it over; a new server turns slots left
SERVING by a dead one into error replies, and frees ABANDONED ones.
"""

from __future__ import annotations

import time
from typing import Any

from . import _channel_codec as codec
from . import _channel_format as CF
from . import _core, _meta, _sync
from ._locks import Lease, WakeWord


class SlotTable:
    """The slots and shared words of one mapped channel, as both sides use them.

    Args:
        buf: the writable mapping.
        layout: the channel's sizes.
        probe_fd: a description holding no lease, to ask the kernel about others'.
        name: the channel's name, for messages.
    """

    def __init__(self, buf: object, layout: CF.Layout, probe_fd: int, name: str) -> None:
        self.buf = buf
        self.view = memoryview(buf)  # type: ignore[arg-type]
        self.layout = layout
        self.probe_fd = probe_fd
        self.name = name
        self.requests = WakeWord(buf, CF.OFF_REQUESTS)
        self.freed = WakeWord(buf, CF.OFF_FREE)
        self._next_scan = 0
        # Offsets per slot, computed once (by the layout): every request uses each a few times.
        indexes = range(layout.slots)
        self.slot_at = [layout.slot_offset(i) for i in indexes]  # what the C exchange steps take
        self._state_at = [layout.state_offset(i) for i in indexes]
        self._waiters_at = [layout.waiters_offset(i) for i in indexes]
        self._id_at = [layout.id_offset(i) for i in indexes]
        self._meta_at = [layout.meta_offset(i) for i in indexes]
        self._payload_at = [layout.payload_start(i) for i in indexes]

    # -- words ---------------------------------------------------------------------

    def state(self, index: int) -> int:
        return _sync.load32(self.buf, self._state_at[index])

    def move(self, index: int, expected: int, desired: int) -> bool:
        """Compare-exchange slot ``index``'s state word; True if it was ``expected``."""
        return _sync.cas32(self.buf, self._state_at[index], expected, desired) == expected

    def wake_slot(self, index: int, *, always: bool = False) -> None:
        """Wake the client asleep on slot ``index`` (the syscall only if it counted itself in)."""
        if always or _sync.load32(self.buf, self._waiters_at[index]):
            _sync.futex_wake(self.buf, self._state_at[index])

    def wait_slot(self, index: int, seen: int, timeout: float) -> int:
        """Sleep while slot ``index``'s state reads ``seen``: WOKEN, TIMED_OUT or VALUE_CHANGED.

        The waiter count goes up (a sequentially consistent RMW) before the
        kernel compares the state with ``seen``; the server moves the state
        (a CAS) before it reads the count. So either it sees us and wakes us,
        or the kernel sees the new state and we do not sleep.
        """
        buf, waiters = self.buf, self._waiters_at[index]
        _sync.fetch_add32(buf, waiters, 1)
        try:
            return _sync.futex_wait(buf, self._state_at[index], seen, timeout)
        finally:
            _sync.fetch_add32(buf, waiters, -1)

    def spin_for(self, index: int, posted: int, seconds: float) -> int:
        """Busy-poll (in C, GIL released) slot ``index``'s state up to ``seconds`` while its request
        (posted as ``posted``) is still posted or being served; the last value read."""
        ticket = CF.ticket(posted)
        waiting = (posted, CF.state_word(ticket, CF.SERVING))
        buf, at = self.buf, self._state_at[index]
        end = time.monotonic() + seconds
        state = posted
        while state in waiting and (left := end - time.monotonic()) > 0:
            state = _sync.spin_while32(buf, at, state, left)
        return state

    def server_alive(self) -> bool:
        return Lease.is_held(self.probe_fd, CF.LOCK_SERVER)

    def client_alive(self, index: int) -> bool:
        return Lease.is_held(self.probe_fd, self.layout.slot_offset(index))

    def request_id(self, index: int) -> int:
        """The correlation id stored in slot ``index`` (readable even when the rest is not)."""
        return int(_sync.load64(self.buf, self._id_at[index]))

    def new_id(self) -> int:
        # u64 arithmetic, as in C: a counter at 2**64 - 1 (a file left so, or corrupt) wraps to 0.
        return (int(_sync.fetch_add64(self.buf, CF.OFF_NEXT_ID, 1)) + 1) & 0xFFFF_FFFF_FFFF_FFFF

    # -- client side ---------------------------------------------------------------

    def claim(self, fd: int) -> tuple[int, Lease, int] | None:
        """Lease a slot nobody else holds and claim it: ``(index, lease, state)``, or None if all are busy."""
        slots = self.layout.slots
        start = self._next_scan
        for step in range(slots):
            index = (start + step) % slots
            lease = Lease.try_take(fd, self.layout.slot_offset(index))
            if lease is None:
                continue
            state = self.claim_leased(index)
            if state is not None:
                self._next_scan = (index + 1) % slots
                return index, lease, state
            lease.release()
        return None

    def claim_leased(self, index: int) -> int | None:
        """Start a new exchange in a slot whose lease we hold; None while a server still owns it."""
        # In C: the next ticket, CLAIMED, and the waiter count reset (a client that died asleep left
        # its count). SERVING or ABANDONED: None; the server (or the next one) frees the slot.
        return _core.channel_claim(self.buf, self.slot_at[index])

    def write(self, index: int, header: CF.SlotHeader, meta: bytes, enc: codec.Encoded) -> None:
        """Fill a slot we own (CLAIMED, or SERVING for the server) with a message."""
        CF.pack_slot(self.buf, self.layout, index, header)
        if meta:
            at = self._meta_at[index]
            self.view[at:at + len(meta)] = meta
        start = self._payload_at[index]
        self.view[start:start + enc.raw.nbytes] = enc.raw

    def post(self, index: int, claimed: int) -> int:
        """Hand a filled CLAIMED slot to the server and wake it; returns the REQUEST state word."""
        posted = CF.state_word(CF.ticket(claimed), CF.REQUEST)
        self.move(index, claimed, posted)  # we hold the lease: nobody else moves a CLAIMED slot
        self.requests.announce()  # always bumped, so a spinning server sees it; the syscall only for sleepers
        return posted

    def withdraw(self, index: int, state: int) -> str:
        """Take back an exchange the caller stops waiting for.

        Returns:
            ``"withdrawn"`` (the server never saw it; the slot is ours again),
            ``"abandoned"`` (the server is on it and frees the slot when done:
            give the lease up), or ``"replied"`` (the reply is there).
        """
        ticket = CF.ticket(state)
        if self.move(index, CF.state_word(ticket, CF.REQUEST), CF.state_word(ticket, CF.CLAIMED)):
            return "withdrawn"
        if self.move(index, CF.state_word(ticket, CF.SERVING), CF.state_word(ticket, CF.ABANDONED)):
            return "abandoned"
        return "replied"

    def finish(self, index: int, state: int) -> None:
        """Mark a slot we own FREE again (its lease stays with the caller, who may reuse it)."""
        self.move(index, state, CF.state_word(CF.ticket(state), CF.FREE))

    def read(self, index: int) -> tuple[CF.SlotHeader, object, dict[str, Any]]:
        """The message in a slot we own: header, payload copy, metadata (all checked first)."""
        header = CF.unpack_slot(self.buf, self.layout, index)
        CF.check_slot(self.layout, header, self.name)
        at = self._meta_at[index]
        meta_raw = bytes(self.view[at:at + header.meta_len]) if header.meta_len else b""
        if header.kind == CF.KIND_ERROR:
            return header, meta_raw, {}  # an error's JSON body lives in the metadata area
        data = codec.decode(self.view, header, self._payload_at[index])
        return header, data, _meta.decode(meta_raw) if meta_raw else {}

    # -- server side ---------------------------------------------------------------

    def take(self) -> tuple[int, int] | None:
        """Move the oldest posted request to SERVING: ``(index, state)``, or None if none is posted."""
        # In C: the scan of every slot's state (and the CAS) is most of an idle server's look.
        return _core.channel_take(self.buf, self.layout.slots, self.layout.slot_stride)

    def _oldest_posted(self) -> tuple[int, int] | None:
        best: tuple[int, int, int] | None = None
        buf, load32 = self.buf, _sync.load32
        for index, at in enumerate(self._state_at):
            state = load32(buf, at)
            if state & CF.PHASE_MASK != CF.REQUEST:
                continue
            ident = _sync.load64(buf, self._id_at[index])
            if best is None or ident < best[0]:
                best = (ident, index, state)
        return None if best is None else (best[1], best[2])

    def any_posted(self) -> bool:
        return self._oldest_posted() is not None

    def reply(self, index: int, serving: int) -> None:
        """Publish a filled SERVING slot as REPLY and wake its client (or free it if abandoned)."""
        ticket = CF.ticket(serving)
        if not self.move(index, serving, CF.state_word(ticket, CF.REPLY)):
            self.drop(index, CF.state_word(ticket, CF.ABANDONED))
            return
        self.wake_slot(index)

    def drop(self, index: int, state: int) -> None:
        """Free a slot nobody will read (its client gave up or died)."""
        if self.move(index, state, CF.state_word(CF.ticket(state), CF.FREE)):
            self.freed.wake_sleepers()

    def recover(self) -> int:
        """A new server's first act: settle slots a dead server left. Returns how many it settled."""
        settled = 0
        for index in range(self.layout.slots):
            state = self.state(index)
            if CF.phase(state) == CF.SERVING:
                self._fail_dead_serving(index, state)
                settled += 1
            elif CF.phase(state) == CF.ABANDONED:
                self.drop(index, state)
                settled += 1
        return settled

    def _fail_dead_serving(self, index: int, state: int) -> None:
        from ._errors import BrokenError

        ident = self.request_id(index)
        err = BrokenError(f"the server of channel {self.name!r} died while handling request {ident}")
        enc, body = codec.encode_error(err, self.layout.meta_bytes, broken=True)
        self.write(index, CF.SlotHeader(ident, 0, enc.kind, len(body), posted_ns=time.monotonic_ns()), body, enc)
        self.reply(index, state)
