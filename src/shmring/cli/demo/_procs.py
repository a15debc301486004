"""The demo's child processes: the synthetic camera and the statistics readers.

They are started with the ``spawn`` method (a fresh interpreter: nothing
inherited by fork, each opens the ring itself). The parent talks to each over
a pipe (``ready`` from the child, ``go``/``stop`` from the parent) so every
wait on either side wakes at once; live numbers travel through a shared array
of float64 (:class:`Board`) the parent reads whenever it redraws.

Children ignore SIGINT: Ctrl-C at a terminal reaches the whole process group,
and it is the parent's job to stop everyone in order and remove the ring.
"""

from __future__ import annotations

import datetime as dt
import signal
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

from ... import Ring, ShmringError, WaitTimeout
from ._starfield import StarField, peak_stats, verify

#: Longest a child waits for the parent's ``go`` before it gives up.
START_TIMEOUT_S = 60.0
#: How long a reader waits for a frame before it looks at its pipe again.
POLL_S = 0.2


class Board:
    """Named float64 cells in shared memory: the camera's row, then one row per reader."""

    CAMERA = ("written", "render_s", "done")
    READER = ("frames", "torn", "overrun", "lost", "latency_sum_s", "latency_max_s", "last_seq",
              "mean", "max", "cx", "cy", "done")

    def __init__(self, cells: Any, readers: int) -> None:
        self.cells = cells
        self.readers = readers

    @classmethod
    def size(cls, readers: int) -> int:
        return len(cls.CAMERA) + readers * len(cls.READER)

    def _index(self, row: int | None, field: str) -> int:
        if row is None:
            return self.CAMERA.index(field)
        return len(self.CAMERA) + row * len(self.READER) + self.READER.index(field)

    def get(self, row: int | None, field: str) -> float:
        return float(self.cells[self._index(row, field)])

    def set(self, row: int | None, field: str, value: float) -> None:
        self.cells[self._index(row, field)] = value

    def add(self, row: int | None, field: str, value: float) -> None:
        self.cells[self._index(row, field)] += value  # one writer per cell: no lock needed

    def row(self, row: int | None) -> dict[str, float]:
        names = self.CAMERA if row is None else self.READER
        return {name: self.get(row, name) for name in names}


def _child_setup() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _await_go(conn: Connection) -> bool:
    """Block until the parent says ``go`` (True) or ``stop``/hangs up/times out (False)."""
    if not conn.poll(START_TIMEOUT_S):
        return False
    try:
        return bool(conn.recv() == "go")
    except EOFError:
        return False


def _stop_requested(conn: Connection, timeout: float = 0.0) -> bool:
    """Whether the parent asked us to stop (or went away), waiting up to ``timeout`` s for it."""
    if not conn.poll(timeout):
        return False
    try:
        return bool(conn.recv() == "stop")
    except EOFError:
        return True


def camera_main(name: str, cells: Any, readers: int, rate: float, conn: Connection) -> None:
    """Write star-field frames into ring ``name`` at ``rate`` Hz (0: as fast as possible) until told to stop."""
    _child_setup()
    board = Board(cells, readers)
    try:
        with Ring.open(name) as ring, ring.writer() as writer:
            if ring.shape is None or ring.dtype is None or len(ring.shape) != 2:
                raise ShmringError(f"ring {name!r} has no 2-D frame schema; the demo creates one")
            field = StarField((ring.shape[0], ring.shape[1]), ring.dtype)
            conn.send("ready")
            if _await_go(conn):
                _camera_loop(writer, field, board, rate, conn)
    except ShmringError as err:
        print(f"shmring demo: camera: {err}", file=sys.stderr)
        sys.exit(1)
    finally:
        board.set(None, "done", 1)


def _camera_loop(writer: Any, field: StarField, board: Board, rate: float, conn: Connection) -> None:
    period = 1.0 / rate if rate > 0 else 0.0
    exptime = period or 0.001
    due = time.monotonic()
    seq = 0
    while True:
        meta = {"FRAME": seq, "EXPTIME": exptime, "DATE-OBS": _date_obs(), "OBJECT": "demo star field",
                "INSTRUME": "shmring synthetic camera"}
        started = time.perf_counter()
        with writer.reserve(field.shape, field.dtype, meta=meta) as view:
            field.render(view, seq)  # straight into the slot: no copy of the frame
        board.add(None, "render_s", time.perf_counter() - started)
        seq += 1
        board.set(None, "written", seq)
        due += period
        # Pace on the pipe: a stop from the parent ends the wait at once.
        if _stop_requested(conn, max(0.0, due - time.monotonic())):
            return
        due = max(due, time.monotonic() - period)  # fell behind: do not try to catch up in a burst


def _date_obs() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "")


def reader_main(name: str, cells: Any, readers: int, index: int, conn: Connection) -> None:
    """Read every frame of ring ``name``: statistics, latency and an integrity check per frame."""
    _child_setup()
    board = Board(cells, readers)
    try:
        with Ring.open(name) as ring, ring.reader(name=f"stats{index}") as reader:
            conn.send("ready")
            _reader_loop(reader, board, index, conn)
    except ShmringError as err:
        print(f"shmring demo: reader {index}: {err}", file=sys.stderr)
        sys.exit(1)
    finally:
        board.set(index, "done", 1)


def _reader_loop(reader: Any, board: Board, index: int, conn: Connection) -> None:
    stopping = False
    while True:
        try:
            frame = reader.get(timeout=POLL_S, view=True)
        except WaitTimeout:
            if stopping:
                return  # the camera has stopped and every frame is read
            stopping = _stop_requested(conn)
            continue
        _measure(frame, board, index)
        if not stopping and _stop_requested(conn):
            stopping = True


def _measure(frame: Any, board: Board, index: int) -> None:
    latency = (time.monotonic_ns() - frame.monotonic_ns) / 1e9
    with frame:  # a zero-copy view: released (slot unpinned) at the end of the block
        problem, mean = verify(frame.data, int(frame.meta.get("FRAME", -1)))
        peak, cx, cy = peak_stats(frame.data)
        intact = frame.valid()
    board.add(index, "lost", frame.lost)
    if not intact:
        # The writer lapped us while we computed: the library says so; not a torn read.
        board.add(index, "overrun", 1)
        return
    board.add(index, "frames", 1)
    if problem:
        board.add(index, "torn", 1)
        print(f"shmring demo: reader {index}: frame {frame.seq} is torn: {problem}", file=sys.stderr)
    board.add(index, "latency_sum_s", latency)
    board.set(index, "latency_max_s", max(latency, board.get(index, "latency_max_s")))
    for field, value in (("last_seq", frame.seq), ("mean", mean), ("max", peak), ("cx", cx), ("cy", cy)):
        board.set(index, field, value)
