"""Record a ring's frames to a directory, and replay a recording into a ring with its timing.

A recording directory holds (docs/ring.md, "Record and replay")::

    ring.json       the ring as it was when recording began (RingInfo.to_dict())
    frames.jsonl    one JSON line per frame: index, file, seq, timestamp_ns,
                    monotonic_ns, flags, lost, cards ([keyword, value, comment])
    000000000.npy   format "npy": one file per frame, zero-padded, sortable
    000000000.fits  format "fits": one FITS file per frame, header with every card
    cube.fits       format "cube": one FITS cube (frames, ...) plus a FRAMES table

The recorder is an ordinary reader: on a ``block`` ring it holds each frame
until it is on disk, so the writer waits for the disk and nothing is lost;
on an ``overwrite`` ring it copies each frame and counts exactly the frames
the writer overwrote before they were read (``Recording.lost``).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._errors import FrameError, SegmentNotFoundError, WaitTimeout
from ._fits import astropy_fits
from ._frame import Frame
from ._meta import Card, Meta
from ._ring import Ring
from ._segment import NameOrPath

FORMATS = ("npy", "fits", "cube")
INDEX, RING_INFO, CUBE = "frames.jsonl", "ring.json", "cube.fits"
_CUBE_RAW = ".cube.raw"
_SLICE_S = 0.5  # longest single get() while recording: the --seconds deadline is checked between

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Recording:
    """What :func:`record` wrote.

    Attributes:
        directory: the recording's directory.
        format: ``"npy"``, ``"fits"`` or ``"cube"``.
        frames: frames written to disk.
        lost: frames the ring's writer published but this recorder never got
            (overwritten before they were read); 0 whenever the disk kept up or
            the ring's policy is ``block``.
        interrupted: True if Ctrl-C (KeyboardInterrupt) ended it; the files are complete.
    """

    directory: Path
    format: str
    frames: int
    lost: int
    interrupted: bool = False


def record(name: NameOrPath, directory: str | os.PathLike[str], *, format: str = "npy",
           frames: int | None = None, seconds: float | None = None, start: str = "next",
           progress: Progress | None = None, ring_directory: str | os.PathLike[str] | None = None) -> Recording:
    """Write the frames of ring ``name`` to ``directory`` until ``frames`` or ``seconds`` are reached.

    Args:
        name: the ring (name or path).
        directory: where the recording goes (created; must not hold a recording already).
        format: ``"npy"`` (one .npy per frame), ``"fits"`` (one FITS file per
            frame) or ``"cube"`` (one FITS cube; every frame of one shape and dtype).
        frames: stop after this many frames (None: no limit).
        seconds: stop after this many seconds (None: no limit). With neither,
            recording goes on until KeyboardInterrupt.
        start: the first frame, as for ``Ring.reader``: ``"next"``, ``"oldest"``, ``"latest"``.
        progress: called as ``progress(frames_written, frames_lost)`` after each frame.
        ring_directory: where a bare ring name lives.

    Returns:
        A :class:`Recording`; ``frames.jsonl`` lists every frame written.

    Raises:
        ValueError: a bad format, count or duration, or ``directory`` holds a recording.
        FrameError: format ``"cube"`` and a frame of another shape or dtype.
        ImportError: a FITS format without astropy (the ``[fits]`` extra).
    """
    out = _new_recording_dir(directory, format, frames, seconds)
    with Ring.open(name, directory=ring_directory) as ring, ring.reader(start=start, name="record") as reader:
        (out / RING_INFO).write_text(json.dumps(ring.info().to_dict(), indent=1) + "\n")
        sink = _SINKS[format](out, ring.keywords.cards)
        count, interrupted = 0, False
        deadline = None if seconds is None else time.monotonic() + seconds
        view = ring.policy == "block"  # pins the slot until written: the writer waits for the disk
        try:
            with open(out / INDEX, "w", encoding="utf-8") as index:
                for frame in _frames(reader, frames, deadline, view):
                    with frame:
                        index.write(json.dumps(_entry(count, sink.write(count, frame), frame)) + "\n")
                    count += 1
                    if progress is not None:
                        progress(count, reader.lost)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            sink.close(count)
        return Recording(out, format, count, reader.lost, interrupted)


def _new_recording_dir(directory: str | os.PathLike[str], format: str, frames: int | None,
                       seconds: float | None) -> Path:
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {format!r}")
    if frames is not None and (not isinstance(frames, int) or frames < 1):
        raise ValueError(f"frames must be an int >= 1 or None, got {frames!r}")
    if seconds is not None and not seconds > 0:
        raise ValueError(f"seconds must be > 0 or None, got {seconds!r}")
    out = Path(directory)
    if (out / INDEX).exists():
        raise ValueError(f"directory {str(out)!r} holds a recording already ({INDEX}); choose another")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _frames(reader: Any, limit: int | None, deadline: float | None, view: bool) -> Iterator[Frame]:
    """Frames until ``limit`` frames or the deadline (a monotonic time)."""
    got = 0
    while limit is None or got < limit:
        remaining = _SLICE_S if deadline is None else deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            frame = reader.get(timeout=min(remaining, _SLICE_S), view=view)
        except WaitTimeout:
            continue
        got += 1
        yield frame


def _entry(index: int, file: str, frame: Frame) -> dict[str, Any]:
    return {"index": index, "file": file, "seq": frame.seq, "timestamp_ns": frame.timestamp_ns,
            "monotonic_ns": frame.monotonic_ns, "flags": frame.flags, "lost": frame.lost,
            "cards": [list(card) for card in frame.cards]}


# -- formats -----------------------------------------------------------------------------------


class _NpySink:
    suffix = ".npy"

    def __init__(self, out: Path, keywords: tuple[Card, ...]) -> None:
        self.out, self.keywords = out, keywords

    def write(self, index: int, frame: Frame) -> str:
        file = f"{index:09d}{self.suffix}"
        self._save(self.out / file, frame)
        return file

    def _save(self, path: Path, frame: Frame) -> None:
        np.save(path, frame.data, allow_pickle=False)

    def close(self, count: int) -> None:
        pass


class _FitsSink(_NpySink):
    suffix = ".fits"

    def __init__(self, out: Path, keywords: tuple[Card, ...]) -> None:
        super().__init__(out, keywords)
        self.fits = astropy_fits()

    def _save(self, path: Path, frame: Frame) -> None:
        self.fits.PrimaryHDU(data=frame.data, header=frame.fits_header(self.keywords)).writeto(path)


class _CubeSink:
    """Frames appended raw as they come (the disk's pace), made into one FITS cube at the end."""

    def __init__(self, out: Path, keywords: tuple[Card, ...]) -> None:
        self.fits = astropy_fits()
        self.out, self.keywords = out, keywords
        self.raw: IO[bytes] = open(out / _CUBE_RAW, "wb")  # closed in close(), whatever happens
        self.kind: tuple[tuple[int, ...], np.dtype[Any]] | None = None
        self.rows: list[tuple[int, int, int, int, int]] = []

    def write(self, index: int, frame: Frame) -> str:
        data = frame.data
        if self.kind is None:
            self.kind = (data.shape, data.dtype)
        elif (data.shape, data.dtype) != self.kind:
            raise FrameError(f"a cube needs frames of one shape and dtype: frame {frame.seq} is {data.shape} "
                             f"{data.dtype}, the first was {self.kind[0]} {self.kind[1]}")
        self.raw.write(np.ascontiguousarray(data).data)
        self.rows.append((frame.seq, frame.timestamp_ns, frame.monotonic_ns, frame.flags, frame.lost))
        return CUBE

    def close(self, count: int) -> None:
        self.raw.close()
        raw = self.out / _CUBE_RAW
        try:
            if self.kind is not None and count:
                shape, dtype = self.kind
                cube = np.memmap(raw, dtype=dtype, mode="r", shape=(len(self.rows), *shape))
                self._write_cube(cube)
        finally:
            raw.unlink()

    def _write_cube(self, cube: np.ndarray[Any, Any]) -> None:
        fits = self.fits
        header = Meta(self.keywords).to_fits_header()
        columns = [fits.Column(name=name, format="K", array=np.array([r[i] for r in self.rows], dtype=np.int64))
                   for i, name in enumerate(("SEQ", "TIMESTAMP_NS", "MONOTONIC_NS", "FLAGS", "LOST"))]
        table = fits.BinTableHDU.from_columns(columns, name="FRAMES")
        fits.HDUList([fits.PrimaryHDU(data=cube, header=header), table]).writeto(self.out / CUBE)


_SINKS: dict[str, Any] = {"npy": _NpySink, "fits": _FitsSink, "cube": _CubeSink}


# -- replay ------------------------------------------------------------------------------------


def replay(directory: str | os.PathLike[str], name: NameOrPath, *, rate: float | None = None,
           progress: Progress | None = None, ring_directory: str | os.PathLike[str] | None = None) -> int:
    """Put the frames of a recording into ring ``name``, with their metadata, flags and timing.

    The ring is created like the recorded one (sizes, policy, schema, stream
    keywords) if it does not exist. Frames get new sequence numbers and
    timestamps; their metadata cards and flags are the recorded ones.

    Args:
        directory: a directory :func:`record` wrote.
        name: the ring to put the frames into.
        rate: None keeps the original timing: frame ``i`` is put no earlier than
            its recorded offset from the first frame (the writer's monotonic
            clock) after the first frame was put; a number puts that many frames
            per second; ``math.inf`` puts them as fast as the ring takes them.
        progress: called as ``progress(frames_put, frames_dropped)`` after each frame.
        ring_directory: where a bare ring name lives.

    Returns:
        The number of frames the ring took (a ``drop`` ring may drop some).

    Raises:
        ValueError: ``rate`` is not > 0, or ``directory`` holds no recording.
    """
    if rate is not None and not rate > 0:
        raise ValueError(f"rate must be > 0 frames/s (math.inf: as fast as possible) or None, got {rate!r}")
    src = Path(directory)
    entries = _read_index(src)
    frames = _FrameFiles(src, entries)
    with _target_ring(src, name, ring_directory) as ring, ring.writer() as writer:
        put = dropped = 0
        first: int | None = None  # when the first frame was out (ns): every later one is due relative to it
        first_ns = entries[0]["monotonic_ns"] if entries else 0
        for i, entry in enumerate(entries):
            data = frames.data(i)  # loaded before the pause, so that the put itself is on time
            meta = Meta(Card(*card) for card in entry["cards"]) if entry["cards"] else None
            if first is not None:
                _pause_until(first + _offset_ns(i, entry["monotonic_ns"] - first_ns, rate))
            seq = writer.put(data, meta=meta, flags=entry["flags"])
            # time.monotonic_ns() is CLOCK_MONOTONIC, the clock frames are stamped with: taken
            # after the put, it is never before frame 0's stamp, so no frame is early.
            first = time.monotonic_ns() if first is None else first
            put, dropped = (put + 1, dropped) if seq is not None else (put, dropped + 1)
            if progress is not None:
                progress(put, dropped)
    return put


def _read_index(src: Path) -> list[dict[str, Any]]:
    try:
        with open(src / INDEX, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        raise ValueError(f"directory {str(src)!r} holds no recording (no {INDEX})") from None


def _target_ring(src: Path, name: NameOrPath, ring_directory: str | os.PathLike[str] | None) -> Ring:
    try:
        return Ring.open(name, directory=ring_directory)
    except SegmentNotFoundError:
        info = json.loads((src / RING_INFO).read_text())
        shape = tuple(info["shape"]) if info["shape"] is not None else None
        return Ring.create(name, slots=info["slots"], slot_bytes=info["slot_bytes"],
                           meta_bytes=info["meta_bytes"], policy=info["policy"], dtype=info["dtype"], shape=shape,
                           keywords=[tuple(card) for card in info.get("keywords", [])] or None,
                           directory=ring_directory)


def _offset_ns(index: int, since_first_ns: int, rate: float | None) -> int:
    """When frame ``index`` is due, in ns after the first."""
    if rate is None:
        return since_first_ns
    return 0 if math.isinf(rate) else math.ceil(index * 1e9 / rate)


def _pause_until(when_ns: int) -> None:
    # Pacing, not waiting for an event: the due time is all there is to wait for.
    # Sleep may end a little early by its float rounding; the loop makes "never early" exact.
    while (delay_ns := when_ns - time.monotonic_ns()) > 0:
        time.sleep(delay_ns / 1e9)


class _FrameFiles:
    """The recorded frames' pixels, from per-frame files or from the cube."""

    def __init__(self, src: Path, entries: list[dict[str, Any]]) -> None:
        self.src, self.entries = src, entries
        self.cube: np.ndarray[Any, Any] | None = None
        if entries and entries[0]["file"] == CUBE:
            with astropy_fits().open(src / CUBE, memmap=False) as hdus:
                self.cube = np.array(hdus[0].data)

    def data(self, index: int) -> np.ndarray[Any, Any]:
        if self.cube is not None:
            return _native(self.cube[index])
        path = self.src / self.entries[index]["file"]
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)  # type: ignore[no-any-return]
        with astropy_fits().open(path, memmap=False) as hdus:
            return _native(np.array(hdus[0].data))


def _native(data: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """FITS arrays are big-endian; rings hold native byte order."""
    return np.ascontiguousarray(data.astype(data.dtype.newbyteorder("="), copy=False))
