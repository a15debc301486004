"""``shmring gc`` and what it must keep: pre-created rings, Locker files in use."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

from _peer_children import hold_locker_open, hold_locker_taken
from cli_helpers import Run

from shmring import Lease, Ring
from shmring.legacy import Locker, remove_unused_lock_file
from shmring.legacy import _format as legacy_format

SPAWN_TIMEOUT_S = 60.0


def _gc(shmring: Run, *args: str) -> dict[str, list[str]]:
    report = json.loads(shmring("gc", "--json", *args).stdout)
    removed = "would_remove" if "--dry-run" in args else "removed"
    return {"removed": sorted(v["name"] for v in report[removed]), "kept": sorted(v["name"] for v in report["kept"])}


def test_a_ring_made_by_create_survives_gc_until_used(shmring: Run, shm_dir: Path, unique_name: str) -> None:
    shmring("create", unique_name, "--slot-bytes", "4KiB")
    report = _gc(shmring)
    assert report == {"removed": [], "kept": [unique_name]}, "a pre-created ring is not garbage"
    assert "never used" in shmring("gc").stdout
    with Ring.open(unique_name) as ring, ring.writer() as writer:
        writer.put(b"one frame")
    assert _gc(shmring)["removed"] == [unique_name], "once written and left by everyone it is garbage"
    assert not (shm_dir / unique_name).exists()


def test_include_unused_collects_pre_created_rings(shmring: Run, shm_dir: Path, unique_name: str) -> None:
    shmring("create", unique_name, "--slot-bytes", "4KiB")
    dry = json.loads(shmring("gc", "--json", "--dry-run", "--include-unused").stdout)
    assert [v["name"] for v in dry["would_remove"]] == [unique_name] and (shm_dir / unique_name).exists()
    assert _gc(shmring, "--include-unused")["removed"] == [unique_name]
    assert os.listdir(shm_dir) == []


def test_gc_collects_locker_files_nobody_has_open(shmring: Run, shm_dir: Path,
                                                  spawn: Callable[..., BaseProcess]) -> None:
    Locker("closed.lock").close()
    ctx = mp.get_context("spawn")
    opened, opened_end = ctx.Pipe()
    spawn(hold_locker_open, "open.lock", opened_end)
    assert opened.poll(SPAWN_TIMEOUT_S), "the process holding a Locker open did not start within 60 s"
    taken, taken_end = ctx.Pipe()
    killed = spawn(hold_locker_taken, "killed.lock", taken_end)
    assert taken.poll(SPAWN_TIMEOUT_S), "the process taking a Locker did not start within 60 s"
    assert killed.pid is not None
    os.kill(killed.pid, signal.SIGKILL)
    killed.join(SPAWN_TIMEOUT_S)

    assert _gc(shmring, "--dry-run")["kept"] == ["open.lock"]
    assert sorted(os.listdir(shm_dir)) == ["closed.lock", "killed.lock", "open.lock"], "a dry run removes nothing"
    assert _gc(shmring) == {"removed": ["closed.lock", "killed.lock"], "kept": ["open.lock"]}
    assert os.listdir(shm_dir) == ["open.lock"], "a Locker open in a live process is kept"
    opened.send("done")


def test_a_locker_opened_during_collection_lands_on_the_file_its_name_names(shm_dir: Path) -> None:
    """The race gc must win safely: an opener that got the old file after its removal opens the name anew."""
    Locker("race.lock").close()
    path = shm_dir / "race.lock"
    old_inode = path.stat().st_ino
    fd = os.open(path, os.O_RDWR)
    probe = Lease.try_take(fd, legacy_format.ATTACHED_LOCK_BYTE)  # what gc holds while it removes
    assert probe is not None
    got: list[Locker] = []
    opener = threading.Thread(target=lambda: got.append(Locker("race.lock")), daemon=True)
    opener.start()
    opener.join(0.2)
    assert opener.is_alive(), "an opener must wait while gc probes the file"
    os.unlink(path)
    probe.release()
    os.close(fd)
    opener.join(10)
    assert not opener.is_alive() and got, "the opener did not finish after the probe ended"
    locker = got[0]
    assert locker.path.stat().st_ino != old_inode, "the opener must use a file others can find by name"
    assert not remove_unused_lock_file(locker.path), "a Locker open in this process is in use"
    locker.close()
    assert remove_unused_lock_file(locker.path) and not path.exists()
