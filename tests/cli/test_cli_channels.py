"""ls, info, rm and gc on request/reply channels: listed beside rings, collected only when nobody has them open."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cli_helpers import Run

from shmring import Channel


def _ls(shmring: Run) -> dict[str, dict]:
    return {row["name"]: row for row in json.loads(shmring("ls", "--json", "--no-legacy").stdout)}


def _gc(shmring: Run, *args: str) -> dict[str, list[str]]:
    report = json.loads(shmring("gc", "--json", *args).stdout)
    return {"removed": sorted(v["name"] for v in report["removed"]), "kept": sorted(v["name"] for v in report["kept"])}


@contextmanager
def _served(name: str) -> Iterator[Channel]:
    """A channel with an upper-casing server thread in this process, and one request answered."""
    with Channel.create(name, slots=4, slot_bytes=4096) as channel:
        server = channel.serve(lambda request, meta: bytes(request).upper())
        try:
            assert channel.request(b"ping", timeout=10.0) == b"PING"
            yield channel
        finally:
            server.stop()


def test_ls_and_info_show_a_channel_its_server_and_its_requests(shmring: Run, unique_name: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # the table's cells whole, as a wide terminal shows them
    with _served(unique_name):
        row = _ls(shmring)[unique_name]
        assert (row["layout"], row["slots"], row["slot_bytes"]) == ("channel v1", 4, 4096)
        assert (row["server_alive"], row["requests"], row["slots_busy"]) == (True, 1, 0)
        table = shmring("ls", "--no-legacy").stdout
        line = next(x for x in table.splitlines() if unique_name in x)
        assert "channel v1" in line and "1 req" in line and "yes" in line
        info = json.loads(shmring("info", unique_name, "--json").stdout)
        assert info["server_alive"] is True and info["slot_phases"] == ["free"] * 4
        text = shmring("info", unique_name).stdout
        assert "channel v1" in text and "server" in text and "alive" in text
    row = _ls(shmring)[unique_name]
    assert row["server_alive"] is False, "the server's lease went with its handle"


def test_gc_keeps_open_and_never_used_channels_and_collects_abandoned_ones(shmring: Run, shm_dir: Path,
                                                                           unique_name: str) -> None:
    unused = f"{unique_name}-unused"
    Channel.create(unused).close()
    with _served(unique_name):
        assert _gc(shmring) == {"removed": [], "kept": sorted([unique_name, unused])}
        assert "channel open in a live server or client" in shmring("gc", "--dry-run").stdout
    assert _gc(shmring) == {"removed": [unique_name], "kept": [unused]}
    assert not (shm_dir / unique_name).exists()
    assert _gc(shmring, "--include-unused")["removed"] == [unused]
    assert not (shm_dir / unused).exists()


def test_gc_collects_a_corrupt_channel_nobody_holds(shmring: Run, shm_dir: Path, unique_name: str) -> None:
    (shm_dir / unique_name).write_bytes(b"SHMRCHAN" + b"\xff" * 200)  # the magic, then nothing that parses
    row = _ls(shmring)[unique_name]
    assert row["layout"] == "corrupt" and row["problem"]
    assert _gc(shmring)["removed"] == [unique_name]


def test_rm_removes_a_channel_and_an_open_client_learns_it_is_gone(shmring: Run, shm_dir: Path,
                                                                    unique_name: str) -> None:
    with _served(unique_name) as channel:
        shmring("rm", unique_name)
        assert not (shm_dir / unique_name).exists()
        assert channel.request(b"still", timeout=10.0) == b"STILL", "open handles keep working"
    assert "no segment" in shmring("rm", unique_name, check=1).stderr
