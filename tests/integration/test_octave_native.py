"""Native rings between Python and a real Octave process: values, class, orientation, metadata, seq.

The column-major rule under test (docs/matlab.md): a frame numpy holds with
shape (H, W) is an H-by-W matrix in MATLAB with ``A(i, j) == frame[i-1, j-1]``,
and the other way round. Every image here is non-square and non-symmetric,
so a transposed or mirrored copy cannot pass.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import _octave as octave
import numpy as np
import pytest

from shmring import Ring

pytestmark = pytest.mark.usefixtures("shm_dir")


def _frames() -> list[tuple[np.ndarray[Any, Any], dict[str, Any]]]:
    """Frames of several dtypes; element [i, j, ...] is a value no other position has."""
    image = np.fromfunction(lambda r, c: 100 * r + c, (4, 7)).astype(np.uint16)  # height 4, width 7
    return [
        (image, {"EXPTIME": 0.25, "OBJECT": "M31", "FRAME": 1}),
        (np.arange(15, dtype=np.uint8).reshape(3, 5), {"OBJECT": "bytes"}),
        ((np.arange(6, dtype=np.float32) - 2.5).reshape(2, 3), {}),
        (np.array([-5, 0, 7, 1 << 30, -(1 << 30)], dtype=np.int32), {"ONED": True}),
        (np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 8, {"CUBE": 3}),
        (np.array([[True, False, False], [True, True, False]]), {}),
    ]


MATLAB_CLASS = {"uint16": "uint16", "uint8": "uint8", "float32": "single", "int32": "int32",
                "float64": "double", "bool": "logical"}

OCTAVE_READS = """
ring = shmring.Ring.open('{name}');
r = shmring.Reader(ring, 'Start', 'oldest');
for k = 1:{count}
    [A, info] = get(r, 10);
    fprintf('R:frame%d %s\\n', k, jsonencode(struct('value', A, 'class', class(A), 'size', size(A), ...
        'seq', info.seq, 'lost', info.lost, 'flags', info.flags, 'meta', info.meta, 'dtype', info.dtype)));
end
img = get(shmring.Reader(ring, 'Start', 'oldest'), 10);
fprintf('R:corner %s\\n', jsonencode([img(1, 1), img(1, 7), img(4, 1), img(4, 7)]));
close(r); close(ring);
"""


def test_python_writer_octave_reader(tmp_path: Path, unique_name: str) -> None:
    frames = _frames()
    with Ring.create(unique_name, slots=8, slot_bytes=4096) as ring, ring.writer() as w:
        for k, (data, meta) in enumerate(frames):
            w.put(data, meta=meta, flags=k + 10)
        got = octave.run(OCTAVE_READS.format(name=unique_name, count=len(frames)), tmp_path)
    for k, (data, meta) in enumerate(frames):
        frame = got[f"frame{k + 1}"]
        expected_size = list(data.shape) if data.ndim >= 2 else [data.size, 1]
        assert frame["size"] == expected_size, f"frame {k}: {data.dtype} {data.shape} came back as {frame['size']}"
        assert frame["class"] == MATLAB_CLASS[data.dtype.name], f"frame {k}: class {frame['class']} for {data.dtype}"
        values = np.array(frame["value"]).reshape(data.shape) if data.ndim == 1 else np.array(frame["value"])
        np.testing.assert_array_equal(values, data, err_msg=f"frame {k} ({data.dtype} {data.shape}) differs")
        assert (frame["seq"], frame["lost"], frame["flags"]) == (k, 0, k + 10)
        assert (frame["meta"] or {}) == meta, f"frame {k}: metadata {frame['meta']} != {meta}"
    # A(i, j) == frame[i-1, j-1]: the four corners of the 4x7 image, as imagesc would place them.
    assert got["corner"] == [0, 6, 300, 306]


OCTAVE_WRITES = """
ring = shmring.Ring.open('{name}');
w = shmring.Writer(ring);
[c, r] = meshgrid(0:6, 0:3);
put(w, uint16(100 * r + c), struct('EXPTIME', 0.25, 'OBJECT', 'M31'), 'Flags', 5);
put(w, reshape(single(1:12), 3, 4) / 4);
put(w, int16([-3; 4; 5]));
put(w, reshape(int64(1:24), 2, 3, 4), ...
    '[["EXPTIME", 1.5, "seconds"], ["N", 2, ""], ["ESO DET DIT", 0.5, ""], ["HISTORY", "dark subtracted", ""]]');
close(w); close(ring);
own = shmring.Ring.open('{name}');
back = shmring.Reader(own, 'Start', 'oldest');
for k = 1:4, [A, info] = get(back, 10); end
fprintf('R:cards %s\\n', jsonencode(struct('meta', info.meta, 'comments', info.comments)));
behind = shmring.Reader(own, 'Start', 'oldest');
[A, info] = latest(behind, 10);
fprintf('R:latest %s\\n', jsonencode(struct('seq', info.seq, 'lost', info.lost, 'size', size(A), ...
                                        'lost_total', behind.Lost)));
close(behind); close(back); close(own);
"""


def test_octave_writer_python_reader(tmp_path: Path, unique_name: str) -> None:
    with Ring.create(unique_name, slots=8, slot_bytes=4096) as ring, ring.reader(start="next") as r:
        got = octave.run(OCTAVE_WRITES.format(name=unique_name), tmp_path)
        frames = [r.get(timeout=10.0) for _ in range(4)]
    image = frames[0].data
    assert image.dtype == np.uint16 and image.shape == (4, 7), f"{image.dtype} {image.shape}"
    np.testing.assert_array_equal(image, np.fromfunction(lambda r, c: 100 * r + c, (4, 7)).astype(np.uint16))
    assert frames[0].meta == {"EXPTIME": 0.25, "OBJECT": "M31"} and frames[0].flags == 5
    # reshape(1:12, 3, 4) fills columns: MATLAB's A(i, j) = i + 3 (j - 1), the same at [i-1, j-1] in numpy.
    expected = (np.arange(1, 13, dtype=np.float32).reshape(4, 3).T) / 4
    assert frames[1].data.dtype == np.float32
    np.testing.assert_array_equal(frames[1].data, expected)
    assert frames[2].data.dtype == np.int16 and frames[2].data.shape == (3, 1)
    assert frames[2].data.ravel().tolist() == [-3, 4, 5]
    cube = frames[3].data
    assert cube.dtype == np.int64 and cube.shape == (2, 3, 4)
    assert cube[1, 2, 3] == 24 and cube[1, 0, 0] == 2 and cube[0, 1, 0] == 3, "MATLAB A(i,j,k) is cube[i-1,j-1,k-1]"
    assert [f.seq for f in frames] == [0, 1, 2, 3]
    # Card-form metadata (docs/format.md): comments and HISTORY survive both ways.
    assert frames[3].meta.comment("EXPTIME") == "seconds" and frames[3].meta["ESO DET DIT"] == 0.5
    assert [c[1] for c in frames[3].cards if c[0] == "HISTORY"] == ["dark subtracted"]
    # latest() skips the backlog of a reader that starts at the oldest frame, counting it as lost.
    assert got["latest"] == {"seq": 3, "lost": 3, "size": [2, 3, 4], "lost_total": 3}
    assert got["cards"] == {"meta": {"EXPTIME": 1.5, "N": 2, "ESO_DET_DIT": 0.5, "HISTORY": ["dark subtracted"]},
                            "comments": {"EXPTIME": "seconds"}}


def test_readme_matlab_example_prints_what_it_says(tmp_path: Path) -> None:
    readme = (octave.ROOT / "README.md").read_text()
    block = re.search(r"```matlab\n(.*?)```", readme, re.S)
    assert block is not None, "README.md has no matlab example"
    said = re.search(r"It prints `([^`]*)`", readme[block.end():])
    assert said is not None, "README.md does not say what the matlab example prints"
    body = block.group(1).replace("addpath('matlab');", "")  # the helper puts matlab/ on the path
    assert said.group(1) in octave.run(body, tmp_path)["lines"]


OCTAVE_READS_CARDS = """
r = shmring.Reader(shmring.Ring.open('{name}'), 'Start', 'oldest');
[A, info] = get(r, 10);
fprintf('R:cards %s\\n', jsonencode(struct('meta', info.meta, 'comments', info.comments)));
"""


def test_fits_cards_from_python_reach_octave(tmp_path: Path, unique_name: str) -> None:
    cards = [("EXPTIME", 2.5, "exposure time (s)"), ("ESO DET DIT", 0.001, ""), ("OBJECT", "M 31"),
             ("COMMENT", "taken on the 1 m telescope"), ("HISTORY", "dark subtracted"), ("HISTORY", "flat fielded")]
    with Ring.create(unique_name, slots=4, slot_bytes=4096) as ring, ring.writer() as w:
        w.put(np.zeros((2, 3), np.uint16), meta=cards)
        got = octave.run(OCTAVE_READS_CARDS.format(name=unique_name), tmp_path)
    assert got["cards"] == {
        "meta": {"EXPTIME": 2.5, "ESO_DET_DIT": 0.001, "OBJECT": "M 31", "COMMENT": ["taken on the 1 m telescope"],
                 "HISTORY": ["dark subtracted", "flat fielded"]},
        "comments": {"EXPTIME": "exposure time (s)"}}, got["cards"]
