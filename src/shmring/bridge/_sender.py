"""``Sender``: relays every frame of a local ring to receivers over ZeroMQ.

Live mode: a PUB socket with a small send high-water mark. A receiver that
cannot keep up has the newest frames dropped by ZeroMQ (whole messages, never
parts of one); the receiver sees the gap in the sequence numbers and counts it.

Lossless mode: a ROUTER socket and credit-based flow control. The receiver's
CREDIT says "everything below next_seq is written; keep at most `window` frames
unacknowledged". The sender's reader holds each frame sent (a zero-copy view
under ``block``/``drop``: the slot stays pinned, so the camera writer waits
rather than overwrite it) until the receiver acknowledges it, and sends the
held frames again to a receiver that restarted.

Zero-copy: under ``block``/``drop`` the payload is sent straight from the slot
(``copy=False``), the view kept until ZeroMQ is done with it. Under
``overwrite`` the writer may overwrite a slot while ZeroMQ still reads it, so the
frame is copied out first (one copy, into a reused buffer).
"""

from __future__ import annotations

import os
import secrets
import time
from collections import deque
from pathlib import Path
from typing import Any, cast

import zmq

from .. import BrokenError, Frame, Reader, Ring, WaitTimeout
from . import _wire as W
from ._common import (
    BEAT_S,
    DEFAULT_ENDPOINT,
    LIVE_HWM,
    DropLog,
    SenderStats,
    check_endpoint,
    log,
    window_frames,
)
from ._keys import Curve, serve_curve

_AUTH_FAILED = getattr(zmq, "EVENT_HANDSHAKE_FAILED_AUTH", 0x4000)
_MORE = int(zmq.SNDMORE)


class Sender:
    """Relays the frames of ring ``ring`` to receivers; see :func:`shmring.bridge.send`.

    Args:
        ring: the local ring's name or path.
        bind: ZeroMQ endpoint to bind (``tcp://127.0.0.1:PORT`` by default; port 0 picks a free one).
        lossless: credit-based flow control instead of a live stream (see the module docstring).
        hwm: live mode: frames ZeroMQ may queue per receiver before the newest are dropped.
        curve: CURVE keys: encrypt, and accept only the receivers in the allow-list.
        directory: where a bare ring name lives.
        start: live mode: ``"next"``, ``"latest"`` or ``"oldest"`` frame to start from
            (lossless mode starts from the oldest and skips what the receiver has).

    Raises:
        SegmentNotFoundError: no such ring.
        ValueError: a bad endpoint or option (the message names it).
        zmq.ZMQError: the endpoint cannot be bound (e.g. the port is taken).
    """

    def __init__(self, ring: str | os.PathLike[str], bind: str = DEFAULT_ENDPOINT, *, lossless: bool = False,
                 hwm: int = LIVE_HWM, curve: Curve | None = None, directory: str | os.PathLike[str] | None = None,
                 start: str = "next") -> None:
        check_endpoint(bind, "bind")
        if not isinstance(hwm, int) or hwm < 1:
            raise ValueError(f"hwm must be an int >= 1, got {hwm!r}")
        self._target: str | Path = ring if isinstance(ring, str) else Path(ring)
        self._directory = directory
        self._start = "oldest" if lossless else start
        self._lossless = lossless
        self._session = secrets.randbits(62) | 1
        self._ctx: zmq.Context[Any] = zmq.Context()
        self._auth = None
        self._ring: Ring | None = None
        self._reader: Reader | None = None
        try:
            self._sock = self._ctx.socket(zmq.ROUTER if lossless else zmq.PUB)
            self._sock.linger = 0
            # lossless: credits bound what is queued (window <= MAX_WINDOW); never drop below it
            self._sock.sndhwm = 1000 if lossless else hwm
            if lossless:
                self._sock.router_mandatory = True
            if curve is not None:
                self._auth = serve_curve(self._sock, curve, self._ctx)
            self._monitor: zmq.Socket[Any] | None = self._sock.get_monitor_socket(_AUTH_FAILED)
            self._sock.bind(bind)
            endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
            self._attach()
        except BaseException:
            self.close()
            raise
        self._stats = SenderStats(ring=str(self._target), endpoint=endpoint,
                                  mode="lossless" if lossless else "live", copy=not self._pin)
        self._drops = DropLog({}, f"sender {endpoint}")
        self._last_beat = 0.0
        # Zero-copy sends ZeroMQ may still be reading, per seq; a view is released only once
        # we are done with it (_retiring) and every send of it is done (releasing it earlier
        # would let the camera overwrite bytes ZeroMQ has yet to send: a torn frame).
        self._trackers: dict[int, list[zmq.MessageTracker]] = {}
        self._retiring: deque[Frame] = deque()
        self._retired_sessions: set[int] = set()  # receivers replaced by another: their credits are stale
        # lossless: the frames sent and not acknowledged (oldest first), the receiver served
        self._held: deque[Frame] = deque()
        self._unsent = 0  # held frames (from the end) not yet sent to the current receiver
        self._peer: bytes | None = None
        self._peer_session = 0
        self._window = 1
        self._acked = 0  # the receiver has everything below this seq (in our numbering)
        self._sent_upto = -1  # highest seq sent at least once (a resend is one at or below it)

    # -- the ring ------------------------------------------------------------------

    def _attach(self) -> None:
        """(Re)open the ring and take a reader; a re-created ring starts a new numbering (ring_id)."""
        self._drop_ring()
        self._ring = Ring.open(self._target, directory=self._directory)
        info = self._ring.info()
        self._ring_id = info.created_ns
        self._geometry = (info.slots, info.meta_bytes, info.slot_bytes)
        schema = info.dtype is not None
        self._ring_flags = (W.RING_FIXED_SCHEMA if schema else 0) | (W.RING_LOSSLESS if self._lossless else 0)
        self._schema = (str(info.dtype), tuple(info.shape or ())) if schema else ("|u1", ())
        self._pin = info.policy != "overwrite"
        self._write_seq = info.write_seq
        self._reader = self._ring.reader(start=self._start, name="bridge")
        self._acked, self._sent_upto = 0, -1

    def _drop_ring(self) -> None:
        if hasattr(self, "_retiring"):
            self._retiring.extend(self._held)
            self._held.clear()
            self._unsent = 0
            for trackers in self._trackers.values():
                for tracker in trackers:
                    try:
                        tracker.wait(BEAT_S)
                    except zmq.NotDone:
                        log.warning("shmring bridge: a frame was still sending after %s s; releasing it", BEAT_S)
            self._trackers.clear()
            self._release_done(pinned=0)
        if self._ring is not None:
            self._ring.close()
            self._ring, self._reader = None, None

    def _next_frame(self, timeout: float) -> Frame | None:
        assert self._reader is not None
        try:
            frame = self._reader.get(timeout=timeout, view=self._pin)
        except WaitTimeout:
            return None
        except BrokenError as err:  # the ring was removed or re-created: follow the name
            log.warning("shmring bridge: %s; re-opening it", err)
            self._reopen()
            return None
        self._stats.lost = self._reader.lost
        return frame

    def _reopen(self) -> None:
        deadline = time.monotonic() + BEAT_S
        while True:
            try:
                self._attach()
                return
            except (OSError, BrokenError):
                if time.monotonic() > deadline:
                    raise

    # -- the loop ------------------------------------------------------------------

    def run(self, *, seconds: float | None = None, stop: Any = None) -> SenderStats:
        """Relay frames until ``seconds`` pass or ``stop`` (a ``threading.Event``) is set.

        Returns:
            The counters at the end.
        """
        end = None if seconds is None else time.monotonic() + seconds
        while not (stop is not None and stop.is_set()) and (end is None or time.monotonic() < end):
            self.step()
        return self.stats()

    def step(self, timeout: float = BEAT_S) -> None:
        """Do one round: send what there is (waiting up to ``timeout`` s), beat, read credits."""
        now = time.monotonic()
        if now - self._last_beat >= BEAT_S:
            self._beat()
            self._poll_monitor()  # refused receivers: counted once a beat, not once a frame
        wait = max(0.0, min(timeout, self._last_beat + BEAT_S - time.monotonic()))
        if self._lossless:
            self._step_lossless(wait)
        else:
            self._release_done(pinned=0)
            frame = self._next_frame(wait)
            if frame is not None:
                if self._send(frame, None):
                    self._stats.sent += 1
                self._retiring.append(frame)

    def _step_lossless(self, wait: float) -> None:
        self._read_credits(0)
        self._release_done(pinned=len(self._held))
        if self._peer is None or (not self._unsent and len(self._held) >= self._window):
            self._read_credits(wait)  # nothing we may send: wait for the receiver
            return
        if self._unsent:
            self._resend()
            return
        # Blocking on the ring here leaves credits unread for a while; that never stalls the
        # camera because window <= slots - 1: with room for the frames we may send, it has room.
        frame = self._next_frame(wait)
        if frame is None:
            return
        if frame.seq < self._acked:  # the receiver has it already (we restarted, it did not)
            self._retiring.append(frame)
            return
        self._held.append(frame)
        self._unsent += 1
        self._resend()

    # -- sending -------------------------------------------------------------------

    def _header(self, kind: int, frame: Frame | None, meta_len: int) -> bytes:
        slots, meta_bytes, slot_bytes = self._geometry
        if frame is None:
            typestr, shape = self._schema
            seq, ts, mono, flags, nbytes = self._reader_cursor(), time.time_ns(), time.monotonic_ns(), 0, 0
        else:
            data = frame.data
            typestr, shape, nbytes = data.dtype.str, data.shape, data.nbytes
            seq, ts, mono, flags = frame.seq, frame.timestamp_ns, frame.monotonic_ns, frame.flags
            self._write_seq = max(self._write_seq, seq + 1)
        return W.pack_header(W.Header(
            kind, self._ring_flags, self._ring_id, self._session, seq, self._write_seq, self._stats.lost, ts, mono,
            flags, meta_len, nbytes, typestr, tuple(shape), slots, meta_bytes, slot_bytes))

    def _reader_cursor(self) -> int:
        return self._stats.last_seq + 1 if self._stats.last_seq is not None else self._write_seq

    def _send(self, frame: Frame, peer: bytes | None) -> bool:
        """Send one frame (to ``peer`` on the ROUTER); False if that peer is gone."""
        meta = W.encode_meta(frame.meta)
        header = self._header(W.KIND_FRAME, frame, len(meta))
        payload: Any = frame.data  # an ndarray: a buffer to pyzmq, not to its type hints
        track = self._pin  # a view must outlive every send of it (a copy is kept alive by ZeroMQ itself)
        # libzmq learns that a receiver took messages off its pipe through commands that a
        # socket processes in send() at most about once a millisecond, and then only every
        # (hwm+1)/2 messages: with a small high-water mark it drops messages it has room for.
        # Asking for ZMQ_EVENTS processes those commands now, so the mark is exact.
        self._sock.getsockopt(zmq.EVENTS)
        sock = self._sock
        try:  # part by part, with int flags: send_multipart's checks and flag enums cost more than the sends
            if peer is not None:
                sock.send(peer, _MORE)
            sock.send(header, _MORE)
            sock.send(meta, _MORE)
            tracker = sock.send(payload, 0, False, track)
        except zmq.ZMQError as err:
            if err.errno == zmq.EHOSTUNREACH:  # ROUTER_MANDATORY: the receiver disconnected
                return False
            raise
        if self._pin:
            self._trackers.setdefault(frame.seq, []).append(tracker)
        self._stats.last_seq = frame.seq
        return True

    def _release_done(self, pinned: int) -> None:
        """Release the views we are done with once ZeroMQ is done sending them.

        With almost every slot pinned (``pinned`` held plus those retiring), the camera waits
        for room and no new frame would wake us: wait for the oldest send to finish instead.
        """
        while self._retiring:
            frame = self._retiring[0]
            trackers = self._trackers.get(frame.seq, [])
            if not all(t.done for t in trackers):
                if pinned + len(self._retiring) < self._geometry[0] - 1:
                    return
                try:
                    for tracker in trackers:
                        tracker.wait(BEAT_S)
                except zmq.NotDone:
                    return  # still sending: the slot stays pinned (releasing it could tear the frame)
            self._retiring.popleft()
            self._trackers.pop(frame.seq, None)
            frame.release()

    def _resend(self) -> None:
        """Send the held frames the current receiver has not had yet."""
        while self._unsent:
            frame = self._held[len(self._held) - self._unsent]
            if not self._send(frame, self._peer):
                self._peer = None  # it will be back with a CREDIT: everything held goes again
                self._unsent = len(self._held)
                return
            if frame.seq <= self._sent_upto:
                self._stats.resent += 1
            else:
                self._stats.sent += 1
                self._sent_upto = frame.seq
            self._unsent -= 1
        self._stats.held = len(self._held)

    def _beat(self) -> None:
        self._last_beat = time.monotonic()
        if self._ring is not None:
            self._write_seq = self._ring.info().write_seq
        header = self._header(W.KIND_BEAT, None, 0)
        try:
            if self._lossless:
                if self._peer is not None:
                    self._sock.send_multipart([self._peer, header], flags=zmq.NOBLOCK)
            else:
                self._sock.send(header, flags=zmq.NOBLOCK)
        except zmq.ZMQError as err:
            if err.errno not in (zmq.EAGAIN, zmq.EHOSTUNREACH):
                raise

    # -- credits (lossless) -------------------------------------------------------------

    def _read_credits(self, wait: float) -> None:
        # ZMQ_EVENTS answers without a system call; poll() only when there is time to wait.
        queued = cast(int, self._sock.getsockopt(zmq.EVENTS)) & zmq.POLLIN
        if not queued and not (wait > 0 and self._sock.poll(int(wait * 1000))):
            return
        while True:
            try:
                parts = self._sock.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(parts) != 2:
                self._drops.drop("parts", f"a credit is one part after the routing id, got {len(parts) - 1}")
                continue
            try:
                credit = W.parse_credit(parts[1])
            except W.WireError as err:
                self._drops.drop(err.reason, err.detail)
                continue
            self._on_credit(parts[0], credit)

    def _on_credit(self, peer: bytes, credit: W.Credit) -> None:
        if credit.session in self._retired_sessions:
            return  # a credit from a receiver that has since been replaced, still queued: stale
        new_receiver = credit.session != self._peer_session or peer != self._peer
        if credit.session != self._peer_session and self._peer_session:
            self._retired_sessions.add(self._peer_session)  # (the same session on a new connection is not stale)
        self._peer, self._peer_session = peer, credit.session
        slots, _, slot_bytes = self._geometry
        self._window = window_frames(credit.window, slots, slot_bytes)
        self._stats.receiver = credit.session
        # Its next_seq counts in our numbering if it names our ring, or names none and is
        # not past our ring's end (else it comes from another ring: it will rebase).
        if credit.ring_id == self._ring_id or (credit.ring_id == 0 and credit.next_seq <= self._write_seq):
            self._acked = max(self._acked, credit.next_seq) if not new_receiver else credit.next_seq
            while self._held and self._held[0].seq < self._acked:
                self._retiring.append(self._held.popleft())
            self._unsent = min(self._unsent, len(self._held))
        if new_receiver:
            self._unsent = len(self._held)  # a new or restarted receiver: everything held goes again
            log.info("shmring bridge: receiver %x from seq %d, window %d", credit.session, credit.next_seq,
                     credit.window)
        self._stats.held = len(self._held)

    def _poll_monitor(self) -> None:
        while self._monitor is not None and self._monitor.poll(0):
            event = self._monitor.recv_multipart()
            if int.from_bytes(event[0][:2], "little") == _AUTH_FAILED:
                self._stats.refused += 1
                log.warning("shmring bridge: refused a receiver (CURVE key not in the allow-list)")

    # -- results and lifecycle ---------------------------------------------------------------

    def stats(self) -> SenderStats:
        """The counters so far (a copy)."""
        from dataclasses import replace

        self._stats.write_seq = self._write_seq
        return replace(self._stats, held=len(self._held))

    @property
    def endpoint(self) -> str:
        """The bound endpoint, with the real port when asked for port 0."""
        return self._stats.endpoint

    def close(self) -> None:
        """Close the socket (pending sends are dropped), then release held frames and the ring. Idempotent."""
        monitor = getattr(self, "_monitor", None)
        if monitor is not None:
            self._sock.disable_monitor()
            monitor.close(0)
            self._monitor = None
        if getattr(self, "_sock", None) is not None:
            self._sock.close(0)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        # After term() ZeroMQ reads no buffer of ours: only now may the views' slots be reused.
        self._ctx.term()
        self._drop_ring()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
