"""libshmring (C) cases for benchmarks/compare.py: a C writer with a C reader, and with a Python reader.

Each trial makes a ``block`` ring (lossless, so the figure is the sustained
rate), starts the reader (``benchmarks/c/ring_bench.c`` or ``benchmarks/c/py_reader.py``)
pinned to one CPU and the C writer pinned to another (or the same, for
``same-core``), and times the frames after the warm-up from the writer starting
the first of them to the reader done with the last (CLOCK_MONOTONIC, one clock
for both processes); every frame's stamp is checked. The rows join ``compare.py``'s tables beside
the Python subjects. Needs ``gcc`` and ``make`` (the library is built with
``make -C c``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from shmring import Ring
from shmring._bench.measures import MEASURES, Measure
from shmring._bench.runner import PLACEMENTS, summarize

ROOT = Path(__file__).resolve().parent.parent
BENCH_SOURCE = ROOT / "benchmarks" / "c" / "ring_bench.c"
PY_READER = ROOT / "benchmarks" / "c" / "py_reader.py"
SUBJECTS = ("c-to-c", "c-to-py")
DESCRIPTIONS = {
    "c-to-c": "libshmring C writer (shmring_put) and C reader (shmring_get_view); for messages across "
              "cores both spin (writer up to 1 ms for room, reader up to 1 s); otherwise the reader spins a learned "
              "while (its default, as the Python reader's) and the writer blocks on the futex",
    "c-to-py": "the same C writer, shmring Python reader (get(view=True), spin=1.0 as above)",
}
KINDS = ("msg", "copy")  # what these cases measure (no round trips, no in-place rows)
MSG_SCALE = 50  # C moves small messages ~50x faster than a Python loop: more of them for a stable figure
FRAME_SCALE = 4  # and 4x more frames: a handful of 8 MiB frames is over in a few ms
SPIN_S = 1.0
WRITER_SPIN_S = 1e-3  # cross-core only: a writer spinning on the reader's core would starve it
TIMEOUT_S = 300.0


def unavailable() -> str | None:
    """Why the C cases cannot run here, or None."""
    missing = [p for p in ("gcc", "make", "taskset") if shutil.which(p) is None]
    return f"needs {', '.join(missing)} (apt-get install gcc make util-linux)" if missing else None


def _build(out_dir: Path) -> Path:
    subprocess.run(["make", "-C", str(ROOT / "c")], check=True, capture_output=True, timeout=TIMEOUT_S)
    exe = out_dir / "ring_bench"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{ROOT / 'c' / 'include'}",
                    "-o", str(exe), str(BENCH_SOURCE), str(ROOT / "c" / "build" / "libshmring.a")],
                   check=True, capture_output=True, timeout=TIMEOUT_S)
    return exe


def _counts(m: Measure, quick: bool) -> tuple[int, int]:
    warm, n = m.plan(quick)
    scale = MSG_SCALE if m.kind == "msg" else FRAME_SCALE
    return warm * scale, n * scale


def _trial(exe: Path, subject: str, m: Measure, place: str, quick: bool, key: str) -> dict[str, float]:
    warm, n = _counts(m, quick)
    cpu_writer, cpu_reader = PLACEMENTS[place]
    name = f"cbench-{os.getpid()}-{key}"
    # A fixed spin only for small messages across cores (the "spinning reader" figure); frames
    # and same-core runs use the reader's learned spin, as the "shmring" subject does (a fixed spin on
    # one core would starve its peer; the learned one turns itself off there).
    spinning = place == "cross-core" and m.kind == "msg"
    spin = SPIN_S if spinning else -1.0  # otherwise the reader's default: the learned spin
    args = [name, str(m.nbytes), str(warm + n), str(warm), str(spin)]
    reader_cmd = [str(exe), "read", *args] if subject == "c-to-c" else [sys.executable, str(PY_READER), *args]
    with Ring.create(name, slots=m.depth, slot_bytes=m.nbytes, meta_bytes=0, policy="block") as ring:
        try:
            reader = subprocess.Popen(["taskset", "-c", str(cpu_reader), *reader_cmd], stdout=subprocess.PIPE,
                                      text=True)
            try:
                ready = reader.stdout.readline().strip() if reader.stdout else ""
                if ready != "ready":
                    raise RuntimeError(f"{subject} reader did not start: {ready!r}")
                wrote = subprocess.run(["taskset", "-c", str(cpu_writer), str(exe), "write", name, str(m.nbytes),
                                        str(warm + n), str(warm), str(WRITER_SPIN_S if spinning else 0)],
                                       check=True, capture_output=True, text=True, timeout=TIMEOUT_S).stdout
                out, _ = reader.communicate(timeout=TIMEOUT_S)
            finally:
                if reader.poll() is None:
                    reader.kill()
                reader.wait(TIMEOUT_S)
        finally:
            ring.unlink()
    words = (out + " " + wrote).split()
    got = {words[k]: float(words[k + 1]) for k in range(0, len(words) - 1, 2)}
    if got.get("bad") or got.get("lost"):
        raise RuntimeError(f"{subject} lost or broke frames: {out.strip()}")
    # From the writer starting frame `warm` to the reader done with the last (one monotonic clock):
    # the reader's own clock would miss the frames already waiting in the ring when it starts.
    secs = got["end"] - got["start"]
    out_metrics = {"cpu_us": got["cpu"] / got["n"] * 1e6, "us_per_frame": secs / got["n"] * 1e6}
    if m.kind == "msg":
        out_metrics["msgs_per_s"] = got["n"] / secs
    else:
        out_metrics["gb_per_s"] = got["n"] * m.nbytes / secs / 1e9
    return out_metrics


def run(subjects: list[str], measures: list[str], *, quick: bool, reps: int,
        placements: list[str]) -> dict[str, Any]:
    """Rows (``runner`` format), skipped subjects and descriptions of the C cases asked for."""
    out: dict[str, Any] = {"rows": [], "skipped": {}, "descriptions": {}, "subjects": []}
    subjects = [s for s in subjects if s in SUBJECTS]
    chosen = [MEASURES[name] for name in measures if MEASURES[name].kind in KINDS]
    if not subjects or not chosen:
        return out
    why = unavailable()
    if why:
        out["skipped"] = dict.fromkeys(subjects, why)
        return out
    with tempfile.TemporaryDirectory() as tmp:
        exe = _build(Path(tmp))
        samples: dict[tuple[str, str, str], list[dict[str, float]]] = {}
        failed: dict[tuple[str, str, str], str] = {}
        for rep in range(reps):
            for m in chosen:
                for place in placements:
                    for s in subjects:
                        key3 = (s, m.name, place)
                        if key3 in failed:
                            continue
                        try:
                            samples.setdefault(key3, []).append(_trial(exe, s, m, place, quick, f"{rep}"))
                        except (RuntimeError, subprocess.SubprocessError, OSError) as err:
                            failed[key3] = f"ERROR: {err}"
    for (s, mname, place), runs in sorted(samples.items()):
        if (s, mname, place) not in failed:
            out["rows"].append({"subject": s, "measure": mname, "placement": place, "status": "ok",
                                "metrics": {k: summarize([r[k] for r in runs]) for k in runs[0]}})
    for (s, mname, place), err in sorted(failed.items()):
        out["rows"].append({"subject": s, "measure": mname, "placement": place, "status": err, "metrics": {}})
    out["subjects"] = subjects
    out["descriptions"] = {s: DESCRIPTIONS[s] for s in subjects}
    return out


def merge(results: dict[str, Any], c_results: dict[str, Any]) -> None:
    """Add the C cases to a ``runner.run`` result, so the report shows them beside the rest."""
    results["rows"] += c_results["rows"]
    results["skipped"].update(c_results["skipped"])
    results["descriptions"].update(c_results["descriptions"])
    results["config"]["subjects"] += [s for s in c_results["subjects"] if s not in results["config"]["subjects"]]
