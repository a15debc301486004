"""Frames to and from files: ``.npy``, ``.fits`` (astropy), images (Pillow; PNG written without it), raw bytes.

Each optional library is imported only when its format is used, and its
absence is one clear error naming the extra that provides it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
import numpy as np

from .. import Card, Frame, Meta
from . import _png

FITS_SUFFIXES = (".fits", ".fit", ".fts")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")
#: FITS cards that describe the array itself (the array carries that information).
_STRUCTURAL = {"SIMPLE", "BITPIX", "EXTEND", "BZERO", "BSCALE", "XTENSION", "PCOUNT", "GCOUNT", "END"}


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
        return np.load(path, allow_pickle=False), Meta()
    if suffix in FITS_SUFFIXES:
        return _load_fits(path)
    if suffix in IMAGE_SUFFIXES:
        image = _need("PIL.Image", "image", f"reading {suffix} files")
        with image.open(path) as img:
            return np.asarray(img), Meta()
    return _load_raw(path, dtype, shape), Meta()


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
        meta = header_meta(hdu.header)
    return data.astype(data.dtype.newbyteorder("=")), meta


def header_meta(header: Any) -> Meta:
    """A FITS header's cards as frame metadata: all but those the array describes and shmring's own.

    Comments, COMMENT, HISTORY, HIERARCH and long-string cards are kept as they are.
    """
    return Meta(Card(c.keyword, None if type(c.value).__name__ == "Undefined" else c.value, c.comment)
                for c in header.cards if not _structural(c.keyword))


def _structural(keyword: str) -> bool:
    return (keyword in _STRUCTURAL or keyword in Frame.FITS_KEYWORDS
            or (keyword.startswith("NAXIS") and keyword[5:].isdigit()))


def save(path: Path, frame: Frame, keywords: Iterable[Card] = ()) -> None:
    """Write one frame to ``path`` in the format its suffix names (.npy, .fits, .png, others via Pillow).

    A FITS file gets the stream ``keywords``, the frame's metadata cards and
    shmring's SHMSEQ/SHMTIME/SHMDATE/SHMMONO/SHMFLAGS/SHMLOST keywords.
    """
    suffix = path.suffix.lower()
    data = frame.data
    if suffix == ".npy":
        np.save(path, data, allow_pickle=False)
    elif suffix in FITS_SUFFIXES:
        fits = _need("astropy.io.fits", "fits", "writing FITS files")
        fits.PrimaryHDU(data=data, header=frame.fits_header(keywords)).writeto(path, overwrite=True)
    elif suffix == ".png":
        _png.write(path, _png.to_png_image(data))
    elif suffix in IMAGE_SUFFIXES:
        image = _need("PIL.Image", "image", f"writing {suffix} files")
        image.fromarray(_png.to_png_image(data)).save(path)
    else:
        path.write_bytes(np.ascontiguousarray(data).tobytes())
