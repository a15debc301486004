"""create, ls, info, rm and gc through the real command, on healthy, corrupt and abandoned rings."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest
from _cli_children import commands_as_nobody, hold_open, hold_writer, write_and_exit
from cli_helpers import Run

from shmring import Ring

SPAWN_TIMEOUT_S = 60.0


def _corrupt(path: Path) -> None:
    path.write_bytes(b"SHMRING\x00" + b"\xff" * 100)  # the magic, then nothing that parses


def _ls(shmring: Run, tmp_path: Path) -> dict[str, dict]:
    rows = json.loads(shmring("ls", "--json", "--legacy-dir", str(tmp_path)).stdout)
    return {row["name"]: row for row in rows}


def test_create_then_ls_and_info_show_it(shmring: Run, tmp_path: Path, unique_name: str) -> None:
    shmring("create", unique_name, "--slots", "4", "--shape", "640x480", "--dtype", "uint16",
            "--policy", "block", "--mode", "660")
    row = _ls(shmring, tmp_path)[unique_name]
    assert (row["slots"], row["slot_bytes"], row["policy"], row["frames"]) == (4, 640 * 480 * 2, "block", 0)
    assert row["writer_alive"] is False and row["readers_live"] == 0
    info = json.loads(shmring("info", unique_name, "--json").stdout)
    assert info["shape"] == [480, 640] and info["dtype"] == "<u2" and info["readers"] == []
    human = shmring("info", unique_name).stdout
    assert "640x480 uint16" in human and "block" in human


def test_ls_lists_a_corrupt_file_and_info_refuses_it(shmring: Run, shm_dir: Path, tmp_path: Path,
                                                     unique_name: str) -> None:
    _corrupt(shm_dir / "broken")
    (shm_dir / "not-ours").write_bytes(b"some other program's shared memory")
    shmring("create", unique_name, "--slot-bytes", "4KiB")
    rows = _ls(shmring, tmp_path)
    assert set(rows) == {unique_name, "broken"}
    assert rows["broken"]["layout"] == "corrupt" and "truncated" in rows["broken"]["problem"]
    assert "corrupt" in shmring("ls", "--legacy-dir", str(tmp_path)).stdout
    done = shmring("info", "broken", check=1)
    assert done.stderr.startswith("shmring: error:") and "broken" in done.stderr


def test_ls_shows_original_sharedmem_files(shmring: Run, tmp_path: Path) -> None:
    from shmring.legacy import SharedMem

    SharedMem.create(tmp_path / "smem_cam", item_size=1000, item_alloc=4).close()
    (tmp_path / "smem_bad").write_bytes((0x11031973).to_bytes(4, "little") + b"\x00" * 60)
    rows = _ls(shmring, tmp_path)
    assert rows["smem_cam"]["layout"] == "legacy"
    assert (rows["smem_cam"]["slots"], rows["smem_cam"]["slot_bytes"], rows["smem_cam"]["queued"]) == (4, 1000, 0)
    assert rows["smem_bad"]["layout"] == "corrupt"


def test_rm_removes_rings_and_reports_missing_ones(shmring: Run, shm_dir: Path, unique_name: str) -> None:
    shmring("create", f"{unique_name}-a", "--slot-bytes", "4KiB")
    shmring("create", f"{unique_name}-b", "--slot-bytes", "4KiB")
    shmring("rm", f"{unique_name}-a", f"{unique_name}-b")
    assert os.listdir(shm_dir) == []
    done = shmring("rm", "nothing-here", check=1)
    assert "shmring: error:" in done.stderr and "nothing-here" in done.stderr


def test_gc_removes_only_what_nobody_holds(shmring: Run, shm_dir: Path, unique_name: str,
                                          spawn: Callable[..., BaseProcess]) -> None:
    held, dead, idle, opened = (f"{unique_name}-{k}" for k in ("held", "dead", "idle", "open"))
    for name in (held, dead, idle, opened):
        Ring.create(name, slot_bytes=4096).close()
    _corrupt(shm_dir / "broken")
    stale, fresh = shm_dir / f".{idle}.0123456789ab.tmp", shm_dir / f".{idle}.ba9876543210.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    old = time.time() - 3600
    os.utime(stale, (old, old))

    ours, theirs = mp.get_context("spawn").Pipe()
    holder = spawn(hold_writer, held, theirs)
    assert ours.poll(SPAWN_TIMEOUT_S), "the holding process did not attach within 60 s"
    keep_open, opener_end = mp.get_context("spawn").Pipe()
    opener = spawn(hold_open, opened, opener_end)
    assert keep_open.poll(SPAWN_TIMEOUT_S), "the opening process did not open the ring within 60 s"
    crashed = spawn(write_and_exit, dead, 3)
    crashed.join(SPAWN_TIMEOUT_S)
    assert crashed.exitcode == 0, f"the writing process exited with {crashed.exitcode}"

    everything = sorted(os.listdir(shm_dir))
    dry = shmring("gc", "--dry-run").stdout
    assert sorted(os.listdir(shm_dir)) == everything and "would remove" in dry
    report = json.loads(shmring("gc", "--json").stdout)
    assert sorted(v["name"] for v in report["removed"]) == sorted([dead, "broken", stale.name])
    assert sorted(os.listdir(shm_dir)) == sorted([held, opened, idle, fresh.name]), (
        "a ring open anywhere is kept, and so is one never used")
    assert holder.is_alive() and opener.is_alive()
    ours.send("done")
    keep_open.send("done")


@pytest.mark.parametrize("argv", [["create", "x"], ["create", "x", "--dtype", "uint8"]])
def test_create_needs_a_size(shmring: Run, argv: list[str]) -> None:
    assert "shmring" in shmring(*argv, check=2).stderr


def test_ls_and_gc_leave_another_users_ring_alone(shmring: Run, shm_dir: Path, unique_name: str,
                                                 spawn: Callable[..., BaseProcess]) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run the command as another user")
    Ring.create(unique_name, slot_bytes=4096, mode=0o644).close()  # others may read, not write
    shm_dir.chmod(0o755)  # others may look in, not write
    ours, theirs = mp.get_context("spawn").Pipe()
    spawn(commands_as_nobody, theirs, [["ls", "--json"], ["gc", "--json"]])
    assert ours.poll(SPAWN_TIMEOUT_S), "shmring as user nobody did not answer within 60 s"
    (ls_code, ls_out), (gc_code, gc_out) = ours.recv()
    (row,) = [r for r in json.loads(ls_out) if r["name"] == unique_name]
    assert (ls_code, row["name"], row["layout"]) == (0, unique_name, "no access")
    assert "permission denied" in row["problem"]
    report = json.loads(gc_out)
    assert (gc_code, report["removed"], [v["name"] for v in report["kept"]]) == (0, [], [unique_name])
    assert (shm_dir / unique_name).exists()


@pytest.mark.parametrize(("args", "says"), [
    ((".hidden", "--slot-bytes", "4KiB"), "name must be"),
    (("{name}", "--slot-bytes", "0"), "slot_bytes must be an int >= 1, got 0"),
    (("{name}", "--slot-bytes", "4KiB", "--meta-bytes", "2MiB"),
     "meta_bytes must be an int in 0..1048576, got 2097152"),
    (("{name}", "--slots", "2000000", "--slot-bytes", "8"), "slots must be an int in 2..1048576, got 2000000"),
], ids=["hidden-name", "zero-slot-bytes", "huge-meta-bytes", "too-many-slots"])
def test_create_refuses_bad_arguments_with_one_error_line(shmring: Run, shm_dir: Path, unique_name: str,
                                                          args: tuple[str, ...], says: str) -> None:
    done = shmring("create", *(a.format(name=unique_name) for a in args), check=1)

    assert done.stderr.startswith("shmring: error:"), f"not an error line: {done.stderr!r}"
    assert says in done.stderr, f"the error does not say {says!r}: {done.stderr!r}"
    assert "Traceback" not in done.stderr
    assert not any(shm_dir.iterdir()), "a refused create left a file behind"
