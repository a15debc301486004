"""The PNG plot of a run (matplotlib); tables and JSON come from ``shmring._bench.report``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shmring._bench import report as _tables
from shmring._bench.measures import MEASURES
from shmring._bench.report import SHMRING, _index, _median
from shmring._bench.runner import FLOORS

markdown = _tables.markdown


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx, cfg = _index(results), results["config"]
    places = cfg["placements"]
    copies = [n for n in cfg["measures"] if MEASURES[n].kind == "copy"]
    rtt = [n for n in cfg["measures"] if MEASURES[n].kind == "rtt"]
    fig, axes = plt.subplots(2, len(places), figsize=(6.5 * len(places), 9), squeeze=False)
    for col, place in enumerate(places):
        ax = axes[0][col]
        for s in cfg["subjects"]:
            pts = [(MEASURES[n].nbytes / 2**20, idx[(s, n, place)]["metrics"]["gb_per_s"])
                   for n in copies if _median(idx, (s, n, place), "gb_per_s") is not None]
            if pts:
                x = [p[0] for p in pts]
                style = "k--" if s in FLOORS else ("-o" if s in SHMRING else "-.")
                ax.errorbar(x, [p[1]["median"] for p in pts], fmt=style, capsize=3,
                            lw=2.5 if s in SHMRING else 1.2, label=s,
                            yerr=[[p[1]["median"] - p[1]["min"] for p in pts],
                                  [p[1]["max"] - p[1]["median"] for p in pts]])
        ax.set(xscale="log", xlabel="frame size (MiB)", ylabel="GB/s (copy-in, one-way)",
               title=f"Frame throughput, {place}")
        ax.set_xticks([MEASURES[n].nbytes / 2**20 for n in copies],
                      [str(MEASURES[n].nbytes // 2**20) for n in copies])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        _latency_bars(axes[1][col], idx, cfg["subjects"], rtt[0] if rtt else None, place)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _latency_bars(ax: Any, idx: Any, subjects: list[str], name: str | None, place: str) -> None:
    rows = [(s, idx[(s, name, place)]["metrics"]) for s in subjects
            if name and _median(idx, (s, name, place), "median_us") is not None]
    if not rows:  # no round trip in this run: nothing to draw (a log axis needs data)
        ax.set_axis_off()
        ax.set_title(f"Latency, {place}: not measured")
        return
    ys = range(len(rows))
    med = [r[1]["median_us"]["median"] for r in rows]
    p99 = [r[1]["p99_us"]["median"] for r in rows]
    colors = ["tab:red" if s in SHMRING else "grey" if s in FLOORS else "tab:blue" for s, _ in rows]
    ax.barh(list(ys), med, color=colors, label="median")
    ax.plot(p99, list(ys), "k|", markersize=14, label="p99")
    ax.set_yticks(list(ys), [s for s, _ in rows])
    ax.invert_yaxis()
    ax.set(xscale="log", xlabel="64 B round trip (µs, log)", title=f"Latency, {place}")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8)


def write(results: dict[str, Any], outdir: Path, with_plot: bool = True) -> str:
    """Write results.md, results.json and (unless ``with_plot`` is false) plot.png."""
    text = _tables.write(results, outdir)
    if with_plot:
        plot(results, outdir / "plot.png")
    return text
