"""``Receiver``: writes the frames a sender relays into a local ring, numbered as the sender numbered them.

The local ring's sequence numbers are the sender's: a frame the receiver never
got (dropped on the wire, lost in the sender's ring, sent while the receiver was
down) is skipped with :meth:`shmring.Writer.skip`, so every local reader's
``Frame.lost`` counts it, together with what that reader loses locally.

Every message is checked field by field (:mod:`._wire`) before the local ring
is touched; one that does not hold is dropped, counted by reason and logged.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from .. import FrameError, Ring, SegmentExistsError, SegmentNotFoundError, ShmringError, WaitTimeout, Writer
from . import _wire as W
from ._common import (
    BEAT_S,
    DEFAULT_ENDPOINT,
    DEFAULT_WINDOW,
    LIVE_HWM,
    DropLog,
    ReceiverStats,
    check_endpoint,
    log,
    window_frames,
)
from ._keys import Curve, join_curve
from ._malloc import keep_received_memory

#: Metadata key the receiver adds: the sender's publication time (ns, CLOCK_REALTIME of its host).
SOURCE_TIME_KEY = "BRIDGE_TIMESTAMP_NS"
_META_SPARE = 64  # room the receiver adds to meta_bytes of a ring it creates, for SOURCE_TIME_KEY
_WAIT_SLICE_S = 0.25  # a blocked local put/skip re-checks whether to stop this often


_STOPPED = object()  # what _blocking() returns when asked to stop before its call is done


class Receiver:
    """Writes what a sender relays into the local ring ``into``; see :func:`shmring.bridge.recv`.

    Args:
        connect: the sender's endpoint (``tcp://HOST:PORT``).
        into: the local ring's name or path; created from the sender's geometry
            (slots, slot_bytes, meta_bytes, fixed schema) if missing.
        lossless: credit-based flow control; must match the sender's mode.
        window: lossless: frames the sender may have unacknowledged (it allows at most its
            ring's ``slots - 1``, 64, and 256 MiB of its slots; at least 2 frames).
        hwm: live mode: frames ZeroMQ may queue here before the newest are dropped.
        policy: policy of a ring the receiver creates (``block`` when lossless, else ``overwrite``).
        mode: file mode of a ring the receiver creates.
        curve: CURVE keys: encrypt and authenticate to the sender.
        directory: where a bare ring name lives.
        max_frame_bytes: largest slot the receiver accepts; bigger messages are refused
            by ZeroMQ itself (``ZMQ_MAXMSGSIZE``) before they take memory.

    Raises:
        ValueError: a bad endpoint or option (the message names it).
        WouldBlock: the local ring exists and has a live writer (another receiver?).
    """

    def __init__(self, connect: str = DEFAULT_ENDPOINT, into: str | os.PathLike[str] = "bridge", *,
                 lossless: bool = False, window: int = DEFAULT_WINDOW, hwm: int = LIVE_HWM,
                 policy: str | None = None, mode: int = 0o600, curve: Curve | None = None,
                 directory: str | os.PathLike[str] | None = None, max_frame_bytes: int = 1 << 30) -> None:
        check_endpoint(connect, "connect")
        for value, name in ((window, "window"), (hwm, "hwm"), (max_frame_bytes, "max_frame_bytes")):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if policy is not None and policy not in ("overwrite", "block", "drop"):
            raise ValueError(f"policy must be overwrite, block or drop, got {policy!r}")
        self._target: str | Path = into if isinstance(into, str) else Path(into)
        self._directory, self._mode = directory, mode
        self._policy = policy or ("block" if lossless else "overwrite")
        self._lossless, self._window, self._max, self._hwm = lossless, window, max_frame_bytes, hwm
        self._slot_bytes = 0  # the sender's slot size last seen (the receive buffers are kept for it)
        self._session = secrets.randbits(62) | 1
        self._ring: Ring | None = None
        self._writer: Writer | None = None
        self._next_local = 0  # the local ring's write_seq (our writer is its only one)
        self._offset = 0  # local seq = sender seq + offset (0 unless the sender's numbering restarted)
        self._ring_id: int | None = None  # the sender ring whose numbering we follow (None: not yet)
        self._sender = (0, 0)  # (session, its sender_lost) last seen
        self._heard: float | None = None
        self._last_credit = 0.0
        self._uncredited = 0  # frames written since the last credit
        self._stats = ReceiverStats(ring=str(self._target), endpoint=connect,
                                    mode="lossless" if lossless else "live")
        self._drops = DropLog(self._stats.dropped, f"receiver of {connect}")
        self._ctx: zmq.Context[Any] = zmq.Context()
        self._sock = self._ctx.socket(zmq.DEALER if lossless else zmq.SUB)
        try:
            self._sock.linger = 0
            self._sock.rcvhwm = 4 * window + 4 if lossless else hwm
            self._sock.maxmsgsize = max_frame_bytes + (1 << 24)
            self._sock.reconnect_ivl_max = 1000
            if lossless:
                self._sock.sndhwm = 4
                self._sock.immediate = True  # credits go to a live connection, never pile up unsent
            else:
                self._sock.subscribe(b"")
            if curve is not None:
                join_curve(self._sock, curve)
            self._open_existing()
            self._sock.connect(connect)
        except BaseException:
            self.close()
            raise

    # -- the loop ------------------------------------------------------------------

    def run(self, *, seconds: float | None = None, stop: Any = None) -> ReceiverStats:
        """Receive until ``seconds`` pass or ``stop`` (a ``threading.Event``) is set.

        Returns:
            The counters at the end.
        """
        end = None if seconds is None else time.monotonic() + seconds
        while not (stop is not None and stop.is_set()) and (end is None or time.monotonic() < end):
            self.step(stop=stop)
        return self.stats()

    def step(self, timeout: float = BEAT_S, stop: Any = None) -> None:
        """Take the messages there are (waiting up to ``timeout`` s) and send credit when due."""
        if self._lossless and time.monotonic() - self._last_credit >= BEAT_S:
            self._credit()
        if not self._sock.poll(int(timeout * 1000)):
            return
        for _ in range(64):  # then go round again, so credits and stop requests are not starved
            try:
                parts = self._sock.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self._on_message(parts, stop)

    def _credit(self) -> None:
        self._last_credit = time.monotonic()
        self._uncredited = 0
        ring_id = self._ring_id or 0
        credit = W.Credit(self._session, ring_id, max(0, self._next_local - self._offset), self._window)
        try:
            self._sock.send(W.pack_credit(credit), flags=zmq.NOBLOCK)
        except zmq.Again:
            pass  # not connected (immediate): the next beat tries again

    # -- one message ---------------------------------------------------------------

    def _on_message(self, parts: list[Any], stop: Any) -> None:
        try:
            header, meta, payload = W.parse(parts, self._max)
        except W.WireError as err:
            self._drops.drop(err.reason, err.detail)
            return
        self._heard = time.monotonic()
        self._stats.sender_write_seq = header.write_seq
        self._stats.sender_session = header.session
        if not self._open_ring(header):
            return
        if header.slot_bytes != self._slot_bytes:
            self._keep_buffers(header)
        if payload is not None:
            self._write(header, meta, payload, stop)

    def _keep_buffers(self, h: W.Header) -> None:
        """Keep the memory ZeroMQ receives into mapped for the frames that may be in flight."""
        self._slot_bytes = h.slot_bytes
        frames = window_frames(self._window, h.slots, h.slot_bytes) if self._lossless else self._hwm
        keep_received_memory(h.slot_bytes, (frames + 1) * h.slot_bytes)

    def _open_existing(self) -> None:
        """Attach to the local ring now if it exists, so the first credit names the frame we need.

        (Were the ring opened only on the first message, a restarted lossless receiver would
        ask from seq 0, be sent frames it already has, and could not tell them from a sender
        whose numbering restarted.)

        Raises:
            WouldBlock: the ring has a live writer (another receiver, or a camera).
        """
        try:
            ring = Ring.open(self._target, directory=self._directory)
        except SegmentNotFoundError:
            return
        try:
            self._writer = ring.writer()
        except BaseException:
            ring.close()
            raise
        self._ring = ring
        self._next_local = ring.info().write_seq

    def _open_ring(self, h: W.Header) -> bool:
        """The local ring, opened or created from the sender's geometry; False (counted) if impossible."""
        if self._ring is not None:
            return True
        try:
            ring, created = self._open_or_create(h)
        except (ShmringError, ValueError, OSError) as err:
            self._drops.drop("local ring", f"cannot open or create ring {str(self._target)!r}: {err}")
            return False
        try:
            self._writer = ring.writer()
        except ShmringError as err:
            ring.close()
            self._drops.drop("local ring", str(err))
            return False
        self._ring = ring
        if created:
            # Number the new ring as the sender numbers its frames from the start: the frames
            # before it were never owed to anyone here, so they are not counted as lost.
            self._next_local = self._writer.skip(h.seq)
            self._ring_id = h.ring_id
        else:
            self._next_local = ring.info().write_seq
        return True

    def _open_or_create(self, h: W.Header) -> tuple[Ring, bool]:
        try:
            return Ring.open(self._target, directory=self._directory), False
        except SegmentNotFoundError:
            pass
        dtype, shape = (h.typestr, h.shape) if h.ring_flags & W.RING_FIXED_SCHEMA else (None, None)
        try:
            ring = Ring.create(self._target, slots=h.slots, slot_bytes=h.slot_bytes,
                               meta_bytes=h.meta_bytes + _META_SPARE, policy=self._policy, mode=self._mode,
                               dtype=dtype, shape=shape, directory=self._directory)
        except SegmentExistsError:  # someone made it meanwhile
            return Ring.open(self._target, directory=self._directory), False
        log.info("shmring bridge: created ring %r (%d x %d B, %s)", ring.name, h.slots, h.slot_bytes, self._policy)
        return ring, True

    def _local_seq(self, h: W.Header) -> int | None:
        """Where frame ``h.seq`` goes in the local ring; None for a duplicate."""
        if h.ring_id != self._ring_id:
            first = self._ring_id is None
            self._ring_id = h.ring_id
            if not first or h.seq < self._next_local:
                # Another numbering (the sender's ring was re-created, or this ring was written
                # from another one): continue after what we have; losses across it are unknown.
                self._offset = self._next_local - h.seq
                self._stats.rebases += 1
                log.warning("shmring bridge: the sender's numbering restarted (ring %x, seq %d); local frames "
                            "continue at %d, frames lost across the restart are not known",
                            h.ring_id, h.seq, self._next_local)
        local = h.seq + self._offset
        if local < self._next_local:
            self._stats.duplicates += 1
            return None
        return local

    def _write(self, h: W.Header, meta: dict[str, Any], payload: memoryview, stop: Any) -> None:
        assert self._writer is not None and self._ring is not None
        local = self._local_seq(h)
        if local is None:
            self._count_for_credit(h)  # the sender thinks it unacknowledged: tell it soon
            return
        if SOURCE_TIME_KEY not in meta:
            meta = {**meta, SOURCE_TIME_KEY: h.timestamp_ns}
        # reserve() checks shape, dtype and metadata against the local ring without taking a
        # slot: a frame that does not fit is dropped before the skip below moves anything.
        try:
            self._writer.reserve(h.shape, h.dtype, meta=meta, flags=h.flags)
        except FrameError as err:
            if SOURCE_TIME_KEY in meta and meta.pop(SOURCE_TIME_KEY) is not None:
                try:  # it fits without the source time (a ring made by someone else)
                    self._writer.reserve(h.shape, h.dtype, meta=meta, flags=h.flags)
                except FrameError as err2:
                    self._drops.drop("local ring", f"frame {h.seq} does not fit ring {self._ring.name!r}: {err2}")
                    return
            else:
                self._drops.drop("local ring", f"frame {h.seq} does not fit ring {self._ring.name!r}: {err}")
                return
        gap = local - self._next_local
        if gap and self._blocking(lambda: self._writer.skip(gap, timeout=_WAIT_SLICE_S), stop) is _STOPPED:
            return
        self._next_local = local  # from here on the skipped numbers are gone for good
        self._count_gap(h, gap)
        data = np.frombuffer(payload, dtype=h.dtype).reshape(h.shape)
        # put(), not a reservation filled with numpy: its copy streams large frames past the cache
        put = self._writer.put
        written = self._blocking(lambda: put(data, meta=meta, flags=h.flags, timeout=_WAIT_SLICE_S), stop)
        if written is _STOPPED:
            return
        if written is None:  # a full `drop` ring dropped it: as a local writer's drop, it takes no seq
            self._offset -= 1  # the next frame takes this one's local seq (and its credit counts this one)
            self._drops.drop("local ring full", f"frame {h.seq}: ring {self._ring.name!r} is full (drop policy)")
            self._count_for_credit(h)
            return
        self._next_local = local + 1
        self._stats.received += 1
        self._stats.last_seq = h.seq
        self._count_for_credit(h)

    def _count_for_credit(self, h: W.Header) -> None:
        # Credit when half the sender's window is used: it never runs dry (it still has the
        # other half), and a credit costs four thread wake-ups on two hosts, not one per frame.
        if self._lossless:
            self._uncredited += 1
            if 2 * self._uncredited >= window_frames(self._window, h.slots, h.slot_bytes):
                self._credit()

    def _blocking(self, action: Any, stop: Any) -> Any:
        """Run a local ring call that may wait (``block``), in slices: its result, or _STOPPED if asked to stop."""
        while True:
            try:
                return action()
            except WaitTimeout:
                if stop is not None and stop.is_set():
                    return _STOPPED

    def _count_gap(self, h: W.Header, gap: int) -> None:
        """Split a gap into frames lost in the sender's ring and frames lost on the wire."""
        session, sender_lost = self._sender
        self._sender = (h.session, h.sender_lost)
        if not gap:
            return
        upstream = gap if h.session != session else min(gap, max(0, h.sender_lost - sender_lost))
        self._stats.lost += gap
        self._stats.lost_sender += upstream
        self._stats.lost_wire += gap - upstream

    # -- results and lifecycle ---------------------------------------------------------------

    def stats(self) -> ReceiverStats:
        """The counters so far (a copy)."""
        from dataclasses import replace

        silent = None if self._heard is None else round(time.monotonic() - self._heard, 3)
        return replace(self._stats, dropped=dict(self._stats.dropped), silent_s=silent)

    @property
    def ring(self) -> Ring | None:
        """The local ring, once the sender has been heard (None before)."""
        return self._ring

    def close(self) -> None:
        """Close the local ring's writer and handle (the ring stays) and the socket. Idempotent."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        if getattr(self, "_sock", None) is not None:
            self._sock.close(0)
        self._ctx.term()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
