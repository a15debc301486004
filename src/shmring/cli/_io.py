"""``shmring put | get``: feed frames from files into a ring, drain frames to files or JSON lines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click
import numpy as np

from .. import Card, Frame, Meta, Ring, Writer
from . import _files
from . import _render as R
from ._app import cli
from ._options import parse_dtype, parse_meta, parse_shape, ring_argument

#: Metadata that marks a frame as UTF-8 text (``put --text``); ``get`` prints such frames as text.
TEXT_KEY, TEXT_VALUE = "content_type", "text/plain; charset=utf-8"


@cli.command()
@click.argument("name")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--text", "texts", multiple=True, help="Put this UTF-8 text as a frame (repeatable).")
@click.option("--dtype", help="Raw files: item type (default: the ring's, else uint8).")
@click.option("--shape", help="Raw files: WIDTHxHEIGHT[x...] (default: the ring's, else 1-D).")
@click.option("--meta", "meta_items", multiple=True, metavar="KEY=VALUE",
              help="Metadata for every frame (repeatable; numbers and true/false are typed).")
@click.option("--flags", default=0, type=click.IntRange(0, 0xFFFFFFFF), help="32-bit user flags.")
@click.option("--timeout", type=click.FloatRange(min=0), help="Block policy: seconds to wait for room.")
@click.option("--shared", is_flag=True, help="Write beside other shared writers.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per frame put.")
def put(name: str, files: tuple[Path, ...], texts: tuple[str, ...], dtype: str | None, shape: str | None,
        meta_items: tuple[str, ...], flags: int, timeout: float | None, shared: bool, as_json: bool) -> None:
    """Put frames from FILES (.npy, .fits, .png/.jpg, or raw bytes) and --text messages into ring NAME."""
    if not files and not texts:
        raise click.UsageError("nothing to put: give FILES and/or --text")
    extra = parse_meta(meta_items)
    with Ring.open(ring_argument(name)) as ring, ring.writer(shared=shared) as writer:
        raw_dtype = parse_dtype(dtype, "--dtype") if dtype else ring.dtype
        raw_shape = parse_shape(shape, "--shape") if shape else ring.shape
        items = [(str(p), *_files.load(p, raw_dtype, raw_shape)) for p in files]
        items += [("--text", np.frombuffer(t.encode(), dtype=np.uint8), Meta([Card(TEXT_KEY, TEXT_VALUE)]))
                  for t in texts]
        dropped = sum(_put_one(writer, source, data, _with(meta, extra), flags, timeout, as_json)
                      for source, data, meta in items)
    if dropped:
        raise click.ClickException(f"ring {name!r} is full (drop policy): {dropped} of {len(items)} frames dropped")


def _with(meta: Meta, extra: dict[str, Any]) -> Meta:
    """A file's metadata cards with the --meta values set (replacing a card's value, keeping its comment)."""
    meta.update(extra)
    return meta


def _put_one(writer: Writer, source: str, data: np.ndarray[Any, Any], meta: Meta, flags: int,
             timeout: float | None, as_json: bool) -> int:
    """Put one frame and report it; returns 1 if the ring dropped it, else 0."""
    seq = writer.put(data, meta=meta, flags=flags, timeout=timeout)
    if as_json:
        R.echo_json({"source": source, "seq": seq, "shape": list(data.shape), "dtype": data.dtype.str,
                     "dropped": seq is None})
    elif seq is None:
        R.note(f"dropped {source}: the ring is full")
    else:
        click.echo(f"put {source} as frame {seq}: {_describe(data)}")
    return int(seq is None)


def _describe(data: np.ndarray[Any, Any]) -> str:
    shape = "x".join(str(d) for d in reversed(data.shape)) or "scalar"
    return f"{shape} {data.dtype} ({R.nbytes(data.nbytes)})"


# -- get -----------------------------------------------------------------------------------------


@cli.command()
@click.argument("name")
@click.option("-n", "--count", default=1, show_default=True, type=click.IntRange(min=1), help="Frames to get.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write frames to this file (.npy, .fits, .png, other: raw); with -n > 1, "
                   "'{seq}' in the name is the frame number (else -SEQ is added).")
@click.option("--timeout", type=click.FloatRange(min=0),
              help="Give up (exit 1) when no frame arrives within this many seconds (default: wait).")
@click.option("--start", default="latest", show_default=True, type=click.Choice(["latest", "oldest", "next"]),
              help="First frame: the newest in the ring, the oldest still there, or the next one written.")
@click.option("--queue", is_flag=True, help="Take frames as a queue reader (shared with other queue readers).")
@click.option("--writer-gone", default="wait", show_default=True, type=click.Choice(["wait", "raise"]),
              help="When every frame is read and the writer is gone: keep waiting, or fail (exit 1) at once.")
@click.option("--json", "as_json", is_flag=True, help="With -o: print JSON lines instead of text.")
def get(name: str, count: int, output: Path | None, timeout: float | None, start: str, queue: bool,
        writer_gone: str, as_json: bool) -> None:
    """Get frames from ring NAME: JSON lines on stdout (seq, timestamp, shape, dtype, meta, lost), or files with -o."""
    with Ring.open(ring_argument(name)) as ring, ring.reader(start=start, queue=queue, name="cli-get") as reader:
        for _ in range(count):
            frame = reader.get(timeout=timeout, writer_gone=writer_gone)
            _show(frame, output, count, as_json, ring.keywords)


def _show(frame: Frame, output: Path | None, count: int, as_json: bool, keywords: Meta) -> None:
    record = frame_record(frame)
    if output is None:
        R.echo_json(record)
        return
    path = _output_path(output, frame.seq, count)
    _files.save(path, frame, keywords.cards)
    if as_json:
        R.echo_json({**record, "path": str(path)})
    else:
        click.echo(f"frame {frame.seq} -> {path}: {_describe(frame.data)}, lost {frame.lost}")


def _output_path(output: Path, seq: int, count: int) -> Path:
    if "{seq}" in output.name:
        return output.with_name(output.name.replace("{seq}", str(seq)))
    return output if count == 1 else output.with_name(f"{output.stem}-{seq}{output.suffix}")


def frame_record(frame: Frame) -> dict[str, Any]:
    """What ``get`` prints for a frame (no pixels: a summary a pipeline can route on)."""
    when = dt.datetime.fromtimestamp(frame.timestamp_ns / 1e9, tz=dt.timezone.utc)
    data = frame.data
    record: dict[str, Any] = {
        "seq": frame.seq, "timestamp_ns": frame.timestamp_ns,
        "timestamp": when.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "shape": list(data.shape), "dtype": data.dtype.str, "bytes": data.nbytes,
        "flags": frame.flags, "meta": frame.meta, "lost": frame.lost,
    }
    if any(card.comment or card.keyword in ("COMMENT", "HISTORY", "") for card in frame.cards):
        record["cards"] = [list(card) for card in frame.cards]  # what the meta dict cannot show
    if frame.meta.get(TEXT_KEY) == TEXT_VALUE and data.dtype == np.uint8:
        record["text"] = data.tobytes().decode("utf-8", "replace")
    return record
