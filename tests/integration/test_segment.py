"""Named segments on a real tmpfs: atomic creation, refusal of what is not a segment, modes, space."""

from __future__ import annotations

import mmap
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import _children_foundation as kids
import numpy as np
import pytest

import shmring._segment as segment_module
from shmring import (
    ClosedError,
    LayoutError,
    NoSpaceError,
    Segment,
    SegmentExistsError,
    SegmentNotFoundError,
    ShmringError,
    _sync,
)
from shmring._segment import list_segments, unlink

JOIN_S = 30.0
NAME_RULE_TEXT = "segment name must be 1 to 200 characters from [A-Za-z0-9._-]"


def _entries(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


# -- create and open ---------------------------------------------------------


def test_create_initialises_before_the_name_appears_and_open_sees_it(shm_dir: Path, unique_name: str) -> None:
    path = shm_dir / unique_name
    seen_during_init: list[bool] = []

    def init(buf: mmap.mmap) -> None:
        seen_during_init.append(path.exists())
        buf[:5] = b"hello"

    created = Segment.create(unique_name, 8192, init=init)
    opened = Segment.open(unique_name)

    assert seen_during_init == [False], "the name was visible before init finished"
    assert opened.mapping()[:5] == b"hello"
    assert (created.size, opened.size) == (8192, 8192)
    assert created.path == opened.path == path
    assert created.identity == opened.identity
    assert _entries(shm_dir) == [unique_name], "create left something besides the segment"
    created.close()
    opened.close()


def test_a_read_only_open_maps_a_buffer_that_refuses_writes(shm_dir: Path, unique_name: str) -> None:
    Segment.create(unique_name, 4096).close()
    reader = Segment.open(unique_name, writable=False)

    with pytest.raises(TypeError, match="got a read-only mmap"):
        _sync.store32(reader.mapping(), 0, 1)
    assert _sync.load32(reader.mapping(), 0) == 0
    reader.close()


def test_eight_processes_racing_to_create_one_name_make_exactly_one_creator(
    spawn, shm_dir: Path, unique_name: str
) -> None:
    control = Segment.create(f"{unique_name}-ctl", kids.CONTROL_SIZE)
    target = f"{unique_name}-raced"
    procs = [spawn(kids.racing_creator, str(control.path), str(shm_dir), target, tag) for tag in range(1, 9)]
    kids.wait_at_least(control.mapping(), kids.READY, 8, JOIN_S)
    kids.release_all(control.mapping())
    for proc in procs:
        proc.join(JOIN_S)

    codes = [proc.exitcode for proc in procs]
    assert sorted(codes) == [kids.EXIT_CREATED] + [kids.EXIT_EXISTS] * 7, (
        f"exit codes {codes}: 0 = created, 3 = SegmentExistsError (a FileExistsError)"
    )
    winner = codes.index(kids.EXIT_CREATED) + 1
    raced = Segment.open(target)
    assert _sync.load32(raced.mapping(), 0) == winner, "the file is not the one its creator initialised"
    assert _entries(shm_dir) == sorted([control.path.name, target]), "losers left temporary files"
    raced.close()
    control.close()


def test_a_creator_killed_mid_create_leaves_no_file(spawn, shm_dir: Path, unique_name: str) -> None:
    # Found by the kill campaign: a creator killed between building its file and
    # naming it left a hidden temporary file behind in /dev/shm, for good.
    control = Segment.create(f"{unique_name}-ctl", kids.CONTROL_SIZE)
    child = spawn(kids.creator_parked_in_init, str(control.path), str(shm_dir), f"{unique_name}-new")
    kids.wait_at_least(control.mapping(), kids.READY, 1, JOIN_S)
    child.kill()
    child.join(JOIN_S)
    assert child.exitcode == -9, f"the creator was not killed (exit code {child.exitcode})"
    assert _entries(shm_dir) == [control.path.name], "a creator killed mid-create left a file behind"
    control.close()


def test_create_refuses_a_taken_name_whatever_holds_it(shm_dir: Path, unique_name: str) -> None:
    (shm_dir / "dir").mkdir()
    (shm_dir / "dangling").symlink_to(shm_dir / "nowhere")
    Segment.create(unique_name, 4096).close()

    for taken in (unique_name, "dir", "dangling"):
        with pytest.raises(SegmentExistsError, match=f"segment {shm_dir / taken} already exists") as caught:
            Segment.create(taken, 4096)
        assert isinstance(caught.value, FileExistsError)
    assert _entries(shm_dir) == sorted([unique_name, "dir", "dangling"])


@pytest.mark.parametrize(("size", "error", "message"), [
    (0, ValueError, "segment size must be > 0 bytes, got 0"),
    (-4096, ValueError, "got -4096"),
    (4096.0, TypeError, "segment size must be an int"),
    (True, TypeError, "segment size must be an int"),
])
def test_bad_sizes_are_refused_before_anything_is_made(shm_dir: Path, size: object, error: type,
                                                      message: str) -> None:
    with pytest.raises(error, match=message):
        Segment.create("seg", size)  # type: ignore[arg-type]
    assert _entries(shm_dir) == []


def test_a_numpy_integer_size_is_accepted(shm_dir: Path) -> None:
    seg = Segment.create("seg", np.int64(4096))
    assert seg.size == 4096
    seg.close()


# -- what is not a segment is refused ------------------------------------------


def _make_fifo(path: Path) -> None:
    os.mkfifo(path)


@pytest.mark.parametrize("writable", [True, False], ids=["read-write", "read-only"])
def test_a_symlink_even_to_a_good_segment_is_refused(shm_dir: Path, writable: bool) -> None:
    Segment.create("real", 4096).close()
    (shm_dir / "link").symlink_to(shm_dir / "real")

    with pytest.raises(LayoutError) as caught:
        Segment.open("link", writable=writable)

    assert str(caught.value) == (
        f"{shm_dir / 'link'} is a symbolic link; segments must be regular files (links are never followed)"
    )
    assert (caught.value.expected, caught.value.found) == ("regular file", "symbolic link")


@pytest.mark.parametrize("writable", [True, False], ids=["read-write", "read-only"])
def test_a_directory_is_refused(shm_dir: Path, writable: bool) -> None:
    (shm_dir / "adir").mkdir()

    with pytest.raises(LayoutError, match=f"^{shm_dir / 'adir'} is a directory, not a segment$"):
        Segment.open("adir", writable=writable)


@pytest.mark.parametrize("writable", [True, False], ids=["read-write", "read-only"])
def test_a_fifo_is_refused_without_blocking(shm_dir: Path, writable: bool) -> None:
    _make_fifo(shm_dir / "pipe")

    with pytest.raises(LayoutError, match=f"^{shm_dir / 'pipe'} is a FIFO, not a segment$") as caught:
        Segment.open("pipe", writable=writable)  # a FIFO opened without O_NONBLOCK would hang here
    assert caught.value.found == "FIFO"


def test_a_file_smaller_than_its_header_is_refused_as_truncated(shm_dir: Path) -> None:
    (shm_dir / "short").write_bytes(bytes(10))

    with pytest.raises(LayoutError) as caught:
        Segment.open("short", min_size=4096)

    assert str(caught.value) == f"segment {shm_dir / 'short'} is truncated: 10 bytes, at least 4096 expected"
    assert (caught.value.field, caught.value.expected, caught.value.found) == ("file size", 4096, 10)


@pytest.mark.parametrize("min_size", [0, 1])
def test_an_empty_file_is_refused_whatever_the_minimum(shm_dir: Path, min_size: int) -> None:
    (shm_dir / "empty").touch()

    with pytest.raises(LayoutError, match="is truncated: 0 bytes, at least 1 expected"):
        Segment.open("empty", min_size=min_size)


@pytest.mark.parametrize("name", ["a/b", "../x", ".hidden", "", "x" * 201, "a\0b"])
def test_bad_names_are_refused_by_create_open_and_unlink(shm_dir: Path, name: str) -> None:
    for call in (lambda: Segment.create(name, 4096), lambda: Segment.open(name), lambda: unlink(name)):
        with pytest.raises(ValueError, match=NAME_RULE_TEXT.replace("[", r"\[").replace("]", r"\]")):
            call()
    assert _entries(shm_dir) == []


def test_opening_a_missing_name_is_segment_not_found(shm_dir: Path) -> None:
    with pytest.raises(SegmentNotFoundError, match=f"^no segment at {shm_dir / 'ghost'}$") as caught:
        Segment.open("ghost")

    assert isinstance(caught.value, FileNotFoundError)
    assert caught.value.path == str(shm_dir / "ghost")


def test_unlinking_a_missing_name_is_segment_not_found(shm_dir: Path) -> None:
    with pytest.raises(SegmentNotFoundError, match="no segment at"):
        unlink("ghost")


# -- permissions -----------------------------------------------------------------


def test_a_new_segment_is_private_to_its_owner_by_default(shm_dir: Path, umask_022: None) -> None:
    Segment.create("seg", 4096).close()

    assert stat.S_IMODE(os.stat(shm_dir / "seg").st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o660, 0o640, 0o666])
def test_mode_is_applied_exactly_despite_the_umask(shm_dir: Path, umask_022: None, mode: int) -> None:
    Segment.create("seg", 4096, mode=mode).close()

    assert stat.S_IMODE(os.stat(shm_dir / "seg").st_mode) == mode


@pytest.mark.parametrize("mode", [-1, 0o1777, 0o4600])
def test_modes_beyond_permission_bits_are_refused(shm_dir: Path, mode: int) -> None:
    with pytest.raises(ValueError, match="mode must be permission bits 0o000..0o777"):
        Segment.create("seg", 4096, mode=mode)
    assert _entries(shm_dir) == []


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to another user")


def test_another_user_is_refused_a_private_segment(spawn, shm_dir: Path) -> None:
    _require_root()
    Segment.create("seg", 4096).close()

    child = spawn(kids.unprivileged_opener, str(shm_dir / "seg"))
    child.join(JOIN_S)

    assert child.exitcode == 0, "user nobody did not get a SegmentPermissionError naming the path"


def test_creating_in_a_directory_one_may_not_write_is_a_permission_error(spawn, shm_dir: Path) -> None:
    _require_root()
    shm_dir.chmod(0o755)  # others may look, not write

    child = spawn(kids.unprivileged_creator, str(shm_dir), "seg")
    child.join(JOIN_S)

    assert child.exitcode == 0, "user nobody did not get a SegmentPermissionError naming the directory"
    assert _entries(shm_dir) == []


# -- no leftovers -------------------------------------------------------------------


def test_a_failing_init_leaves_nothing_behind(shm_dir: Path) -> None:
    def init(buf: mmap.mmap) -> None:
        raise RuntimeError("init failed")

    with pytest.raises(RuntimeError, match="init failed"):
        Segment.create("seg", 4096, init=init)

    assert _entries(shm_dir) == []


# -- replaced, unlinked, closed ------------------------------------------------------


def test_replaced_tells_a_removed_or_recreated_name_from_the_file_mapped(shm_dir: Path) -> None:
    first = Segment.create("seg", 4096)
    assert not first.replaced()

    unlink("seg")
    assert first.replaced(), "the name is gone"
    _sync.store32(first.mapping(), 0, 42)  # the mapping still works after unlink
    assert _sync.load32(first.mapping(), 0) == 42

    second = Segment.create("seg", 8192)
    assert first.replaced(), "the name now belongs to a new file"
    assert not second.replaced()
    first.close()
    second.close()


def test_unlink_through_a_stale_handle_spares_the_new_segment(shm_dir: Path) -> None:
    old = Segment.create("seg", 4096)
    old.unlink()
    new = Segment.create("seg", 4096)

    old.unlink()

    assert _entries(shm_dir) == ["seg"] and not new.replaced(), "a stale handle removed someone else's segment"
    old.close()
    new.close()


def test_close_is_idempotent_and_later_use_is_a_closed_error(shm_dir: Path) -> None:
    seg = Segment.create("seg", 4096)
    seg.close()
    seg.close()

    assert seg.closed
    with pytest.raises(ClosedError, match=f"segment {shm_dir / 'seg'} was closed"):
        seg.mapping()
    assert "closed" in repr(seg)


def test_close_refuses_while_a_numpy_view_is_alive(shm_dir: Path) -> None:
    seg = Segment.create("seg", 4096)
    view = np.frombuffer(seg.mapping(), dtype=np.uint8)

    with pytest.raises(BufferError):
        seg.close()
    assert not seg.closed

    del view
    seg.close()
    assert seg.closed


# -- listing ---------------------------------------------------------------------


def test_list_segments_shows_only_regular_files_with_valid_names(shm_dir: Path) -> None:
    for name in ("b-cam", "a.cam", "z_9"):
        Segment.create(name, 4096).close()
    (shm_dir / "adir").mkdir()
    (shm_dir / "link").symlink_to(shm_dir / "a.cam")
    _make_fifo(shm_dir / "pipe")
    (shm_dir / ".a.cam.0123.tmp").write_bytes(b"x")
    (shm_dir / "has space").write_bytes(b"x")

    assert [p.name for p in list_segments()] == ["a.cam", "b-cam", "z_9"]
    assert list(list_segments(shm_dir)) == [shm_dir / "a.cam", shm_dir / "b-cam", shm_dir / "z_9"]


def test_list_segments_of_a_missing_directory_is_empty(tmp_path: Path) -> None:
    assert list(list_segments(tmp_path / "missing")) == []


# -- space -------------------------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs of our own, unmounted at teardown; skipped where mounting is not allowed."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a size-limited tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount_point)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 1 MiB tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def _free(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def test_asking_a_small_tmpfs_for_more_than_it_has_names_both_numbers(small_tmpfs: Path) -> None:
    Segment.create("filler", 600 * 1024, directory=small_tmpfs).close()
    free = _free(small_tmpfs)

    with pytest.raises(NoSpaceError) as caught:
        Segment.create("big", 2_000_000, directory=small_tmpfs)

    err = caught.value
    assert isinstance(err, OSError) and isinstance(err, ShmringError)
    assert f"for segment 'big': asked for 2,000,000 bytes, {free:,} free" in str(err)
    assert (err.size, err.free, err.path) == (2_000_000, free, str(small_tmpfs / "big"))
    assert _entries(small_tmpfs) == ["filler"]


def test_running_out_of_space_while_reserving_leaves_nothing_and_frees_what_it_took(
    small_tmpfs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel's ENOSPC from posix_fallocate, reached by skipping the statvfs pre-check."""
    free = _free(small_tmpfs)
    monkeypatch.setattr(segment_module, "_free_bytes", lambda directory: 1 << 40)

    with pytest.raises(NoSpaceError) as caught:
        Segment.create("big", 2 * free, directory=small_tmpfs)

    assert f"for segment 'big': asked for {2 * free:,} bytes" in str(caught.value), (
        "the error must name the segment asked for, not a temporary file"
    )
    assert isinstance(caught.value.__cause__, OSError)
    assert _entries(small_tmpfs) == []
    assert _free(small_tmpfs) == free, "memory reserved before the failure was not given back"


def test_asking_for_more_than_the_directory_reports_free_is_refused_up_front(shm_dir: Path) -> None:
    asked = 2 * _free(shm_dir) + (1 << 30)  # more than free, even if others free memory meanwhile

    with pytest.raises(NoSpaceError) as caught:
        Segment.create("huge", asked)

    assert f"not enough memory in {shm_dir} for segment 'huge': asked for {asked:,} bytes" in str(caught.value)
    assert "free (enlarge the tmpfs or choose fewer/smaller slots)" in str(caught.value)
    assert caught.value.size == asked
    assert _entries(shm_dir) == []
