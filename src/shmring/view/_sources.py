"""Where the viewer's frames come from: a native ring or a legacy SharedMem file.

A source hands out :class:`Snapshot` copies of the newest frame, at the
rate the page asks for, never faster. How that keeps the writer unaffected:

* **Native ring.** No reader entry is held between snapshots. For each one a
  reader attaches at the newest frame, takes it as a zero-copy view, copies it
  (one ``memcpy``), releases the view and leaves the reader table. Under
  ``block`` the writer therefore waits for the viewer at most for that copy,
  and only if it has lapped every other slot meanwhile; between snapshots it
  does not know the viewer exists. Under ``overwrite`` a copy the writer
  overwrote while it was being made is detected (``Frame.valid()``) and
  thrown away, so the page never shows a torn frame.
* **Legacy file.** The newest written slot is read in place without taking
  it from the queue (the viewer must not steal frames from the real
  consumer); its BufHeader is read again after the copy and a slot rewritten
  meanwhile is thrown away. The originals never wake anybody, so a legacy
  source is polled at the page's frame rate.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .. import BrokenError, Ring, SegmentNotFoundError, ShmringError, WaitTimeout
from ._catalog import LEGACY_PREFIX, VIEW_READER_NAME
from ._library import BUFH_MAT_RGB, BUFH_UYVY, SharedMem, legacy_slot, ring_stats, unpack_buf_header

#: How often a snapshot is retried when the writer overwrote it while it was copied.
COPY_ATTEMPTS = 3


@dataclass(eq=False)  # identity: two snapshots are never the same frame copy
class Snapshot:
    """One frame as the viewer holds it: its own copy, never a view into the ring."""

    data: np.ndarray[Any, Any]
    seq: int
    timestamp_ns: int
    meta: dict[str, Any] = field(default_factory=dict)
    flags: int = 0
    colour: str | None = None  # "rgb" when data is (H, W, 3) colour, as shown
    generation: int = 0  # bumped each time the source re-attached to a re-created file


class SourceGone(ShmringError):
    """The ring or file the page shows was removed (or cannot be read any more)."""


class Source(Protocol):
    """What the page's session asks of a ring or SharedMem file."""

    name: str
    generation: int

    def grab(self, after: int | None, timeout: float) -> Snapshot | None:
        """The newest frame if newer than ``after``, else wait up to ``timeout`` s for one."""
        ...

    def status(self) -> dict[str, Any]:
        """Rate, losses and writer state for the page's header line."""
        ...

    def close(self) -> None: ...


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


class NativeSource:
    """Snapshots of a native ring (see the module docstring for how the writer stays unaffected)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        self.generation = 0
        self._ring: Ring | None = None
        self._identity: tuple[int, int] | None = None
        self._attach()

    def _attach(self) -> None:
        identity = _identity(self.path)
        try:
            ring = Ring.open(self.path)
        except SegmentNotFoundError:
            raise SourceGone(f"ring {self.name!r} was removed", name=self.name) from None
        self.close()
        self._ring, self._identity = ring, identity

    def _current(self) -> Ring:
        """The ring handle, re-opened if its name now means another file (raises SourceGone if none)."""
        now = _identity(self.path)
        if now is None:
            raise SourceGone(f"ring {self.name!r} was removed", name=self.name)
        if self._ring is None or now != self._identity:
            self._attach()
            self.generation += 1
        assert self._ring is not None
        return self._ring

    def grab(self, after: int | None, timeout: float) -> Snapshot | None:
        deadline = time.monotonic() + timeout
        for _ in range(COPY_ATTEMPTS):
            generation = self.generation
            ring = self._current()
            if self.generation != generation:  # another file now: its seqs start anew
                after = None
            try:
                snap = self._snapshot(ring, after, max(0.0, deadline - time.monotonic()))
            except BrokenError:  # removed or re-created while we waited: look again
                self._ring = None
                continue
            if snap is not None:
                snap.generation = self.generation
                return snap
            if time.monotonic() >= deadline:
                return None
        return None

    @staticmethod
    def _snapshot(ring: Ring, after: int | None, timeout: float) -> Snapshot | None:
        with ring.reader(start="latest", name=VIEW_READER_NAME) as reader:
            try:
                frame = reader.get(timeout=timeout, view=True)
                if after is not None and frame.seq <= after:
                    frame.release()  # already shown: wait for the next one
                    frame = reader.get(timeout=timeout, view=True)
            except WaitTimeout:
                return None
            with frame:
                data = frame.data.copy()
                if not frame.valid():  # overwritten while copying (overwrite policy): not shown
                    return None
            return Snapshot(data, frame.seq, frame.timestamp_ns, dict(frame.meta), frame.flags,
                            _colour_of(data))

    def status(self) -> dict[str, Any]:
        stats = ring_stats(self._current())
        others = [r for r in stats["readers"] if r["name"] != VIEW_READER_NAME]
        return {"rate_hz": round(stats["rate_hz"], 2), "frames": stats["write_seq"],
                "writer_alive": stats["writer_alive"], "policy": stats["policy"],
                "lost": sum(r["lost"] for r in others), "readers": sum(1 for r in others if r["alive"]),
                "lag": max((r["lag"] for r in others if r["alive"]), default=0)}

    def close(self) -> None:
        if self._ring is not None:
            self._ring.close()
            self._ring = None


def _colour_of(data: np.ndarray[Any, Any]) -> str | None:
    """A native (H, W, 3) uint8 frame is shown as colour."""
    return "rgb" if data.ndim == 3 and data.shape[2] == 3 and data.dtype == np.uint8 else None


class LegacySource:
    """Snapshots of the newest slot of an original SharedMem queue, read in place, never dequeued."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        self.generation = 0
        self._mem: SharedMem | None = None
        self._identity: tuple[int, int] | None = None
        self._polled: list[float] = []  # when new frames were seen, for the rate
        self._open()

    def _open(self) -> None:
        identity = _identity(self.path)
        try:
            mem = SharedMem.open(self.path, writable=False)
        except SegmentNotFoundError:
            raise SourceGone(f"SharedMem file {str(self.path)!r} was removed", name=self.name) from None
        self.close()
        self._mem, self._identity = mem, identity

    def _current(self) -> SharedMem:
        now = _identity(self.path)
        if now is None:
            raise SourceGone(f"SharedMem file {str(self.path)!r} was removed", name=self.name)
        if self._mem is None or now != self._identity:  # the original C++ init() re-creates the file
            self._open()
            self.generation += 1
        assert self._mem is not None
        return self._mem

    def grab(self, after: int | None, timeout: float) -> Snapshot | None:
        # The originals never wake anybody: polling is the only way to learn of a new buffer.
        deadline = time.monotonic() + timeout
        while True:
            snap = self._peek(self._current())
            if snap is not None and (after is None or snap.seq != after):
                snap.generation = self.generation
                self._polled = [t for t in self._polled if t > time.monotonic() - 5.0] + [time.monotonic()]
                return snap
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))

    def _peek(self, mem: SharedMem) -> Snapshot | None:
        header = mem.header()
        newest = (header.head - 1) % header.item_alloc
        offset, header_bytes = legacy_slot(header.item_size, newest)
        before = mem.read(offset, header_bytes)
        put_counter, buf_len, width, height, flags = unpack_buf_header(before)
        if put_counter == 0 or not 0 < buf_len <= header.item_size:
            return None  # nothing written yet
        payload = mem.read(offset + header_bytes, buf_len)
        if mem.read(offset, header_bytes) != before:  # rewritten while we copied it
            return None
        data, colour = legacy_image(payload, width, height, flags)
        meta = {"WIDTH": width, "HEIGHT": height, "FLAGS": flags, "BUF_LEN": buf_len}
        # A BufHeader carries no time: the frame is stamped when the viewer read it.
        return Snapshot(data, put_counter, time.time_ns(), meta, flags, colour)

    def status(self) -> dict[str, Any]:
        header = self._current().header()
        recent = [t for t in self._polled if t > time.monotonic() - 5.0]
        rate = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) >= 2 and recent[-1] > recent[0] else 0.0
        return {"rate_hz": round(rate, 2), "frames": None, "writer_alive": None, "policy": "drop",
                "lost": None, "readers": None, "lag": None, "queued": header.count}

    def close(self) -> None:
        if self._mem is not None:
            self._mem.close()
            self._mem = None


def legacy_image(payload: bytes, width: int, height: int, flags: int) -> tuple[np.ndarray[Any, Any], str | None]:
    """A legacy buffer as an image: UYVY and MATLAB RGB as (H, W, 3) colour, else grey of 1-8 byte pixels."""
    raw = np.frombuffer(payload, np.uint8)
    pixels = width * height
    if flags & BUFH_UYVY and pixels and raw.size >= 2 * pixels and width % 2 == 0:
        return uyvy_to_rgb(raw[: 2 * pixels].reshape(height, width * 2)), "rgb"
    if flags & BUFH_MAT_RGB and pixels and raw.size >= 3 * pixels:
        # MATLAB keeps an H x W x 3 array column-major: planes, then columns, then rows.
        return np.ascontiguousarray(raw[: 3 * pixels].reshape(3, width, height).transpose(2, 1, 0)), "rgb"
    if pixels and raw.size % pixels == 0 and raw.size // pixels in (1, 2, 4, 8):
        dtype = {1: np.uint8, 2: np.uint16, 4: np.float32, 8: np.float64}[raw.size // pixels]
        return raw.view(dtype).reshape(height, width), None
    return raw.reshape(1, -1), None


def uyvy_to_rgb(uyvy: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """(H, 2W) UYVY 4:2:2 bytes to (H, W, 3) RGB uint8 (BT.601, studio swing)."""
    quads = uyvy.reshape(uyvy.shape[0], -1, 4).astype(np.float32)
    u, y0, v, y1 = quads[..., 0], quads[..., 1], quads[..., 2], quads[..., 3]
    luma = np.stack([y0, y1], axis=-1).reshape(uyvy.shape[0], -1) - 16.0
    cb = np.repeat(u - 128.0, 2, axis=1)
    cr = np.repeat(v - 128.0, 2, axis=1)
    rgb = np.stack([1.164 * luma + 1.596 * cr, 1.164 * luma - 0.392 * cb - 0.813 * cr, 1.164 * luma + 2.017 * cb],
                   axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def open_source(path: Path) -> NativeSource | LegacySource:
    """The source for a file the catalog listed (a legacy one by its ``smem_`` name or signature)."""
    if path.name.startswith(LEGACY_PREFIX):
        return LegacySource(path)
    return NativeSource(path)
