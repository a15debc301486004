"""A synthetic sky camera: sensor noise plus drifting Gaussian stars, written in place into a frame.

Generating fresh 2048x2048 noise at 50 Hz would need more than a core, so a
few noise frames are drawn once and cycled; the stars move every frame, so
no two frames are alike.

Every frame checks itself: its first :data:`TAG` pixels hold the frame number
and its last :data:`TAG` pixels a checksum of everything in between, one byte
per pixel (values 0..255 fit every dtype the demo allows). A reader that gets
a frame mixing two writes finds the tag, the checksum or the metadata disagree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

TAG = 8  # pixels at each end of a frame carrying its number / checksum
DTYPES = ("uint8", "uint16", "uint32", "int16", "int32", "float32", "float64")
_NOISE_FRAMES = 3
_STARS = 40
_RADIUS = 7  # stamp half-size in pixels: 3.5 sigma of the widest star


@dataclass(frozen=True)
class Levels:
    """Sky level, noise sigma and brightest star peak for a dtype, and its saturation value."""

    sky: float
    sigma: float
    peak: float
    vmax: float


def levels(dtype: np.dtype[Any]) -> Levels:
    """Levels that look like a real exposure in ``dtype``'s range."""
    if dtype.kind == "f":
        return Levels(1000.0, 30.0, 20000.0, float(np.finfo(dtype).max))
    top = float(min(np.iinfo(dtype).max, 65535))
    return Levels(top * 0.02, top * 0.0006 + 1.0, top * 0.3, top)


def pixel_sum(flat: np.ndarray[Any, Any]) -> int | float:
    """The exact integer sum of the pixels, or their float64 sum (same code, same bits, everywhere)."""
    if flat.dtype.kind == "f":
        return float(np.sum(flat, dtype=np.float64))
    return int(np.sum(flat, dtype=np.uint64 if flat.dtype.kind == "u" else np.int64))


def checksum(flat: np.ndarray[Any, Any], total: float | None = None) -> bytes:
    """8 bytes summarising ``flat`` (its :func:`pixel_sum`, or ``total`` if already known)."""
    total = pixel_sum(flat) if total is None else total
    if isinstance(total, float):
        return struct.pack("<d", total)
    return (total & (2**64 - 1)).to_bytes(8, "little")


def _digits(value: bytes) -> np.ndarray[Any, Any]:
    return np.frombuffer(value, dtype=np.uint8)


def stamp(frame: np.ndarray[Any, Any], seq: int) -> None:
    """Write the frame-number tag and the checksum tag into ``frame`` (C-contiguous)."""
    flat = frame.reshape(-1)
    flat[:TAG] = _digits(seq.to_bytes(TAG, "little"))
    flat[-TAG:] = _digits(checksum(flat[TAG:-TAG]))


def verify(frame: np.ndarray[Any, Any], seq: int) -> tuple[str, float]:
    """Why ``frame`` is not intact frame ``seq`` ('' when it is), and the frame's mean.

    The mean comes from the same pass over the pixels as the checksum.
    """
    flat = frame.reshape(-1)
    inner = pixel_sum(flat[TAG:-TAG])
    mean = float(inner + pixel_sum(flat[:TAG]) + pixel_sum(flat[-TAG:])) / flat.size
    tagged = int.from_bytes(np.asarray(flat[:TAG], dtype=np.uint8).tobytes(), "little")
    if tagged != seq:
        return f"frame-number tag says {tagged}, metadata says {seq}", mean
    if np.asarray(flat[-TAG:], dtype=np.uint8).tobytes() != checksum(flat[TAG:-TAG], inner):
        return "checksum of the pixels does not match the frame's checksum tag", mean
    return "", mean


class StarField:
    """Renders frame after frame of one synthetic sky into arrays of ``shape`` and ``dtype``."""

    def __init__(self, shape: tuple[int, int], dtype: np.dtype[Any], seed: int = 2024) -> None:
        self.shape = shape
        self.dtype = dtype
        self.levels = levels(dtype)
        rng = np.random.default_rng(seed)
        self._noise = self._draw_noise(rng)
        h, w = shape
        self._pos = rng.uniform((0, 0), (h, w), size=(_STARS, 2))
        self._vel = rng.normal(0.0, 0.6, size=(_STARS, 2)) + np.array([0.2, 0.5])  # slow common drift
        self._peak = self.levels.peak * rng.uniform(0.05, 1.0, size=_STARS) ** 2
        self._width = rng.uniform(1.2, 2.0, size=_STARS)
        self._rng = rng

    def _draw_noise(self, rng: np.random.Generator) -> np.ndarray[Any, Any]:
        lv = self.levels
        noise = rng.standard_normal((_NOISE_FRAMES, *self.shape), dtype=np.float32)
        noise *= lv.sigma
        noise += lv.sky
        np.clip(noise, 0, lv.vmax, out=noise)
        return noise.astype(self.dtype) if self.dtype.kind == "f" else np.rint(noise).astype(self.dtype)

    def render(self, out: np.ndarray[Any, Any], seq: int) -> None:
        """Fill ``out`` with frame ``seq`` (stars moved on by one frame), tags included."""
        np.copyto(out, self._noise[seq % _NOISE_FRAMES])
        h, w = self.shape
        self._pos = (self._pos + self._vel) % (h, w)
        jitter = self._rng.normal(0.0, 0.15, size=2)  # seeing moves the whole field a little
        corners, stamps = self._stamps(self._pos + jitter)
        for (y0, x0), star in zip(corners, stamps, strict=True):
            self._add(out, int(y0), int(x0), star)
        stamp(out, seq)

    def _stamps(self, pos: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Every star's (2R+1)^2 Gaussian at once (one vectorised exp), with its top-left pixel."""
        corner = np.floor(pos).astype(np.int64) - _RADIUS
        offsets = np.arange(2 * _RADIUS + 1)
        dy = corner[:, 0, None] + offsets - pos[:, 0, None]
        dx = corner[:, 1, None] + offsets - pos[:, 1, None]
        r2 = dy[:, :, None] ** 2 + dx[:, None, :] ** 2
        return corner, self._peak[:, None, None] * np.exp(-r2 / (2.0 * self._width[:, None, None] ** 2))

    def _add(self, out: np.ndarray[Any, Any], y0: int, x0: int, star: np.ndarray[Any, Any]) -> None:
        h, w = self.shape
        top, left = max(0, -y0), max(0, -x0)  # stars near an edge are cut, not wrapped
        y1, x1 = min(h, y0 + star.shape[0]), min(w, x0 + star.shape[1])
        if y0 + top >= y1 or x0 + left >= x1:
            return
        region = out[y0 + top:y1, x0 + left:x1]
        total = np.minimum(region + star[top:top + region.shape[0], left:left + region.shape[1]], self.levels.vmax)
        region[...] = total if self.dtype.kind == "f" else np.rint(total)  # saturate like a sensor, never wrap


def peak_stats(frame: np.ndarray[Any, Any]) -> tuple[float, float, float]:
    """Maximum, and the centroid (x, y) of the brightest star, of a 2-D frame.

    The tag rows are left out of the search for the brightest pixel. The
    centroid is the intensity-weighted mean position in a window around it,
    above the window's minimum (the local sky).
    """
    h, w = frame.shape
    inner = frame[1:-1] if h > 2 else frame
    peak_at = int(np.argmax(inner))
    py, px = divmod(peak_at, w)
    py += 1 if h > 2 else 0
    y0, y1 = max(0, py - _RADIUS), min(h, py + _RADIUS + 1)
    x0, x1 = max(0, px - _RADIUS), min(w, px + _RADIUS + 1)
    window = np.asarray(frame[y0:y1, x0:x1], dtype=np.float64)
    weights = window - window.min()
    total = float(weights.sum())
    if total <= 0:
        return float(frame[py, px]), float(px), float(py)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    return float(frame[py, px]), float((weights * xx).sum() / total), float((weights * yy).sum() / total)
