"""What the page is sent of a frame, and what it saves: binning, stretch limits, histogram, FITS and PNG.

The server bins and sets the limits (zscale needs astropy); the page maps
values through the curve (linear, log, asinh) and the colour map, so moving
a slider or switching a map never waits for the server. A saved PNG is
rendered here with the same curve and the same colour stops (``colormaps.json``).
"""

from __future__ import annotations

import importlib
import io
import json
import struct
import warnings
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from ..cli import _png
from ._sources import Snapshot

LIMITS = ("zscale", "minmax", "percentile")
CURVES = ("linear", "log", "asinh")
HIST_BINS = 128
#: Sample size for the limits: zscale and percentiles need no more pixels than this.
LIMIT_SAMPLE = 250_000


@dataclass(frozen=True)
class Stretch:
    """How the user wants a frame shown (validated: the page's values come from the network)."""

    limits: str = "zscale"
    percent: float = 99.5
    curve: str = "linear"
    cmap: str = "gray"

    @classmethod
    def from_request(cls, values: dict[str, Any]) -> Stretch:
        """A Stretch from the page's message or query; ValueError naming a bad field."""
        limits = str(values.get("limits", cls.limits))
        curve = str(values.get("curve", cls.curve))
        cmap = str(values.get("cmap", cls.cmap))
        try:
            percent = float(values.get("percent", cls.percent))
        except (TypeError, ValueError):
            raise ValueError(f"percent must be a number, got {values.get('percent')!r}") from None
        if limits not in LIMITS:
            raise ValueError(f"limits must be one of {', '.join(LIMITS)}, got {limits!r}")
        if curve not in CURVES:
            raise ValueError(f"curve must be one of {', '.join(CURVES)}, got {curve!r}")
        if cmap not in colormaps():
            raise ValueError(f"cmap must be one of {', '.join(colormaps())}, got {cmap!r}")
        if not 50.0 <= percent <= 100.0:
            raise ValueError(f"percent must be within 50..100, got {percent}")
        return cls(limits, percent, curve, cmap)


@cache
def colormaps() -> dict[str, list[list[int]]]:
    """The colour maps the page offers: name -> 16 RGB stops, interpolated linearly."""
    text = resources.files(__package__).joinpath("static", "colormaps.json").read_text("utf-8")
    maps: dict[str, list[list[int]]] = json.loads(text)
    return maps


# -- what the page is sent -----------------------------------------------------------------


def display_plane(snap: Snapshot) -> np.ndarray[Any, Any]:
    """The 2-D (grey) or (H, W, 3) (colour) image a frame is shown as; other shapes are flattened to rows."""
    data = snap.data
    if snap.colour == "rgb":
        return data
    if data.ndim == 2:
        return data
    if data.ndim == 3:  # a cube: its first plane
        first: np.ndarray[Any, Any] = data[0]
        return first
    if data.ndim < 2:
        return data.reshape(1, -1)
    return data.reshape(-1, data.shape[-1])


def bin_factor(height: int, width: int, max_side: int) -> int:
    """The smallest integer factor that brings both sides to at most ``max_side``."""
    return max(1, -(-max(height, width) // max_side))


def binned(image: np.ndarray[Any, Any], factor: int) -> np.ndarray[Any, Any]:
    """Mean of ``factor`` x ``factor`` blocks as float32 (edges that do not fill a block are cut)."""
    if factor == 1:
        return image
    h, w = image.shape[0] // factor, image.shape[1] // factor
    # factor**2 strided adds into a small accumulator: several times faster than a
    # mean over the axes of a 4-D reshaped view, and no full-size temporary.
    out = np.zeros((h, w, *image.shape[2:]), dtype=np.float32)
    for dy in range(factor):
        for dx in range(factor):
            out += image[dy : h * factor : factor, dx : w * factor : factor]
    out *= 1.0 / (factor * factor)
    return out


def wire_array(image: np.ndarray[Any, Any], source: np.dtype[Any]) -> tuple[np.ndarray[Any, Any], str]:
    """The image in a type a browser's typed arrays read (little-endian), and its name there.

    A binned frame of 8- or 16-bit integers goes back to its own type, rounded to the
    nearest integer: half the bytes of float32 to send and to draw, for at most half a
    count of difference in a block's mean (the saved files are never binned).
    """
    kinds = {np.dtype(np.uint8): "uint8", np.dtype(np.uint16): "uint16", np.dtype(np.int16): "int16"}
    native = source.newbyteorder("=")
    if native in kinds:
        if image.dtype.kind == "f":
            image = np.rint(image)
        return np.ascontiguousarray(image, dtype=native.newbyteorder("<")), kinds[native]
    return np.ascontiguousarray(image, dtype="<f4"), "float32"


def limits(image: np.ndarray[Any, Any], stretch: Stretch) -> tuple[float, float]:
    """Black and white levels of ``image`` under ``stretch.limits`` (finite values only)."""
    sample = _sample(image)
    if sample.size == 0:
        return 0.0, 1.0
    if stretch.limits == "zscale":
        low, high = _astropy("visualization").ZScaleInterval().get_limits(sample)
    elif stretch.limits == "percentile":
        cut = (100.0 - stretch.percent) / 2.0
        low, high = np.percentile(sample, [cut, 100.0 - cut])
    else:
        low, high = sample.min(), sample.max()
    low, high = float(low), float(high)
    return (low, high) if high > low else (low, low + 1.0)


def preload() -> None:
    """Import what the first frame and the first save need, so neither waits for it."""
    for module in ("visualization", "io.fits", "io.fits.verify"):
        _astropy(module)


def _astropy(module: str) -> Any:
    """An astropy module (the [view] extra; untyped, hence imported by name)."""
    return importlib.import_module(f"astropy.{module}")


def _sample(image: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    step = max(1, int(np.sqrt(image.size / LIMIT_SAMPLE)))
    flat = np.asarray(image[::step, ::step], dtype=np.float64).ravel()
    finite: np.ndarray[Any, Any] = flat[np.isfinite(flat)]
    return finite


def histogram(image: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Counts in :data:`HIST_BINS` bins between the image's finite minimum and maximum."""
    sample = _sample(image)
    if sample.size == 0:
        return {"low": 0.0, "high": 1.0, "counts": [0] * HIST_BINS}
    low, high = float(sample.min()), float(sample.max())
    counts, _ = np.histogram(sample, bins=HIST_BINS, range=(low, high if high > low else low + 1.0))
    return {"low": low, "high": high, "counts": counts.tolist()}


def frame_message(snap: Snapshot, stretch: Stretch, max_side: int) -> tuple[dict[str, Any], np.ndarray[Any, Any]]:
    """The JSON header and the pixel bytes of one frame for the page."""
    plane = display_plane(snap)
    factor = bin_factor(plane.shape[0], plane.shape[1], max_side)
    small = binned(plane, factor)
    grey = small.mean(axis=2) if snap.colour == "rgb" else small
    wire, kind = wire_array(small, snap.data.dtype)
    low, high = limits(grey, stretch)
    header = {
        "type": "frame", "seq": snap.seq, "timestamp_ns": snap.timestamp_ns, "flags": snap.flags,
        "meta": json_safe(snap.meta), "shape": list(snap.data.shape), "dtype": str(snap.data.dtype),
        "width": int(small.shape[1]), "height": int(small.shape[0]), "channels": 3 if snap.colour else 1,
        "bin": factor, "kind": kind, "low": low, "high": high, "histogram": histogram(grey),
        "generation": snap.generation,
    }
    return header, wire


def json_safe(meta: dict[str, Any]) -> dict[str, Any]:
    """Metadata values as JSON can carry them (NaN and infinities as text)."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if isinstance(value, float) and not np.isfinite(value):
            out[key] = str(value)
        elif isinstance(value, (bool, int, float, str)):
            out[key] = value
        else:
            out[key] = str(value)
    return out


# -- what the page saves -----------------------------------------------------------------------


def fits_bytes(snap: Snapshot, ring: str) -> bytes:
    """The full-resolution frame as a FITS file; its metadata as header cards where FITS allows."""
    fits = _astropy("io.fits")
    hdu = fits.PrimaryHDU(data=np.ascontiguousarray(snap.data))
    for key, value in snap.meta.items():
        _add_card(hdu.header, key, value)
    hdu.header["SHMRING"] = (ring[:68], "ring the frame was read from")
    hdu.header["SHMSEQ"] = (snap.seq, "frame sequence number in the ring")
    hdu.header["SHMTIME"] = (snap.timestamp_ns, "writer's timestamp, ns since 1970 (UTC)")
    hdu.header["SHMFLAGS"] = (snap.flags, "writer's frame flags")
    out = io.BytesIO()
    hdu.writeto(out)
    return out.getvalue()


def _add_card(header: Any, key: str, value: Any) -> None:
    if isinstance(value, float) and not np.isfinite(value):
        value = str(value)
    name = key if len(key) <= 8 and key.replace("-", "").replace("_", "").isalnum() else f"HIERARCH {key}"
    with warnings.catch_warnings():
        # Long values are split over CONTINUE cards or cut: still the best FITS can hold.
        warnings.simplefilter("ignore", _astropy("io.fits.verify").VerifyWarning)
        try:
            header[name.upper() if not name.startswith("HIERARCH") else name] = value
        except (ValueError, KeyError):
            return  # a key or value FITS cannot hold at all: left out of the file, still on the page


def png_bytes(snap: Snapshot, stretch: Stretch, low: float | None = None, high: float | None = None) -> bytes:
    """The full-resolution frame as an 8-bit PNG, stretched and coloured as the page shows it."""
    plane = display_plane(snap)
    grey = plane.mean(axis=2) if snap.colour == "rgb" else plane
    if low is None or high is None or not high > low:
        low, high = limits(grey, stretch)
    norm = np.clip((np.asarray(plane, dtype=np.float32) - low) / (high - low), 0.0, 1.0)
    curved = apply_curve(norm, stretch.curve)
    if snap.colour == "rgb":
        return _png.encode((curved * 255.0 + 0.5).astype(np.uint8))
    return _png.encode(apply_colormap(curved, stretch.cmap))


def apply_curve(norm: np.ndarray[Any, Any], curve: str) -> np.ndarray[Any, Any]:
    """The page's curves on values in 0..1 (same constants as viewer.js)."""
    out: np.ndarray[Any, Any] = norm
    if curve == "log":
        out = np.log10(1.0 + 1000.0 * norm) / np.log10(1001.0)
    elif curve == "asinh":
        out = np.arcsinh(norm / 0.1) / np.arcsinh(10.0)
    return out


def apply_colormap(values: np.ndarray[Any, Any], cmap: str) -> np.ndarray[Any, Any]:
    """(H, W) values in 0..1 to (H, W, 3) uint8 through the map's stops, interpolated as the page does."""
    stops = np.asarray(colormaps()[cmap], dtype=np.float32)
    position = values * (len(stops) - 1)
    lower = np.clip(np.floor(position).astype(np.int32), 0, len(stops) - 2)
    frac = (position - lower)[..., None]
    rgb = stops[lower] * (1.0 - frac) + stops[lower + 1] * frac
    out: np.ndarray[Any, Any] = (rgb + 0.5).astype(np.uint8)
    return out


def pack(header: dict[str, Any], pixels: np.ndarray[Any, Any] | bytes) -> bytes:
    """One WebSocket message: a 4-byte little-endian header length, the JSON header, padding, the pixels.

    The pixels start on an 8-byte boundary so the page can view them as a typed array
    without a copy; they are copied once, straight into the message.
    """
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    start = 4 + len(text)
    pad = (-start) % 8
    body = pixels.data.cast("B") if isinstance(pixels, np.ndarray) else memoryview(pixels)
    return b"".join((struct.pack("<I", len(text) + pad), text, b" " * pad, body))
