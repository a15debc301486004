"""A PNG writer for 8/16-bit grayscale and RGB frames, and the stretches that make sky images visible.

Standard library only (zlib, struct), so the demo's snapshot needs no Pillow.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_GRAY, _COLOR_RGB = 0, 2


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def encode(image: np.ndarray[Any, Any], level: int = 6) -> bytes:
    """PNG bytes of a (H, W) or (H, W, 3) uint8/uint16 array.

    Raises:
        ValueError: another shape or dtype (stretch it to uint8 first).
    """
    if image.dtype not in (np.uint8, np.uint16) or not (
            image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"PNG takes (H, W) or (H, W, 3) uint8/uint16 images, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    color = _COLOR_GRAY if image.ndim == 2 else _COLOR_RGB
    depth = 8 * image.dtype.itemsize
    pixels = np.ascontiguousarray(image, dtype=image.dtype.newbyteorder(">")).reshape(height, -1)
    rows = np.empty((height, pixels.shape[1] * image.dtype.itemsize + 1), dtype=np.uint8)
    rows[:, 0] = 0  # filter type "None" on every row
    rows[:, 1:] = pixels.view(np.uint8).reshape(height, -1)
    header = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return (SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), level))
            + _chunk(b"IEND", b""))


def write(path: str | Path, image: np.ndarray[Any, Any]) -> Path:
    """Write ``image`` (see :func:`encode`) to ``path``; returns the path."""
    out = Path(path)
    out.write_bytes(encode(image))
    return out


def _sample(image: np.ndarray[Any, Any], limit: int = 250_000) -> np.ndarray[Any, Any]:
    """A regular subsample of at most ~``limit`` pixels: percentiles need no more."""
    step = max(1, int(np.sqrt(image.size / limit)))
    flat = image[::step, ::step] if image.ndim >= 2 else image[::step]
    return np.asarray(flat, dtype=np.float64).ravel()


def asinh_stretch(image: np.ndarray[Any, Any], softening: float | None = None) -> np.ndarray[Any, Any]:
    """Map a frame to uint8 with an asinh stretch: sky noise visible, bright stars not saturated.

    Black sits two robust sigmas below the median (the sky), white at the
    brightest pixel; the curve turns from linear to logarithmic at
    ``softening`` (a fraction of that range; by default three sky sigmas), so
    the noise shows as a faint texture and faint stars stand out of it.
    """
    sample = _sample(image)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return np.zeros(image.shape, dtype=np.uint8)
    sky = float(np.median(sample))
    sigma = 1.4826 * float(np.median(np.abs(sample - sky)))  # robust: stars barely move it
    low = sky - 2.0 * sigma
    high = float(np.nanmax(np.where(np.isfinite(image), image, low)))
    span = max(float(high - low), 1e-12)
    soft = softening if softening is not None else max(3.0 * sigma / span, 1e-4)
    x = np.clip((np.asarray(image, dtype=np.float32) - low) / span, 0.0, None)
    y = np.arcsinh(x / soft) / np.arcsinh(1.0 / soft)
    out: np.ndarray[Any, Any] = np.clip(np.nan_to_num(y) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out


def to_png_image(frame: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The frame itself when PNG can hold it exactly, else an 8-bit asinh stretch of it."""
    fits = frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)
    if fits and frame.dtype in (np.uint8, np.uint16):
        return frame
    if frame.ndim == 1:
        frame = frame.reshape(1, -1)
    if frame.ndim > 2 and not (frame.ndim == 3 and frame.shape[2] == 3):
        frame = frame.reshape(-1, frame.shape[-1])
    if np.iscomplexobj(frame):
        frame = np.abs(frame)
    return asinh_stretch(frame.astype(np.float32))
