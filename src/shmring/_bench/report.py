"""Turn ``runner`` results into markdown tables and a JSON file (the plot lives in ``benchmarks/``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .measures import MEASURES

SHMRING = ("shmring", "shmring-spin")
# (metric, unit, higher_is_better) per measure kind, in table order
ROWS = {
    "rtt": [("median_us", "µs", False), ("p99_us", "µs", False)],
    "msg": [("msgs_per_s", "msg/s", True)],
    "batch": [("msgs_per_s", "msg/s", True)],
    "copy": [("gb_per_s", "GB/s", True)],
    "inplace": [("us_per_frame", "µs/frame", False)],
}
_DASH = "\u2013"  # en dash: ranges in table cells
CPU_ROW = ("cpu_us", "µs CPU", False)


def _fmt(x: float) -> str:
    if math.isnan(x):
        return _DASH
    if abs(x) >= 1e5:
        return f"{x / 1e6:.2f} M" if abs(x) >= 1e6 else f"{x / 1e3:.0f} k"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"


def _index(results: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["subject"], r["measure"], r["placement"]): r for r in results["rows"]}


def _cell(row: dict[str, Any] | None, metric: str) -> str:
    if row is None:
        return ""
    if row["status"] != "ok":
        return "**" + str(row["status"]).split(":", 1)[0] + "**"
    s = row["metrics"].get(metric)
    if s is None:
        return ""
    if s["n"] == 1:
        return _fmt(s["median"])
    return f"{_fmt(s['median'])} [{_fmt(s['min'])}{_DASH}{_fmt(s['max'])}]"


def _rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, bool]]:
    """(measure, metric, label, unit, higher_is_better) in table order."""
    out = []
    for name in results["config"]["measures"]:
        m = MEASURES[name]
        for metric, unit, hib in ROWS[m.kind]:
            suffix = {"median_us": ", median", "p99_us": ", p99"}.get(metric, "")
            out.append((name, metric, m.label + suffix, unit, hib))
    return out


def absolute_table(results: dict[str, Any], place: str, cpu: bool = False) -> str:
    idx, subjects = _index(results), results["config"]["subjects"]
    head = "| measure | unit | " + " | ".join(subjects) + " |"
    lines = [head, "|" + "---|" * (len(subjects) + 2)]
    rows = _rows(results)
    if cpu:
        rows = [(n, "cpu_us", MEASURES[n].label, "µs CPU/msg", False)
                for n in results["config"]["measures"] if MEASURES[n].kind != "rtt"]
    for name, metric, label, unit, hib in rows:
        cells = [_cell(idx.get((s, name, place)), metric) for s in subjects]
        if any(cells):
            arrow = "↑" if hib else "↓"
            lines.append(f"| {label} | {unit} {arrow} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _median(idx: dict[Any, Any], key: tuple[str, str, str], metric: str) -> float | None:
    row = idx.get(key)
    if row is None or row["status"] != "ok" or metric not in row["metrics"]:
        return None
    v = row["metrics"][metric]["median"]
    return None if math.isnan(v) else v


def ratio_table(results: dict[str, Any], place: str, mine: str) -> str:
    idx, subjects = _index(results), results["config"]["subjects"]
    others = [s for s in subjects if s not in SHMRING]
    lines = ["| measure | better is | " + " | ".join(others) + " |",
             "|" + "---|" * (len(others) + 2)]
    for name, metric, label, _unit, hib in _rows(results):
        base = _median(idx, (mine, name, place), metric)
        if base is None:
            continue
        cells = []
        for s in others:
            v = _median(idx, (s, name, place), metric)
            cells.append("" if v is None or v == 0 else f"{base / v:.2f}")
        if any(cells):
            lines.append(f"| {label} | {'>1' if hib else '<1'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    cfg, mach = results["config"], results["machine"]
    out = ["# shmring benchmark results", ""]
    out.append(f"Machine: {mach.get('cpu', '?')}, {mach['cpus']} CPUs, Linux {mach['kernel']}, "
               f"Python {mach['python']}, numpy {mach['numpy']}.  ")
    vers = ", ".join(f"{k} {v}" for k, v in mach.get("versions", {}).items())
    out.append(f"Versions: {vers}.  ")
    out.append(f"Profile: {'quick' if cfg['quick'] else 'full'}, {cfg['reps']} repetition(s) "
               "interleaved round-robin across subjects; cells are `median [min" + _DASH + "max]`.")
    out.append("")
    for s, why in results["skipped"].items():
        out.append(f"- skipped **{s}**: {why}")
    failed = [r for r in results["rows"] if r["status"] != "ok"]
    for r in failed:
        out.append(f"- **{r['subject']}** {r['measure']} {r['placement']}: {r['status']}")
    if results["skipped"] or failed:
        out.append("")
    for place in cfg["placements"]:
        out += [f"## {place}", "", absolute_table(results, place), ""]
        out += [f"Consumer CPU time per message/frame ({place}):", "",
                absolute_table(results, place, cpu=True), ""]
        for mine in SHMRING:
            if any(r["subject"] == mine and r["placement"] == place and r["status"] == "ok"
                   for r in results["rows"]):
                out += [f"Ratios {mine} / other ({place}); `better is` says which side of 1 "
                        f"favours {mine}:", "", ratio_table(results, place, mine), ""]
    out.append("Transports: " + "; ".join(f"**{k}**: {v}" for k, v in results["descriptions"].items())
               + ". Floors: **copyto**: np.copyto of the frame into 8 rotating slots, one process; "
               "**pipe** / **futex**: 64 B ping-pong blocking in read() / on a futex; "
               "**spin**: the same, busy-polled.")
    return "\n".join(out) + "\n"


def write(results: dict[str, Any], outdir: Path) -> str:
    """Write ``results.md`` and ``results.json`` into ``outdir``; return the markdown."""
    outdir.mkdir(parents=True, exist_ok=True)
    text = markdown(results)
    (outdir / "results.md").write_text(text)
    (outdir / "results.json").write_text(json.dumps(results, indent=1, allow_nan=True) + "\n")
    return text
