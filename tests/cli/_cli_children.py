"""Targets for spawned processes in the CLI tests (importable by the child interpreter)."""

from __future__ import annotations

from multiprocessing.connection import Connection

from shmring import Ring


def hold_writer(name: str, conn: Connection) -> None:
    """Attach a writer to ring ``name``, say so, and keep it until told (or 60 s)."""
    with Ring.open(name) as ring, ring.writer():
        conn.send("attached")
        conn.poll(60.0)


def write_and_exit(name: str, frames: int) -> None:
    """Attach a writer and a reader, write ``frames`` frames, and exit without closing anything."""
    ring = Ring.open(name)
    ring.reader(name="gone")
    writer = ring.writer()
    for k in range(frames):
        writer.put(bytes([k]) * 16)


def hold_open(name: str, conn: Connection) -> None:
    """Open ring ``name`` without a writer or reader, say so, and keep it open until told (or 60 s)."""
    with Ring.open(name):
        conn.send("open")
        conn.poll(60.0)


def commands_as_nobody(conn: Connection, commands: list[list[str]]) -> None:
    """Drop to user nobody, run each ``shmring`` command in this process, send back [(exit code, output)]."""
    import contextlib
    import io
    import os

    from shmring.cli._app import _load_commands, run

    _load_commands()  # import everything while the installed files are still readable to us
    os.setgid(65534)
    os.setuid(65534)
    results = []
    for argv in commands:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = run(argv)
        results.append((code, printed.getvalue()))
    conn.send(results)
