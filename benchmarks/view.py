"""The viewer's cost to a writer, and the page's update rate: ``python -m benchmarks.view``.

A writer process puts 8 MiB frames (2048x2048 uint16) into a ring as fast as
it can for ``--seconds``; its frames per second are measured with no viewer,
then with ``shmring view`` serving a page open in headless chromium, in
alternating repetitions (so drift and other load hit both alike). The page's
update rate is what the page itself counts (frames drawn per second).
Results: stdout, ``benchmarks/results/view.md`` and ``view.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

import shmring

SHAPE = (2048, 2048)
RESULTS = Path(__file__).with_name("results")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def write_for(directory: str, name: str, seconds: float, rate: float, results: Any) -> None:
    """Put frames for ``seconds`` (as fast as possible, or paced at ``rate`` Hz as a camera is).

    Reports frames per second and the mean time one put took (ms), after a 0.5 s warm-up.
    """
    frame = np.random.default_rng(0).integers(900, 1100, SHAPE, dtype=np.uint16)
    period = 1.0 / rate if rate else 0.0
    with shmring.Ring.open(Path(directory) / name) as ring, ring.writer() as writer:
        end_warmup = time.monotonic() + 0.5
        while time.monotonic() < end_warmup:
            writer.put(frame, timeout=10)
        count, busy, start = 0, 0.0, time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            t0 = time.monotonic()
            writer.put(frame, meta={"FRAME": count}, timeout=10)
            busy += time.monotonic() - t0
            count += 1
            if period:  # the camera's frame clock: the next exposure is due then
                due = start + count * period
                time.sleep(max(0.0, due - time.monotonic()))
        results.put((count / elapsed, 1000.0 * busy / count))


def measure_writer(directory: Path, name: str, seconds: float, rate: float) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=write_for, args=(str(directory), name, seconds, rate, results))
    proc.start()
    try:
        fps, put_ms = results.get(timeout=seconds + 60)
        return float(fps), float(put_ms)
    finally:
        proc.join(30)


def start_server(directory: Path, max_fps: float) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "SHMRING_DIR": str(directory)}
    server = subprocess.Popen([sys.executable, "-m", "shmring.cli", "view", "--port", "0", "--no-legacy",
                               "--max-fps", str(max_fps)], env=env, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


def stop_server(server: subprocess.Popen[str]) -> None:
    server.terminate()
    server.wait(10)
    assert server.stdout is not None
    server.stdout.close()


class PythonPage:
    """A minimal page in a thread: takes and acknowledges every frame, draws nothing (the server's cost alone)."""

    def __init__(self, directory: Path, name: str, max_fps: float) -> None:
        from websockets.sync.client import connect

        self.server, url = start_server(directory, max_fps)
        self.ws = connect(url.replace("http://", "ws://") + "ws", max_size=None).__enter__()
        self.ws.send(json.dumps({"type": "select", "ring": name}))
        self.frames = 0
        self.running = True
        self.thread = threading.Thread(target=self._take, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while self.frames == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # a benchmark's set-up, not a test's wait

    def _take(self) -> None:
        while self.running:
            try:
                message = self.ws.recv(timeout=1.0)
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - the server went away: the measurement is over
                return
            if isinstance(message, bytes):
                self.frames += 1
                self.ws.send(json.dumps({"type": "ack"}))

    def drawn(self) -> int:
        return self.frames

    def close(self) -> None:
        self.running = False
        self.thread.join(5)
        self.ws.close()
        stop_server(self.server)


class BrowserPage:
    """``shmring view`` and a chromium page showing ``name``."""

    def __init__(self, directory: Path, name: str, max_fps: float) -> None:
        from playwright.sync_api import sync_playwright

        self.server, url = start_server(directory, max_fps)
        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        self.page = self.browser.new_page(viewport={"width": 1400, "height": 900})
        self.page.goto(f"{url}?ring={name}")
        self.page.wait_for_function("() => state.framesDrawn > 0", timeout=30_000)

    def drawn(self) -> int:
        return int(self.page.evaluate("() => state.framesDrawn"))

    def close(self) -> None:
        self.browser.close()
        self.playwright.stop()
        stop_server(self.server)


def run(args: argparse.Namespace) -> dict[str, Any]:
    directory = Path("/dev/shm") / f"shmring-bench-view-{os.getpid()}"
    directory.mkdir(mode=0o700)
    name = "cam"
    nbytes = int(np.prod(SHAPE)) * 2
    without: list[tuple[float, float]] = []
    with_viewer: list[tuple[float, float]] = []
    page_fps: list[float] = []
    try:
        with shmring.Ring.create(name, slots=8, dtype=np.uint16, shape=SHAPE, policy=args.policy,
                                 directory=directory):
            for rep in range(args.reps):
                without.append(measure_writer(directory, name, args.seconds, args.rate))
                viewer = (BrowserPage if args.page == "chromium" else PythonPage)(directory, name, args.max_fps)
                try:
                    before, start = viewer.drawn(), time.monotonic()
                    with_viewer.append(measure_writer(directory, name, args.seconds, args.rate))
                    page_fps.append((viewer.drawn() - before) / (time.monotonic() - start))
                finally:
                    viewer.close()
                print(f"rep {rep + 1}: writer {without[-1][0]:.1f} fps alone, {with_viewer[-1][0]:.1f} fps watched "
                      f"(put {without[-1][1]:.2f} / {with_viewer[-1][1]:.2f} ms); page {page_fps[-1]:.1f} fps",
                      file=sys.stderr)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    alone, watched = [f for f, _ in without], [f for f, _ in with_viewer]
    ratio = statistics.median(watched) / statistics.median(alone)
    return {"frame_bytes": nbytes, "shape": list(SHAPE), "policy": args.policy, "seconds": args.seconds,
            "rate": args.rate, "max_fps": args.max_fps, "writer_fps_alone": alone, "writer_fps_watched": watched,
            "put_ms_alone": [p for _, p in without], "put_ms_watched": [p for _, p in with_viewer],
            "page_fps": page_fps, "ratio": ratio, "page": args.page}


def report(r: dict[str, Any]) -> str:
    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):.1f} [{min(values):.1f}-{max(values):.1f}]"

    pace = f"paced at {r['rate']:g} Hz" if r["rate"] else "as fast as it can"
    return "\n".join([
        f"Writer of {r['shape'][1]}x{r['shape'][0]} uint16 frames (8 MiB) {pace}, policy {r['policy']}, "
        f"{len(r['page_fps'])} alternating repetitions of {r['seconds']} s; viewer at --max-fps {r['max_fps']}, "
        f"page: {r['page']}.",
        "",
        "| | median [min-max] |",
        "|---|---:|",
        f"| writer frames/s, no viewer | {cell(r['writer_fps_alone'])} |",
        f"| writer frames/s, page open | {cell(r['writer_fps_watched'])} |",
        f"| ratio watched / alone | {r['ratio']:.3f} |",
        f"| one put, ms, no viewer | {cell(r['put_ms_alone'])} |",
        f"| one put, ms, page open | {cell(r['put_ms_watched'])} |",
        f"| page updates/s (frames drawn) | {cell(r['page_fps'])} |",
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.view", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=5.0, help="writer run per measurement")
    p.add_argument("--reps", type=int, default=3, help="alternating repetitions")
    p.add_argument("--policy", choices=["overwrite", "block"], default="block")
    p.add_argument("--max-fps", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=0.0, help="camera rate in Hz (0: as fast as it can)")
    p.add_argument("--page", choices=["chromium", "python"], default="chromium",
                   help="a real page in headless chromium, or a Python client that only takes frames")
    p.add_argument("--no-save", action="store_true", help="print only")
    args = p.parse_args(argv)
    if args.page == "chromium" and shutil.which("chromium") is None:
        print("benchmarks.view: needs chromium (apt-get install chromium)", file=sys.stderr)
        return 1
    result = run(args)
    text = report(result)
    print(text)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        stem = f"view-{args.policy}-{'max' if not args.rate else f'{args.rate:g}hz'}-{args.page}"
        (RESULTS / f"{stem}.md").write_text(text + "\n")
        (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
