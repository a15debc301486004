"""Frames to and from files: ``.npy``, ``.fits`` (astropy), images (Pillow; PNG written without it), raw bytes.

Each optional library is imported only when its format is used, and its
absence is one clear error naming the extra that provides it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from . import _png

FITS_SUFFIXES = (".fits", ".fit", ".fts")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")
#: FITS cards that describe the array itself; the array carries that information.
_STRUCTURAL = {"SIMPLE", "BITPIX", "EXTEND", "BZERO", "BSCALE", "COMMENT", "HISTORY", ""}

Meta = dict[str, Any]


def _need(module: str, extra: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise click.ClickException(f"{what} needs the [{extra}] extra: pip install 'shmring[{extra}]'") from None


def load(path: Path, dtype: np.dtype[Any] | None, shape: tuple[int, ...] | None) -> tuple[np.ndarray[Any, Any], Meta]:
    """The frame in ``path`` and the metadata it carries (FITS header cards).

    Files of other suffixes are raw bytes: read as ``dtype`` (default uint8)
    and reshaped to ``shape`` when given.
    """
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.load(path, allow_pickle=False), {}
    if suffix in FITS_SUFFIXES:
        return _load_fits(path)
    if suffix in IMAGE_SUFFIXES:
        image = _need("PIL.Image", "image", f"reading {suffix} files")
        with image.open(path) as img:
            return np.asarray(img), {}
    return _load_raw(path, dtype, shape), {}


def _load_raw(path: Path, dtype: np.dtype[Any] | None, shape: tuple[int, ...] | None) -> np.ndarray[Any, Any]:
    dt = dtype if dtype is not None else np.dtype(np.uint8)
    raw = path.read_bytes()
    if len(raw) % dt.itemsize:
        raise click.ClickException(f"{path}: {len(raw):,} bytes is not a whole number of {dt} items")
    data = np.frombuffer(raw, dtype=dt)
    if shape is None:
        return data
    if int(np.prod(shape)) != data.size:
        raise click.ClickException(f"{path}: {data.size:,} {dt} items do not make shape {shape}")
    return data.reshape(shape)


def _load_fits(path: Path) -> tuple[np.ndarray[Any, Any], Meta]:
    fits = _need("astropy.io.fits", "fits", "reading FITS files")
    with fits.open(path, memmap=False) as hdus:
        hdu = next((h for h in hdus if getattr(h, "data", None) is not None), None)
        if hdu is None:
            raise click.ClickException(f"{path}: no HDU with image data")
        data = np.array(hdu.data)
        meta = {k: v for k, v in hdu.header.items()
                if k not in _STRUCTURAL and not k.startswith("NAXIS") and isinstance(v, (bool, int, float, str))}
    return data.astype(data.dtype.newbyteorder("=")), meta


def save(path: Path, data: np.ndarray[Any, Any], meta: Meta) -> None:
    """Write one frame to ``path`` in the format its suffix names (.npy, .fits, .png, others via Pillow)."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        np.save(path, data, allow_pickle=False)
    elif suffix in FITS_SUFFIXES:
        _save_fits(path, data, meta)
    elif suffix == ".png":
        _png.write(path, _png.to_png_image(data))
    elif suffix in IMAGE_SUFFIXES:
        image = _need("PIL.Image", "image", f"writing {suffix} files")
        image.fromarray(_png.to_png_image(data)).save(path)
    else:
        path.write_bytes(np.ascontiguousarray(data).tobytes())


def _save_fits(path: Path, data: np.ndarray[Any, Any], meta: Meta) -> None:
    fits = _need("astropy.io.fits", "fits", "writing FITS files")
    header = fits.Header()
    for key, value in meta.items():
        if len(key) <= 8 and isinstance(value, (bool, int, float, str)):
            header[key.upper()] = value
    fits.PrimaryHDU(data=data, header=header).writeto(path, overwrite=True)
