"""The page as a person sees it, in a real browser: rings listed, frames advancing, saving, failures shown."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _view_children import frame_for, write_legacy_uyvy
from conftest import PAGE_TIMEOUT_MS, Camera, ring_url

import shmring
from shmring.legacy import SharedMem

fits = pytest.importorskip("astropy.io.fits", reason="the view extra installs astropy")

# Distinct colours among the canvas's pixels: a frame drawn through a colour
# map has hundreds; a blank or uniformly filled canvas has one or two.
CANVAS_COLOURS_JS = """() => {
  const c = document.getElementById('image');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const seen = new Set();
  for (let i = 0; i < d.length; i += 4 * 97) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  return seen.size;
}"""


def seq_shown(page: Any) -> int:
    text = page.inner_text("#seq")
    return int(text) if text.isdigit() else -1


def wait_for_seq_above(page: Any, seq: int) -> int:
    page.wait_for_function(f"() => Number(document.getElementById('seq').textContent) > {seq}")
    return seq_shown(page)


def test_page_lists_the_ring_and_shows_it_live(page: Any, viewer: str, camera: Camera, unique_name: str) -> None:
    camera(unique_name, (120, 160))
    page.goto(ring_url(viewer, unique_name))
    row = page.locator(f"#rings tr[data-name='{unique_name}']")
    row.wait_for()
    assert "160x120 <u2" in row.inner_text(), f"the ring's row does not show its frame type: {row.inner_text()!r}"
    first = wait_for_seq_above(page, 0)
    later = wait_for_seq_above(page, first)
    assert later > first, "the frame counter did not advance"
    colours = page.evaluate(CANVAS_COLOURS_JS)
    assert colours > 20, f"the canvas shows {colours} distinct colours: no frame was drawn"
    meta = page.inner_text("#meta")
    assert "EXPTIME" in meta and "0.25" in meta and "OBJECT" in meta and "test field" in meta, meta
    assert "160x120 uint16" in page.inner_text("#shape")
    page.hover("#image")
    assert ": " in page.inner_text("#pixel"), "no pixel value under the cursor"


def test_saved_fits_is_the_frame_shown(page: Any, viewer: str, camera: Camera, unique_name: str,
                                       tmp_path: Path) -> None:
    shape = (96, 128)
    camera(unique_name, shape)
    page.goto(ring_url(viewer, unique_name))
    wait_for_seq_above(page, 1)
    page.click("#pause")
    paused_at = seq_shown(page)
    with page.expect_download() as download:
        page.click("#save-fits")
    saved = tmp_path / "frame.fits"
    download.value.save_as(saved)
    with fits.open(saved) as hdus:
        header, data = hdus[0].header, np.asarray(hdus[0].data)
    assert header["SHMSEQ"] == paused_at, f"saved frame {header['SHMSEQ']}, the page shows {paused_at}"
    np.testing.assert_array_equal(data, frame_for(paused_at, shape), err_msg="the saved FITS is not the frame")
    assert header["FRAME"] == paused_at and header["OBJECT"] == "test field"
    assert seq_shown(page) == paused_at, "the page moved on while paused"
    with page.expect_download() as download:
        page.click("#save-png")
    png = tmp_path / "frame.png"
    download.value.save_as(png)
    from PIL import Image

    with Image.open(png) as img:
        assert img.size == (shape[1], shape[0]), f"the PNG is {img.size}, the frame {shape[::-1]}"
    page.click("#pause")
    wait_for_seq_above(page, paused_at)


def test_removed_ring_is_reported_and_a_recreated_one_shown(page: Any, viewer: str, camera: Camera,
                                                            unique_name: str) -> None:
    writer = camera(unique_name, (64, 80))
    page.goto(ring_url(viewer, unique_name))
    wait_for_seq_above(page, 1)
    writer.terminate()
    writer.join(10)
    with shmring.Ring.open(Path(page_dir(viewer, page)) / unique_name) as ring:
        ring.unlink()
    notice = page.locator("#notice")
    notice.filter(has_text="removed").wait_for()
    camera(unique_name, (48, 40))
    notice.filter(has_text="frames are now 40x48 uint16").wait_for()
    page.wait_for_function("() => document.getElementById('shape').textContent.startsWith('40x48')")
    seq = seq_shown(page)
    assert wait_for_seq_above(page, seq) > seq, "the re-created ring's frames do not advance"


def page_dir(viewer: str, page: Any) -> str:
    """The ring directory the server lists, as the page shows it."""
    return str(page.evaluate("async (u) => (await (await fetch(u)).json()).directory",
                             viewer.replace("/?", "/api/rings?")))


def test_corrupt_file_is_listed_and_the_page_keeps_working(page: Any, viewer: str, camera: Camera,
                                                           unique_name: str, view_dirs: tuple[Path, Path]) -> None:
    rings, _ = view_dirs
    corrupt = rings / f"{unique_name}-bad"
    with shmring.Ring.create(corrupt.name, slots=2, slot_bytes=4096, directory=rings):
        pass
    with open(corrupt, "r+b") as f:  # a valid magic, a nonsense slot count
        f.seek(24)
        f.write(b"\xff" * 8)
    camera(unique_name, (32, 32))
    try:
        page.goto(ring_url(viewer, unique_name))
        row = page.locator(f"#rings tr[data-name='{corrupt.name}']")
        row.wait_for()
        assert "corrupt" in row.inner_text(), f"the corrupt file's row says {row.inner_text()!r}"
        assert "broken" in (row.get_attribute("class") or "")
        seq = wait_for_seq_above(page, 0)
        assert wait_for_seq_above(page, seq) > seq
    finally:
        corrupt.unlink()


def test_legacy_uyvy_buffers_are_shown_in_colour(page: Any, viewer: str, view_dirs: tuple[Path, Path],
                                                 spawn: Any, unique_name: str) -> None:
    _, legacy = view_dirs
    path = legacy / f"smem_{unique_name}"
    SharedMem.create(path, item_size=64 * 48 * 2, item_alloc=4).close()
    try:
        spawn(write_legacy_uyvy, str(path), 64, 48, 0.05)
        page.goto(ring_url(viewer, path.name))
        page.locator(f"#rings tr[data-name='{path.name}']").wait_for()
        page.wait_for_function("() => document.getElementById('shape').textContent.startsWith('64x48 RGB')")
        page.select_option("#limits", "minmax")
        red_blue = page.evaluate("""() => {
          const c = document.getElementById('image'), g = c.getContext('2d');
          const px = (fx) => Array.from(g.getImageData(Math.floor(c.width * fx), Math.floor(c.height / 2), 1, 1).data);
          return [px(0.35), px(0.65)];
        }""")
        left, right = red_blue
        assert left[0] > left[2] + 100, f"left half should be red, the canvas shows {left}"
        assert right[2] > right[0] + 100, f"right half should be blue, the canvas shows {right}"
        assert "FLAGS" in page.inner_text("#meta")
    finally:
        path.unlink(missing_ok=True)


def test_every_request_needs_the_token(viewer: str) -> None:
    base = viewer.split("?")[0]
    for url in (base, base + "api/rings", base + "static/viewer.js"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=PAGE_TIMEOUT_MS / 1000)
        assert refused.value.code == 403, f"{url} answered {refused.value.code} without the token"
        refused.value.close()
    with urllib.request.urlopen(viewer.replace("/?", "/api/rings?"), timeout=PAGE_TIMEOUT_MS / 1000) as ok:
        assert ok.status == 200
