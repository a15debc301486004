"""The C examples (README's C blocks, examples/c/) build with `make -C c` and work with Python as they say."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import _libshmring as lib
import numpy as np
import pytest
from requires import require_program

import shmring

pytestmark = pytest.mark.usefixtures("shm_dir")

README = lib.ROOT / "README.md"
EXAMPLES = lib.C_DIR / "build" / "examples"
WAIT_S = 60.0


def _c_blocks() -> list[str]:
    return re.findall(r"```c\n(.*?)```", README.read_text(), re.S)


def _compile(source: str, exe: Path) -> Path:
    cc = require_program("gcc", "gcc")
    src = exe.with_suffix(".c")
    src.write_text(source)
    done = subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{lib.C_DIR / 'include'}", str(src),
                           str(lib.build_library()), "-o", str(exe)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, f"README C block does not compile:\n{done.stderr}"
    return exe


@pytest.fixture(scope="module")
def examples() -> Path:
    done = lib.make("examples")
    assert done.returncode == 0, f"make -C c examples failed:\n{done.stdout}\n{done.stderr}"
    return EXAMPLES


def test_readme_blocks_are_short_and_run(tmp_path: Path, shm_dir: Path) -> None:
    writer_src, reader_src = _c_blocks()
    assert len(writer_src.splitlines()) < 15 and len(reader_src.splitlines()) < 15, "README promises < 15 lines"
    writer, reader = _compile(writer_src, tmp_path / "writer"), _compile(reader_src, tmp_path / "reader")
    subprocess.run([str(writer)], check=True, timeout=WAIT_S)
    with shmring.Ring.open("cam0") as ring:  # Python reads what the C writer wrote
        first = ring.reader(start="oldest").get(timeout=0)
        assert first.data.shape == (480, 640) and first.meta == {"EXPTIME": 0.0}
    out = subprocess.run([str(reader)], capture_output=True, text=True, check=True, timeout=WAIT_S).stdout
    lines = out.splitlines()
    assert lines[0] == 'frame 0 <u2 480x640 lost 0 {"EXPTIME":0.0}', "as the README says it prints"
    assert [line.split()[1] for line in lines] == [str(k) for k in range(8)]
    assert not (shm_dir / "cam0").exists(), "the reader block unlinks the ring"


def test_grabber_frames_reach_python_intact(examples: Path, unique_name: str) -> None:
    width, height, count = 64, 32, 40
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=width * height * 2, meta_bytes=1024,
                             policy="block") as ring:
        reader = ring.reader(name="check")
        grabber = subprocess.Popen([str(examples / "grabber"), unique_name, str(count), "0", str(width),
                                    str(height)], stdout=subprocess.PIPE, text=True)
        try:
            y, x = np.mgrid[0:height, 0:width]
            for k in range(count):
                frame = reader.get(timeout=WAIT_S)
                assert frame.seq == k and frame.lost == 0
                assert frame.meta == {"FRAME": k, "EXPTIME": 0.0, "INSTRUME": "synthetic"}
                assert np.array_equal(frame.data, ((x + y + k) & 0xFFFF).astype("<u2")), f"frame {k} intact"
            out, _ = grabber.communicate(timeout=WAIT_S)
        finally:
            if grabber.poll() is None:
                grabber.kill()
            grabber.wait(WAIT_S)
            if grabber.stdout:
                grabber.stdout.close()
        assert grabber.returncode == 0 and f"{count} frames" in out


def test_c_reader_example_prints_python_frames(examples: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=4, slot_bytes=64) as ring, ring.writer() as w:
        for k in range(3):
            w.put(np.arange(6, dtype="<i4").reshape(2, 3) + k, meta={"k": k}, flags=k)
        out = subprocess.run([str(examples / "reader"), unique_name, "0.05", "oldest"], capture_output=True,
                             text=True, timeout=WAIT_S, check=True).stdout.splitlines()
    assert out == [f'frame {k}: <i4 2x3, 24 bytes, lost 0, meta {{"k":{k}}}' for k in range(3)] + [
        "reader: 3 frames, 0 lost"]
