"""Hostile filesystems: odd files at a ring's name, another user's file, a tmpfs that fills up.

Whatever is at the name, every way of opening or creating answers with a
ShmringError naming the path, leaves the thing alone and never blocks; a
full tmpfs is a NoSpaceError at create or open, never a SIGBUS while frames
are written. The tmpfs tests mount a small tmpfs of their own (root only).
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import _hostile_children as kids
import numpy as np
import pytest

import shmring
from shmring.legacy import _format as LF

pytestmark = pytest.mark.slow

SPAWN = mp.get_context("spawn")
JOIN_S = 30.0
TMPFS_BYTES = 4 << 20


# -- odd files at the name ------------------------------------------------------

def _ring_file(where: Path) -> Path:
    shmring.Ring.create(where, slots=2, slot_bytes=64).close()
    return where


def _make_hostile(kind: str, path: Path) -> None:
    if kind == "symlink to a ring":
        path.symlink_to(_ring_file(path.with_name("real-ring")))
    elif kind == "dangling symlink":
        path.symlink_to(path.with_name("nowhere"))
    elif kind == "FIFO":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "character device":
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()


HOSTILE = ("symlink to a ring", "dangling symlink", "FIFO", "directory", "character device", "socket")

#: Every way shmring takes a file at a path, and the error it must answer a hostile one with.
OPENERS: dict[str, tuple[Callable[[Path], Any], type[shmring.ShmringError]]] = {
    "Ring.open": (lambda p: shmring.Ring.open(p), shmring.LayoutError),
    "Ring.create": (lambda p: shmring.Ring.create(p, slots=2, slot_bytes=64), shmring.SegmentExistsError),
    "SharedMem.open": (lambda p: shmring.legacy.SharedMem.open(p), shmring.LayoutError),
    "SharedMem.open_raw": (lambda p: shmring.legacy.SharedMem.open_raw(p), shmring.LayoutError),
    "SharedMem.create": (lambda p: shmring.legacy.SharedMem.create(p, 8, 2), shmring.SegmentExistsError),
}


def _is_root() -> bool:
    return os.geteuid() == 0


@pytest.mark.parametrize("opener", sorted(OPENERS))
@pytest.mark.parametrize("kind", HOSTILE)
def test_an_odd_file_at_the_name_is_refused_and_left_alone(shm_dir: Path, kind: str, opener: str) -> None:
    if kind == "character device" and not _is_root():
        pytest.skip("mknod of a device needs root")
    path = shm_dir / "cam0"
    _make_hostile(kind, path)
    before = os.lstat(path)
    call, error = OPENERS[opener]
    with pytest.raises(error) as caught:
        call(path)
    assert str(path) in str(caught.value), f"{opener} on a {kind}: the error does not name the path"
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode), f"{opener} changed the {kind}"


@pytest.mark.parametrize("kind", ("symlink to a ring", "FIFO", "directory"))
def test_an_odd_file_in_place_of_a_legacy_lock_file_is_refused(shm_dir: Path, kind: str) -> None:
    queue = shm_dir / "smem_cam0"
    mem = shmring.legacy.SharedMem.create(queue, 8, 2)
    lock = mem.locker.path
    mem.locker.unlink()
    mem.close()
    _make_hostile(kind, lock)
    with pytest.raises(shmring.LayoutError, match=str(lock)):
        shmring.legacy.SharedMem.open(queue)


# -- another user's file -----------------------------------------------------------

@pytest.mark.parametrize("kind", ("ring", "legacy"))
@pytest.mark.parametrize("mode", (0o600, 0o644))
def test_another_users_file_is_a_permission_error(spawn: Any, shm_dir: Path, kind: str, mode: int) -> None:
    if not _is_root():
        pytest.skip("needs root to switch to another user")
    os.chmod(shm_dir, 0o755)  # nobody may look into the directory, not write the file
    path = shm_dir / "theirs"
    if kind == "ring":
        shmring.Ring.create(path, slots=2, slot_bytes=64, mode=mode).close()
    else:
        shmring.legacy.SharedMem.create(path, 8, 2, mode=mode).close()
    child = spawn(kids.open_as_nobody, kind, str(path))
    child.join(JOIN_S)
    assert child.exitcode == kids.OK, (
        f"user nobody opening root's {mode:o} {kind} file: exit {child.exitcode}, wanted a SegmentPermissionError "
        "naming the path")


# -- a small tmpfs of our own ---------------------------------------------------------

@pytest.fixture
def tmpfs(tmp_path: Path, shm_dir: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs with 64 inodes, mounted for this test and unmounted after (skips if mount is refused)."""
    where = tmp_path / "tmpfs"
    where.mkdir()
    libc = ctypes.CDLL(None, use_errno=True)
    options = f"size={TMPFS_BYTES},nr_inodes=64,mode=0700".encode()
    if libc.mount(b"tmpfs", str(where).encode(), b"tmpfs", 0, options) != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({os.strerror(ctypes.get_errno())})")
    try:
        yield where
    finally:
        libc.umount2(str(where).encode(), 2)  # MNT_DETACH: even if a child still has it open


def _fill(where: Path) -> Path:
    """Write a file until the tmpfs is full; return it."""
    filler = where / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\xff" * 65536)
        except OSError as err:
            assert err.errno == 28, f"filling the tmpfs failed with {err}, not ENOSPC"
    return filler


@pytest.mark.parametrize("kind", ("ring", "legacy"))
def test_a_full_tmpfs_at_create_is_a_no_space_error(tmpfs: Path, kind: str) -> None:
    def create(name: str, nbytes: int) -> object:
        if kind == "ring":
            return shmring.Ring.create(tmpfs / name, slots=2, slot_bytes=nbytes)
        return shmring.legacy.SharedMem.create(tmpfs / name, nbytes, 2)

    with pytest.raises(shmring.NoSpaceError, match="asked for") as caught:
        create("too-big", TMPFS_BYTES)
    size, free = caught.value.size, caught.value.free
    assert size is not None and free is not None and size > TMPFS_BYTES >= free, f"asked {size}, free {free}"
    _fill(tmpfs)
    with pytest.raises(shmring.NoSpaceError, match="tiny"):
        create("tiny", 16)
    assert sorted(os.listdir(tmpfs)) == ["filler"], "a refused create left a file behind"


def test_a_tmpfs_out_of_inodes_is_a_no_space_error(tmpfs: Path) -> None:
    # Found here: with the memory free but no inode left, create raised a bare OSError.
    made = 0
    with pytest.raises(shmring.NoSpaceError, match="out of inodes or memory"):
        while made < 1000:
            (tmpfs / f"f{made}").touch()
            made += 1
            shmring.Ring.create(tmpfs / f"r{made}", slots=2, slot_bytes=16).close()
            made += 1


@pytest.mark.parametrize("kind", ("ring", "legacy"))
def test_frames_keep_flowing_after_the_tmpfs_fills_up(tmpfs: Path, spawn: Any, kind: str) -> None:
    path = tmpfs / f"smem_{kind}"
    if kind == "ring":
        shmring.Ring.create(path, slots=4, slot_bytes=256 << 10).close()
    else:
        shmring.legacy.SharedMem.create(path, 256 << 10, 4).close()
    half, filled = SPAWN.Event(), SPAWN.Event()
    writer = spawn(kids.write_frames, kind, str(path), 200, half, filled)
    assert half.wait(JOIN_S), "the writer did not get half-way"
    _fill(tmpfs)
    filled.set()
    writer.join(JOIN_S)
    assert writer.exitcode == kids.OK, (
        f"the {kind} writer on a tmpfs filled after create ended with {writer.exitcode} (-7 is SIGBUS)")


def _sparse_copy(kind: str, tmpfs: Path) -> Path:
    """A valid file with holes, as a C program makes it (header written, then ftruncate)."""
    path = tmpfs / f"sparse_{kind}"
    if kind == "ring":
        template = shmring.Ring.create(tmpfs / "template", slots=2, slot_bytes=1 << 20)
        header, size = (tmpfs / "template").read_bytes()[:4096], template.info().total_bytes
        template.unlink()
        template.close()
    else:
        header, size = LF.new_header(1 << 20, 2), LF.memsize(1 << 20, 2)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(size)
    return path


@pytest.mark.parametrize("kind", ("ring", "legacy"))
def test_a_file_with_holes_on_a_full_tmpfs_is_refused_at_open_not_a_sigbus(tmpfs: Path, spawn: Any,
                                                                             kind: str) -> None:
    # Found here: a file made by ftruncate (as the original C++ makes it) opened fine,
    # and the first put into it on a full tmpfs killed the process with SIGBUS.
    path = _sparse_copy(kind, tmpfs)
    _fill(tmpfs)
    child = spawn(kids.open_sparse_for_writing, kind, str(path))
    child.join(JOIN_S)
    assert child.exitcode == kids.OK, (
        f"opening a {kind} file with holes on a full tmpfs ended with {child.exitcode} (-7 is SIGBUS); "
        "wanted a NoSpaceError naming the file")


def test_a_file_with_holes_is_backed_at_open_when_there_is_room(tmpfs: Path) -> None:
    path = _sparse_copy("ring", tmpfs)
    with shmring.Ring.open(path) as ring, ring.writer() as writer, ring.reader(start="oldest") as reader:
        writer.put(np.arange(1 << 18, dtype=np.uint32))
        assert (reader.get(timeout=1).data == np.arange(1 << 18, dtype=np.uint32)).all()
    assert os.stat(path).st_blocks * 512 >= os.stat(path).st_size, "the holes were not reserved"
