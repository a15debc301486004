"""libshmring (C) and shmring (Python) share native rings: frames both ways, every policy, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import _c_frames as frames
import _libshmring as lib
import pytest

import shmring

pytestmark = pytest.mark.usefixtures("shm_dir")

N = 10_000
WAIT_S = 60.0
SLOTS = 16


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lib.build_peer(tmp_path_factory.mktemp("ringpeer"))


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Peer processes started by a test; every one is killed (if still running) and reaped."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(WAIT_S)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def _start(procs: list[subprocess.Popen[str]], peer: Path, *args: str,
           env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    proc = subprocess.Popen([str(peer), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=None if env is None else {**os.environ, **env})
    procs.append(proc)
    return proc


def _expect_line(proc: subprocess.Popen[str], word: str) -> None:
    line = proc.stdout.readline() if proc.stdout else ""
    if line.strip() != word:
        proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
        pytest.fail(f"ring_peer said {line!r} instead of {word!r}; stderr: {err}")


def _summary(proc: subprocess.Popen[str]) -> dict[str, int]:
    out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, f"ring_peer failed ({proc.returncode}): {out} {err}"
    words = out.split()
    return {words[k]: int(words[k + 1]) for k in range(0, len(words) - 1, 2) if words[k + 1].isdigit()}


# -- C writer -> Python readers -------------------------------------------------------

class _Tally:
    """What one Python reader received."""

    def __init__(self, reader: shmring.Reader, view: bool) -> None:
        self.reader, self.view = reader, view
        self.seqs: list[int] = []
        self.lost: list[int] = []
        self.indexes: list[int] = []
        self.problems: list[str] = []
        self.overwritten_views = 0
        self.final = False

    def take(self, timeout: float | None) -> bool:
        """Read one frame if there is one (waiting up to timeout, None: not at all)."""
        if timeout is None:
            frame = self.reader.try_get(view=self.view)
        else:
            try:
                frame = self.reader.get(timeout=timeout, view=self.view)
            except shmring.WaitTimeout:
                return False
        if frame is None:
            return False
        with frame:
            problem = frames.problem(frame.data, frame.meta, frame.flags)
            # Under overwrite a view may be overwritten while it is checked; valid()
            # (the seqlock, looked at after the check) says so, and then it proves nothing.
            if problem and not (self.view and not frame.valid()):
                self.problems.append(problem)
            self.overwritten_views += bool(problem) and self.view and not frame.valid()
            self.seqs.append(frame.seq)
            self.lost.append(frame.lost)
            self.indexes.append(frame.meta.get("i", -1))
            self.final |= frame.flags == frames.FINAL
        return True


def _read_all(tallies: list[_Tally], writer: subprocess.Popen[str], queue: bool) -> None:
    """Read round-robin until the FINAL frame (queue: anyone's, then drain), within WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not any(t.final for t in tallies) if queue else not all(t.final for t in tallies):
        assert time.monotonic() < deadline, f"no FINAL frame within {WAIT_S} s (writer rc {writer.poll()})"
        active = [t for t in tallies if not t.final]
        if not any([t.take(None) for t in active]):
            active[0].take(0.1)
    if queue:  # the writer is done once FINAL is committed: what is left is in the ring now
        while any([t.take(None) for t in tallies]):
            pass


def _ring(name: str, policy: str) -> shmring.Ring:
    return shmring.Ring.create(name, slots=SLOTS, slot_bytes=frames.SLOT_BYTES, meta_bytes=256, policy=policy)


@pytest.mark.parametrize("policy", ["overwrite", "block", "drop"])
def test_c_writer_python_readers(peer: Path, procs: list[subprocess.Popen[str]], unique_name: str,
                                 policy: str) -> None:
    with _ring(unique_name, policy) as ring:
        tallies = [_Tally(ring.reader(name="copy"), view=False), _Tally(ring.reader(name="view"), view=True)]
        writer = _start(procs, peer, "write", unique_name, str(N), "30")
        _read_all(tallies, writer, queue=False)
        done = _summary(writer)
        for t in tallies:
            assert not t.problems, f"{len(t.problems)} frames not intact, first: {t.problems[0]}"
            assert t.seqs == sorted(set(t.seqs)), "frames arrive once each, in order"
            assert t.seqs[-1] == done["written"] - 1, "the last frame read is the last written"
            gaps = [s - p - 1 for p, s in zip([-1, *t.seqs], t.seqs, strict=False)]
            assert t.lost == gaps, "each frame reports exactly the frames missed before it"
            assert t.reader.lost == sum(t.lost) and len(t.seqs) + t.reader.lost == done["written"]
            if policy != "overwrite":
                assert t.reader.lost == 0 and len(t.seqs) == done["written"], f"{policy} loses nothing"
                assert t.overwritten_views == 0, f"{policy}: a view pins its slot until released"
            if policy == "drop":
                assert t.indexes == sorted(t.indexes), "drop keeps the order of what it stored"
            else:
                assert t.indexes == t.seqs, "frame i is seq i when nothing is dropped"
        if policy == "block":
            assert done["written"] == N and done["dropped"] == 0
        assert done["written"] + done["dropped"] >= N
        assert ring.info().write_seq == done["written"]


def test_a_c_writer_streaming_every_payload_delivers_each_byte(peer: Path, procs: list[subprocess.Popen[str]],
                                                             unique_name: str) -> None:
    # SHMRING_STREAM_BYTES=1 writes every payload with streaming stores (docs/c.md, "Environment"):
    # the peer's frames of 24 to 4,000 bytes cover a copy's aligned body and its odd tail.
    with _ring(unique_name, "block") as ring:
        tally = _Tally(ring.reader(name="copy"), view=False)
        writer = _start(procs, peer, "write", unique_name, "2000", "30", env={"SHMRING_STREAM_BYTES": "1"})
        _read_all([tally], writer, queue=False)
        done = _summary(writer)
    assert not tally.problems, f"{len(tally.problems)} frames not intact, first: {tally.problems[0]}"
    assert tally.seqs == list(range(2000)) and done["written"] == 2000


def test_c_writer_python_queue_readers(peer: Path, procs: list[subprocess.Popen[str]], unique_name: str) -> None:
    with _ring(unique_name, "block") as ring:
        tallies = [_Tally(ring.reader(queue=True, name=f"q{k}"), view=k == 1) for k in range(2)]
        writer = _start(procs, peer, "write", unique_name, str(N), "30")
        _read_all(tallies, writer, queue=True)
        assert _summary(writer)["written"] == N
        for t in tallies:
            assert not t.problems, t.problems[:1]
            assert t.seqs == sorted(t.seqs) and not any(t.lost)
        assert sorted(tallies[0].seqs + tallies[1].seqs) == list(range(N)), "each frame to exactly one reader"


# -- Python writer -> C readers -------------------------------------------------------------

def _python_writes(ring: shmring.Ring, finals: int) -> tuple[int, int]:
    """Put N patterned frames (the last `finals` flagged FINAL); (written, dropped)."""
    written = dropped = 0
    with ring.writer() as w:
        for i in range(N + finals - 1):
            last = i >= N - 1
            while True:
                seq = w.put(frames.array(i), meta=frames.meta(i), flags=frames.FINAL if last else i, timeout=30)
                if seq is not None or not last:  # a FINAL frame must get through: retry it under drop
                    break
            written += seq is not None
            dropped += seq is None
    return written, dropped


@pytest.mark.parametrize("policy", ["overwrite", "block", "drop"])
def test_python_writer_c_readers(peer: Path, procs: list[subprocess.Popen[str]], unique_name: str,
                                 policy: str) -> None:
    with _ring(unique_name, policy) as ring:
        readers = [_start(procs, peer, "read", unique_name, "0") for _ in range(2)]
        for proc in readers:
            _expect_line(proc, "ready")
        written, dropped = _python_writes(ring, finals=1)
        for proc in readers:
            got = _summary(proc)
            assert got["bad"] == 0 and got["gaps"] == 0, f"C reader saw broken frames or miscounted: {got}"
            assert got["last"] == written - 1 and got["received"] + got["lost"] == written, got
            assert got["total_lost"] == got["lost"], got
            if policy != "overwrite":
                assert got["lost"] == 0 and got["received"] == written, f"{policy} loses nothing: {got}"
        if policy == "block":
            assert (written, dropped) == (N, 0)


def test_python_writer_c_queue_readers(peer: Path, procs: list[subprocess.Popen[str]], unique_name: str) -> None:
    with _ring(unique_name, "block") as ring:
        readers = [_start(procs, peer, "read", unique_name, "1") for _ in range(2)]
        for proc in readers:
            _expect_line(proc, "ready")
        # one FINAL per reader: a reader stops at its first, so the second goes to the other
        written, _ = _python_writes(ring, finals=2)
        got = [_summary(proc) for proc in readers]
        assert all(g["bad"] == 0 and g["lost"] == 0 for g in got), got
        assert sum(g["received"] for g in got) == written == N + 1, got


def test_c_and_python_shared_writers_take_turns(peer: Path, procs: list[subprocess.Popen[str]],
                                                unique_name: str) -> None:
    each = 1500
    with shmring.Ring.create(unique_name, slots=4096, slot_bytes=frames.SLOT_BYTES, meta_bytes=256) as ring:
        reader = ring.reader(name="both")
        with ring.writer(shared=True) as w:
            c_writer = _start(procs, peer, "write-shared", unique_name, "0", str(each))
            for i in range(each, 2 * each):  # while the C writer puts frames 0..each-1
                w.put(frames.array(i), meta=frames.meta(i), flags=i)
            assert _summary(c_writer)["written"] == each
        got = []
        while (frame := reader.try_get()) is not None:
            assert frames.problem(frame.data, frame.meta, frame.flags) is None
            got.append((frame.seq, frame.meta["i"]))
    assert [seq for seq, _ in got] == list(range(2 * each)), "one frame per seq: the put lock serialised them"
    indexes = [i for _, i in got]
    assert sorted(indexes) == list(range(2 * each))
    assert [i for i in indexes if i < each] == list(range(each)), "each writer's frames keep their order"


def test_c_writer_honours_a_python_schema(peer: Path, unique_name: str) -> None:
    typestr, shape = frames.KINDS[1]
    with shmring.Ring.create(unique_name, slots=4, dtype=typestr, shape=shape, meta_bytes=256) as ring:
        reader = ring.reader()
        wrong = subprocess.run([str(peer), "write-shared", unique_name, "0", "1"], capture_output=True, text=True,
                               timeout=WAIT_S, check=False)  # frame 0 is |u1 (1000,)
        code = lib.error_codes()["SHMRING_ESCHEMA"]
        assert wrong.returncode == 1 and wrong.stdout.startswith(f"error put {code} "), wrong.stdout
        assert ring.info().write_seq == 0, "nothing published"
        subprocess.run([str(peer), "write-shared", unique_name, "1", "1"], check=True, timeout=WAIT_S,
                       capture_output=True)  # frame 1 is exactly the schema
        frame = reader.get(timeout=WAIT_S)
        assert frame.seq == 0 and frames.problem(frame.data, frame.meta, frame.flags) is None


# -- crashes --------------------------------------------------------------------------------

def test_c_writer_killed_mid_reserve_publishes_nothing(peer: Path, procs: list[subprocess.Popen[str]],
                                                       unique_name: str) -> None:
    good = 5
    with _ring(unique_name, "overwrite") as ring:
        reader = ring.reader(name="watch")
        c_writer = _start(procs, peer, "hang-in-reserve", unique_name, str(good))
        _expect_line(c_writer, "reserved")
        c_writer.send_signal(signal.SIGKILL)
        c_writer.wait(WAIT_S)
        seqs = []
        for _ in range(good):
            frame = reader.get(timeout=WAIT_S)
            assert frames.problem(frame.data, frame.meta, frame.flags) is None
            seqs.append(frame.seq)
        assert seqs == list(range(good))
        assert reader.try_get() is None, "the killed writer's partial frame must never be read"
        assert ring.info().write_seq == good
        present = subprocess.run([str(peer), "read-present", unique_name], capture_output=True, text=True,
                                 timeout=WAIT_S, check=True).stdout.split()
        assert present == ["seqs", *map(str, range(good)), "end", str(lib.error_codes()["SHMRING_ETIMEDOUT"])], (
            f"a C reader sees exactly the committed frames: {present}")
        with ring.writer() as w:  # the next writer reuses the abandoned slot
            assert w.put(frames.array(good), meta=frames.meta(good), flags=good) == good
        frame = reader.get(timeout=WAIT_S)
        assert frame.seq == good and frames.problem(frame.data, frame.meta, frame.flags) is None


def test_dead_c_reader_is_reaped_under_block(peer: Path, procs: list[subprocess.Popen[str]],
                                             unique_name: str) -> None:
    with _ring(unique_name, "block") as ring:
        c_reader = _start(procs, peer, "reader-hang", unique_name)
        _expect_line(c_reader, "attached")
        assert [(r.name, r.alive) for r in ring.readers()] == [("doomed", True)]
        c_reader.send_signal(signal.SIGKILL)
        c_reader.wait(WAIT_S)
        with ring.writer() as w:
            seqs = [w.put(frames.array(i), meta=frames.meta(i), timeout=WAIT_S) for i in range(3 * SLOTS)]
        assert seqs == list(range(3 * SLOTS)), "the writer goes on past the dead reader"
        assert ring.readers() == [], "the dead reader's entry was freed"
