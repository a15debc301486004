"""Take the screenshots in docs/images/ of ``shmring view``: ``python docs/make_screenshots.py``.

Needs the [view] and [test] extras and chromium. Starts a synthetic camera (the
demo's star field, 2048x2048 uint16), a legacy SharedMem producer of UYVY
buffers and a corrupt ring file in a private directory, serves them, and
photographs the page in headless chromium.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

import shmring
from shmring.cli._starfield import StarField
from shmring.legacy import BUFH_UYVY, SharedMem

OUT = Path(__file__).with_name("images")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def camera(ring: shmring.Ring, stop: threading.Event) -> None:
    field = StarField((2048, 2048), np.dtype(np.uint16))
    with ring.writer() as writer:
        seq = 0
        while not stop.is_set():
            with writer.reserve((2048, 2048), np.uint16, meta={
                    "FRAME": seq, "EXPTIME": 0.02, "OBJECT": "NGC 2264", "INSTRUME": "demo-cam",
                    "DATE-OBS": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "GAIN": 1.6}) as frame:
                field.render(frame, seq)
            seq += 1
            time.sleep(0.05)


def colour_bars(path: Path, stop: threading.Event) -> None:
    width, height = 320, 240
    bars = [(128, 235, 128), (16, 210, 146), (166, 170, 16), (54, 145, 34), (202, 106, 222), (90, 81, 240),
            (240, 41, 110), (128, 16, 128)]  # (U, Y, V): white, yellow, cyan, green, magenta, red, blue, black
    quad = np.empty((height, width // 2, 4), np.uint8)
    step = (width // 2) // len(bars)
    for i, (u, y, v) in enumerate(bars):
        quad[:, i * step:(i + 1) * step] = (u, y, v, y)
    with SharedMem.create(path, item_size=width * height * 2, item_alloc=4) as mem:
        while not stop.is_set():
            mem.get_buf(timeout=0)
            mem.put_buf(quad.tobytes(), width=width, height=height, flags=BUFH_UYVY)
            time.sleep(0.1)
        mem.delete()


def main() -> int:
    from playwright.sync_api import sync_playwright

    base = Path("/dev/shm") / f"shmring-shots-{os.getpid()}"
    rings, legacy = base / "rings", base / "legacy"
    rings.mkdir(parents=True)
    legacy.mkdir()
    stop = threading.Event()
    ring = shmring.Ring.create("cam0", slots=8, dtype=np.uint16, shape=(2048, 2048), directory=rings)
    bad = shmring.Ring.create("guider", slots=2, slot_bytes=4096, directory=rings)
    bad.close()
    with open(rings / "guider", "r+b") as f:  # a valid magic, a nonsense slot count
        f.seek(24)
        f.write(b"\xff" * 8)
    threads = [threading.Thread(target=camera, args=(ring, stop)),
               threading.Thread(target=colour_bars, args=(legacy / "smem_webcam", stop))]
    for t in threads:
        t.start()
    server = subprocess.Popen([sys.executable, "-m", "shmring.cli", "view", "--port", "0",
                               "--legacy-dir", str(legacy)], env={**os.environ, "SHMRING_DIR": str(rings)},
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        OUT.mkdir(exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            page.goto(url + "?ring=cam0")
            page.wait_for_function("() => state.framesDrawn > 3", timeout=60_000)
            page.mouse.move(760, 500)
            page.wait_for_timeout(500)
            page.screenshot(path=OUT / "view-main.png")
            page.select_option("#cmap", "inferno")
            page.select_option("#curve", "asinh")
            page.select_option("#limits", "minmax")
            page.wait_for_timeout(800)
            box = page.locator("#image").bounding_box()
            assert box is not None
            # Zoom on the brightest star of the frame shown (found in the page's own pixels).
            star = page.evaluate("""() => {
              const p = state.pixels, w = state.frame.width, h = state.frame.height;
              let best = 0;
              for (let i = 0; i < p.length; i++) {
                const x = i % w, y = (i / w) | 0;
                if (x > w * 0.15 && x < w * 0.85 && y > h * 0.15 && y < h * 0.85 && p[i] > p[best]) best = i;
              }
              return [state.panX + ((best % w) + 0.5) * state.zoom, state.panY + (((best / w) | 0) + 0.5) * state.zoom];
            }""")
            cx, cy = box["x"] + star[0], box["y"] + star[1]
            for _ in range(8):
                page.mouse.move(cx, cy)
                page.mouse.wheel(0, -120)
            page.wait_for_timeout(300)
            page.mouse.move(cx + 4, cy + 3)
            page.wait_for_timeout(800)
            page.screenshot(path=OUT / "view-zoom.png")
            page.goto(url + "?ring=smem_webcam")
            page.wait_for_function("() => state.framesDrawn > 2", timeout=60_000)
            page.select_option("#limits", "minmax")
            page.wait_for_timeout(800)
            page.screenshot(path=OUT / "view-legacy.png")
            page.goto(url + "?ring=cam0")
            page.wait_for_function("() => state.framesDrawn > 2", timeout=60_000)
            stop.set()
            threads[0].join()
            ring.unlink()
            page.locator("#notice").filter(has_text="removed").wait_for(timeout=30_000)
            page.screenshot(path=OUT / "view-removed.png")
            browser.close()
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.terminate()
        server.wait(10)
        ring.close()
        shutil.rmtree(base, ignore_errors=True)
    print(f"screenshots in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
