"""Turning user data into legacy payload bytes and back into numpy arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import FrameError

__all__ = ["as_payload", "convert", "infer_dims"]


def as_payload(data: Any) -> memoryview:
    """A flat byte view of ``data`` (bytes-like or numpy array); non-contiguous data is copied."""
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"data must be bytes-like or a numpy array, got {type(data).__name__}") from None
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view.cast("B")


def infer_dims(data: Any, width: int, height: int) -> tuple[int, int]:
    """Width and height as given, or from a 2-D+ array's shape when both are 0."""
    shape: tuple[int, ...] = tuple(getattr(data, "shape", ()))
    if width == 0 and height == 0 and len(shape) >= 2:
        return int(shape[1]), int(shape[0])
    return width, height


def _default_shape(items: int, width: int, height: int) -> tuple[int, ...]:
    pixels = width * height
    if pixels and items == pixels:
        return (height, width)
    if pixels and items % pixels == 0:
        return (height, width, items // pixels)
    return (items,)


def convert(data: bytes, dtype: Any, shape: tuple[int, ...] | None, width: int, height: int) -> Any:
    """``data`` itself, or a writable numpy array of it when ``dtype`` or ``shape`` is given.

    Raises:
        FrameError: the byte count does not fit the dtype or the shape.
    """
    if dtype is None and shape is None:
        return data
    dt = np.dtype(dtype if dtype is not None else np.uint8)
    if len(data) % dt.itemsize:
        raise FrameError(f"buffer of {len(data)} bytes is not a whole number of {dt} items "
                         f"({dt.itemsize} bytes each)", nbytes=len(data), dtype=str(dt))
    array = np.frombuffer(bytearray(data), dt)
    wanted = tuple(shape) if shape is not None else _default_shape(array.size, width, height)
    try:
        return array.reshape(wanted)
    except ValueError:
        raise FrameError(f"buffer of {array.size} {dt} items cannot take shape {wanted}",
                         items=array.size, shape=wanted) from None
