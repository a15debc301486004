"""A C program written from docs/format-legacy.md and shmring share the legacy bytes, both directions."""

from __future__ import annotations

import queue
import subprocess
import time
from pathlib import Path

import _legacy_children as kids
import pytest
from requires import require_program

from shmring import SharedMem

pytestmark = pytest.mark.usefixtures("shm_dir")

PEER_SOURCE = Path(__file__).parent / "c" / "legacy_peer.c"
WAIT_S = 30.0
ITEM_SIZE, ITEM_ALLOC = 8, 3


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The C peer, compiled with the machine's cc."""
    cc = require_program("gcc", "gcc")
    exe = tmp_path_factory.mktemp("cpeer") / "legacy_peer"
    build = subprocess.run([cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(exe),
                            str(PEER_SOURCE)], capture_output=True, text=True, timeout=120, check=False)
    assert build.returncode == 0, f"the C peer does not compile:\n{build.stderr}"
    return exe


def _run(peer: Path, *args: str) -> list[str]:
    done = subprocess.run([str(peer), *args], capture_output=True, text=True, timeout=WAIT_S, check=False)
    assert done.returncode == 0, f"legacy_peer {' '.join(args)} failed ({done.returncode}): {done.stderr}"
    return done.stdout.splitlines()


def _reap(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(WAIT_S)


def _line(buf: tuple[bytes, int, int, int, int]) -> str:
    data, counter, width, height, flags = buf
    return f"buf {counter} {len(data)} {width} {height} {flags} {data.hex()}"


def _python_run(mem: SharedMem, ops: list[str]) -> list[str]:
    """The C peer's `run` ops, done by shmring, printing the same lines."""
    out = []
    for op in ops:
        for _ in range(int(op[1:])):
            if op[0] == "p":
                data, width, height, flags = kids.pattern(mem.put_counter + 1, mem.item_size)
                stored = mem.put_buf(data, width, height, flags)
                out.append(f"put {mem.put_counter} {'stored' if stored else 'dropped'}")
            else:
                buf = mem.get_buf()
                out.append("empty" if buf is None else _line(buf))
    return out


def test_same_operations_give_the_same_bytes_in_c_and_python(peer: Path, tmp_path: Path) -> None:
    ops = ["p5", "g2", "p3", "g1", "p2", "g5", "p4"]  # fills, drops, wraps head and tail, drains
    c_file, py_file = tmp_path / "smem_c", tmp_path / "smem_py"
    _run(peer, "create", str(c_file), str(ITEM_SIZE), str(ITEM_ALLOC))
    c_lines = _run(peer, "run", str(c_file), *ops)
    with SharedMem.create(py_file, ITEM_SIZE, ITEM_ALLOC) as mem:
        py_lines = _python_run(mem, ops)
    assert py_lines == c_lines
    assert any("dropped" in line for line in c_lines) and "empty" in c_lines
    assert py_file.read_bytes() == c_file.read_bytes(), "C and Python left different bytes"


def test_python_produces_c_consumes(peer: Path, tmp_path: Path) -> None:
    path = tmp_path / "smem_py2c"
    with SharedMem.create(path, ITEM_SIZE, ITEM_ALLOC) as mem:
        expected = _python_run(mem, ["p4"])
        c_lines = _run(peer, "run", str(path), "g4")
        assert mem.header().count == 0, "the C consumer's gets are visible to shmring"
        assert mem.get_buf() is None
    assert expected[-1] == "put 4 dropped" and c_lines[3] == "empty"
    for k, line in enumerate(c_lines[:3], start=1):
        data, width, height, flags = kids.pattern(k, ITEM_SIZE)
        assert line == _line((data[:ITEM_SIZE], k, width, height, flags))


def test_c_created_file_opens_in_python(peer: Path, tmp_path: Path) -> None:
    path = tmp_path / "smem_cinit"
    _run(peer, "create", str(path), "100", "5")
    c_lines = _run(peer, "run", str(path), "p2")
    with SharedMem.open(path) as mem:
        assert (mem.item_size, mem.item_alloc) == (100, 5)
        got = [mem.get_buf(), mem.get_buf(), mem.get_buf()]
    assert c_lines == ["put 1 stored", "put 2 stored"]
    assert got[2] is None
    for k, buf in enumerate(got[:2], start=1):
        data, width, height, flags = kids.pattern(k, 100)
        assert buf == (data, k, width, height, flags)


def test_c_producer_beside_python_consumer_gaps_equal_drops(peer: Path, tmp_path: Path) -> None:
    path = tmp_path / "smem_c2py"
    total = 2000
    with SharedMem.create(path, 64, 4) as mem:
        proc = subprocess.Popen([str(peer), "produce", str(path), str(total)], stdout=subprocess.PIPE, text=True)
        try:
            counters: list[int] = []
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                # The C producer cannot signal, so this wait is a bounded poll (poll_interval).
                buf = mem.get_buf(timeout=1.0, poll_interval=0.001)
                if buf is not None and buf.flags == kids.END_FLAGS:
                    break
                if buf is not None:
                    counters.append(buf.put_counter)
                    assert buf.data == kids.pattern(buf.put_counter, 64)[0][:64]
            else:
                pytest.fail(f"no end buffer from the C producer within {WAIT_S} s")
            out, _ = proc.communicate(timeout=WAIT_S)
        finally:
            _reap(proc)
    dropped = int(out.split()[-1])
    end_counter = buf.put_counter
    missing = sum(b - a - 1 for a, b in zip([0, *counters], [*counters, end_counter], strict=True))
    assert missing == dropped, f"C dropped {dropped}, Python saw {missing} missing of {end_counter}"


def test_python_producer_beside_c_consumer_gaps_equal_drops(peer: Path, tmp_path: Path) -> None:
    path = tmp_path / "smem_py2c_live"
    with SharedMem.create(path, 64, 4) as mem:
        proc = subprocess.Popen([str(peer), "consume", str(path), str(int(WAIT_S * 1000))],
                                stdout=subprocess.PIPE, text=True)
        try:
            dropped = 0
            for k in range(1, 1001):
                data, width, height, flags = kids.pattern(k, 64)
                dropped += not mem.put_buf(data, width, height, flags)
            deadline = time.monotonic() + WAIT_S
            while not mem.put_buf(b"\0", 0, 0, kids.END_FLAGS):
                dropped += 1
                assert time.monotonic() < deadline, "the C consumer stopped taking buffers"
                time.sleep(0.0002)  # the C consumer cannot signal freed space: only polling is possible
            out, _ = proc.communicate(timeout=WAIT_S)
        finally:
            _reap(proc)
    assert proc.returncode == 0, "the C consumer never saw the end buffer"
    lines = [line.split() for line in out.splitlines()]
    counters = [int(fields[1]) for fields in lines]
    for fields in lines[:-1]:
        assert bytes.fromhex(fields[6]) == kids.pattern(int(fields[1]), 64)[0][:64]
    missing = sum(b - a - 1 for a, b in zip([0, *counters[:-1]], counters, strict=True))
    assert missing == dropped, f"Python dropped {dropped}, the C consumer saw {missing} missing"


def test_grabber_restart_is_followed_by_a_live_python_consumer(peer: Path, tmp_path: Path) -> None:
    path = tmp_path / "smem_grabber"
    _run(peer, "create", str(path), str(ITEM_SIZE), str(ITEM_ALLOC))
    got: queue.Queue[tuple[bytes, int, int, int, int]] = queue.Queue()
    with SharedMem.open(path) as mem:
        listener = mem.on_buf(got.put, poll_interval=0.01)
        try:
            _run(peer, "run", str(path), "p1")
            assert got.get(timeout=WAIT_S).put_counter == 1
            # The C++ init(): delete the file, create a new one (other geometry), start putting.
            _run(peer, "create", str(path), "32", "2")
            _run(peer, "run", str(path), "p1")
            buf = got.get(timeout=WAIT_S)
        finally:
            listener.stop()
        assert buf == (kids.pattern(1, 32)[0], 1, 1, 2, 0x12345678 ^ 1)
        assert mem.reattached == 1 and mem.item_size == 32
