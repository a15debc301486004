"""What the filesystem does to a segment file: create it unnamed, name it, back it, refuse it.

The steps under :class:`shmring._segment.Segment` that talk to the kernel, and
the errno values they meet translated into the errors a user can act on.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

from ._errors import LayoutError, NoSpaceError, SegmentExistsError, SegmentNotFoundError, SegmentPermissionError

__all__ = ["back_holes", "create_file", "file_kind", "free_bytes", "link_unnamed", "no_access", "no_space",
           "open_error", "refuse_taken"]


def free_bytes(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def no_space(path: Path, size: int) -> NoSpaceError:
    free = free_bytes(path.parent)
    return NoSpaceError(
        f"not enough memory in {path.parent} for segment {path.name!r}: asked for {size:,} bytes, "
        f"{free:,} free (enlarge the tmpfs or choose fewer/smaller slots)",
        path=str(path),
        size=size,
        free=free,
    )


def open_error(err: OSError, path: Path) -> Exception:
    """Translate an ``os.open`` failure into the error a user can act on."""
    if err.errno == errno.ENOENT:
        return SegmentNotFoundError(f"no segment at {path}", path=str(path))
    if err.errno in (errno.EACCES, errno.EPERM):
        return SegmentPermissionError(f"permission denied opening segment {path} ({err.strerror})", path=str(path))
    if err.errno == errno.ELOOP:
        return LayoutError(
            f"{path} is a symbolic link; segments must be regular files (links are never followed)",
            path=str(path), field="file type", expected="regular file", found="symbolic link",
        )
    if err.errno == errno.EISDIR:
        return LayoutError(
            f"{path} is a directory, not a segment", path=str(path),
            field="file type", expected="regular file", found="directory",
        )
    if err.errno in (errno.ENXIO, errno.ENODEV):  # a socket, or a device with no driver behind it
        try:
            kind = file_kind(os.lstat(path).st_mode)
        except OSError:
            kind = "special file"
        return LayoutError(f"{path} is a {kind}, not a segment", path=str(path),
                           field="file type", expected="regular file", found=kind)
    return err


def no_access(path: Path, err: OSError) -> SegmentPermissionError:
    return SegmentPermissionError(
        f"permission denied creating segment {path} ({err.strerror}): "
        f"this user may not search or write the directory {path.parent}",
        path=str(path),
    )


def refuse_taken(path: Path) -> None:
    """Fail early (and cheaply) when the name is taken; ``link()`` settles races later."""
    try:
        os.lstat(path)  # any kind of file, a dangling symlink included, takes the name
    except FileNotFoundError:
        return
    except PermissionError as err:
        raise no_access(path, err) from None
    raise SegmentExistsError(f"segment {path} already exists", path=str(path))


_O_TMPFILE = getattr(os, "O_TMPFILE", 0)


def create_file(path: Path, mode: int, size: int) -> tuple[int, Path | None]:
    """An unnamed file in ``path``'s directory, or (where unsupported) a hidden temporary one and its name.

    A refused directory is a SegmentPermissionError; a filesystem with no room
    for another file (out of inodes) a NoSpaceError.
    """
    try:
        if _O_TMPFILE and os.path.isdir("/proc/self/fd"):
            try:
                return os.open(path.parent, _O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, mode), None
            except OSError as err:
                if err.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                    raise
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        return os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode), tmp
    except PermissionError as err:
        raise no_access(path, err) from None
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
        raise NoSpaceError(
            f"no room for another file in {path.parent} for segment {path.name!r} ({err.strerror}: "
            f"the filesystem is out of inodes or memory; {free_bytes(path.parent):,} bytes free)",
            path=str(path), size=size, free=free_bytes(path.parent)) from None


def link_unnamed(fd: int, path: Path) -> None:
    """Give the unnamed file ``fd`` the name ``path`` (FileExistsError if taken).

    linkat(AT_SYMLINK_FOLLOW) of the descriptor's /proc entry names the file
    itself; os.link passes that flag only when it is given a directory fd.
    """
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.link(f"/proc/self/fd/{fd}", path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def back_holes(path: Path, fd: int, size: int) -> None:
    """Reserve the memory of a file with holes (made by ftruncate, as C programs do) before mapping it.

    On a full tmpfs the first store into a hole kills the process with
    SIGBUS; reserving now makes that a NoSpaceError at open instead.
    """
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EFBIG):
            free = free_bytes(path.parent)
            raise NoSpaceError(
                f"segment {path} was made without reserving its memory ({size:,} bytes, with holes) and "
                f"{path.parent} has {free:,} bytes free: writing it would crash (SIGBUS); free memory there",
                path=str(path), size=size, free=free) from None
        if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise


def file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return kind
    return "special file"
