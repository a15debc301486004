"""What the viewer sends and saves of a frame: binning, limits, colour, packing, FITS and PNG."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the view extra installs starlette")
fits = pytest.importorskip("astropy.io.fits", reason="the view extra installs astropy")
from astropy.visualization import ZScaleInterval  # noqa: E402
from PIL import Image  # noqa: E402

from shmring.view._image import (  # noqa: E402
    Stretch,
    apply_colormap,
    bin_factor,
    binned,
    fits_bytes,
    frame_message,
    limits,
    pack,
    png_bytes,
)
from shmring.view._sources import Snapshot, legacy_image, uyvy_to_rgb  # noqa: E402


def star_field(height: int = 64, width: int = 80) -> np.ndarray:
    rng = np.random.default_rng(1)
    image = rng.normal(1000.0, 10.0, (height, width))
    image[20, 30] = 40000.0
    return image.astype(np.uint16)


def test_large_frames_are_binned_to_fit_max_side_by_block_means() -> None:
    assert bin_factor(2048, 2048, 1024) == 2
    assert bin_factor(2048, 1000, 1024) == 2
    assert bin_factor(1024, 100, 1024) == 1
    assert bin_factor(3000, 10, 1024) == 3
    image = np.arange(6 * 8, dtype=np.uint16).reshape(6, 8)
    small = binned(image, 2)
    assert small.shape == (3, 4)
    assert small[0, 0] == pytest.approx((0 + 1 + 8 + 9) / 4)


def test_a_2048_square_frame_goes_to_the_page_as_1024_square() -> None:
    snap = Snapshot(np.zeros((2048, 2048), np.uint16), 7, 0)
    header, pixels = frame_message(snap, Stretch(limits="minmax"), 1024)
    assert (header["width"], header["height"], header["bin"], header["kind"]) == (1024, 1024, 2, "uint16")
    assert pixels.nbytes == 1024 * 1024 * 2
    assert header["shape"] == [2048, 2048]


def test_binned_integer_frames_are_sent_rounded_in_their_own_type_floats_as_float32() -> None:
    image = np.array([[1, 2], [2, 2]], np.uint16)
    header, pixels = frame_message(Snapshot(image, 0, 0), Stretch(limits="minmax"), 16)
    assert (header["kind"], header["bin"], pixels.tolist()) == ("uint16", 1, [[1, 2], [2, 2]])
    small = np.full((4, 4), 7, np.uint16)
    small[0, 0] = 10  # block mean 7.75 -> 8
    header, pixels = frame_message(Snapshot(small, 0, 0), Stretch(limits="minmax"), 2)
    assert header["bin"] == 2
    assert (header["kind"], pixels[0, 0]) == ("uint16", 8)
    header, pixels = frame_message(Snapshot(small.astype(np.float64), 0, 0), Stretch(limits="minmax"), 2)
    assert (header["kind"], pixels[0, 0]) == ("float32", 7.75)


def test_zscale_limits_are_astropys() -> None:
    image = star_field()
    assert limits(image, Stretch(limits="zscale")) == pytest.approx(ZScaleInterval().get_limits(image.astype(float)))


def test_minmax_and_percentile_limits() -> None:
    image = np.arange(1001, dtype=np.float32).reshape(7, 143)
    assert limits(image, Stretch(limits="minmax")) == (0.0, 1000.0)
    assert limits(image, Stretch(limits="percentile", percent=90.0)) == pytest.approx((50.0, 950.0))


def test_a_uniform_frame_still_gets_a_range() -> None:
    low, high = limits(np.full((8, 8), 5, np.uint8), Stretch(limits="minmax"))
    assert high > low


@pytest.mark.parametrize(("field", "value", "words"), [
    ("limits", "median", "limits must be one of"), ("curve", "sqrt", "curve must be one of"),
    ("cmap", "jet", "cmap must be one of"), ("percent", "lots", "percent must be a number"),
    ("percent", 20, "percent must be within 50..100, got 20"),
])
def test_a_bad_stretch_names_the_field(field: str, value: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Stretch.from_request({field: value})


def test_uyvy_red_and_blue_come_out_red_and_blue() -> None:
    uyvy = np.array([[90, 81, 240, 81, 240, 41, 110, 41]], np.uint8)  # 2 red pixels, 2 blue
    rgb = uyvy_to_rgb(uyvy)
    assert rgb.shape == (1, 4, 3)
    assert rgb[0, 0, 0] > 200 and rgb[0, 0, 2] < 60, rgb[0, 0]
    assert rgb[0, 3, 2] > 200 and rgb[0, 3, 0] < 60, rgb[0, 3]


def test_matlab_rgb_is_column_major_planes() -> None:
    height, width = 2, 3
    planes = np.zeros((3, width, height), np.uint8)  # MATLAB memory order: plane, column, row
    planes[0, 2, 1] = 255  # red at row 1, column 2
    data, colour = legacy_image(planes.tobytes(), width, height, 2)
    assert colour == "rgb" and data.shape == (2, 3, 3)
    assert tuple(data[1, 2]) == (255, 0, 0)
    assert data.sum() == 255


def test_legacy_grey_pixels_take_their_size_from_the_buffer() -> None:
    data, colour = legacy_image(np.arange(12, dtype=np.uint16).tobytes(), 4, 3, 0)
    assert colour is None and data.dtype == np.uint16 and data.shape == (3, 4) and data[2, 3] == 11


def test_packed_message_has_its_pixels_8_byte_aligned() -> None:
    message = pack({"type": "frame", "seq": 3}, b"\x01\x02")
    length = struct.unpack("<I", message[:4])[0]
    assert (4 + length) % 8 == 0
    assert json.loads(message[4 : 4 + length]) == {"type": "frame", "seq": 3}
    assert message[4 + length :] == b"\x01\x02"


def test_fits_holds_the_frame_and_its_metadata() -> None:
    image = star_field()
    snap = Snapshot(image, 42, 1_700_000_000_000_000_000,
                    {"EXPTIME": 1.5, "OBJECT": "M42", "a_long_key_name": "x", "NAN": float("nan")})
    with fits.open(io.BytesIO(fits_bytes(snap, "cam0"))) as hdus:
        header, data = hdus[0].header, hdus[0].data
        np.testing.assert_array_equal(data, image)
        assert (header["SHMSEQ"], header["SHMRING"], header["EXPTIME"], header["OBJECT"]) == (42, "cam0", 1.5, "M42")
        assert header["a_long_key_name"] == "x"


def test_png_is_the_full_frame_through_the_colour_map() -> None:
    image = np.arange(16 * 20, dtype=np.uint16).reshape(16, 20)
    stretch = Stretch(limits="minmax", curve="linear", cmap="viridis")
    with Image.open(io.BytesIO(png_bytes(Snapshot(image, 1, 0), stretch))) as png:
        got = np.asarray(png.convert("RGB"))
    expected = apply_colormap((image / image.max()).astype(np.float32), "viridis")
    assert got.shape == (16, 20, 3)
    np.testing.assert_array_equal(got, expected)
