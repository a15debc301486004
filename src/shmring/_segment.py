"""Named shared-memory segments: files under a directory, mapped into memory.

A segment named ``cam0`` is the file ``/dev/shm/cam0`` (the directory can be
changed with the ``SHMRING_DIR`` environment variable or per call), exactly
where ``shm_open("/cam0")`` puts it, so C code can map it without shmring.
An ``os.PathLike`` (e.g. ``pathlib.Path``) is taken as an explicit path.

Creation is atomic: the file is built unnamed (``O_TMPFILE``), its memory
reserved with ``posix_fallocate`` (so a full tmpfs is an error now, not a
SIGBUS on first touch later), initialised by the caller, and then
``link()``-ed to its name, which fails if the name exists. Nobody can see a
half-initialised segment, of N racing creators exactly one wins, and a
creator killed half-way leaves nothing behind: the kernel frees an unnamed
file with its last descriptor. Where ``O_TMPFILE`` is not supported the file
is built under a hidden temporary name instead (which a kill can leave).
"""

from __future__ import annotations

import errno
import mmap
import operator
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Union

from ._errors import ClosedError, LayoutError, SegmentExistsError
from ._fileops import back_holes, create_file, file_kind, link_unnamed, no_space, open_error, refuse_taken
from ._fileops import free_bytes as _free_bytes  # by this name, so a test can pretend a larger tmpfs

__all__ = ["DEFAULT_DIR", "NAME_RULE", "Segment", "list_segments", "resolve", "segment_dir", "unlink"]

DEFAULT_DIR = "/dev/shm"
NAME_RULE = "1 to 200 characters from [A-Za-z0-9._-], not starting with '.'"
_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")

NameOrPath = Union[str, "os.PathLike[str]"]


def segment_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """The directory segments live in: ``directory``, else ``$SHMRING_DIR``, else /dev/shm."""
    return Path(directory if directory is not None else os.environ.get("SHMRING_DIR") or DEFAULT_DIR)


def validate_name(name: object) -> str:
    """Return ``name`` if it is a valid segment name, else raise ValueError naming the rule."""
    if not isinstance(name, str):
        raise TypeError(f"segment name must be a str (or a pathlib.Path for an explicit path), got {name!r}")
    if not _NAME_RE.fullmatch(name):
        shown = repr(name) if len(name) <= 60 else f"{name[:57]!r}... ({len(name)} characters)"
        raise ValueError(f"segment name must be {NAME_RULE}; got {shown}")
    return name


def resolve(name_or_path: NameOrPath, directory: str | os.PathLike[str] | None = None) -> Path:
    """The file of a segment: a checked name under :func:`segment_dir`, or an explicit path."""
    if isinstance(name_or_path, os.PathLike):
        return Path(name_or_path)
    return segment_dir(directory) / validate_name(name_or_path)


def _as_size(size: object) -> int:
    """``size`` as an int (numpy integers welcome); a float or bool is a TypeError."""
    if isinstance(size, bool):
        raise TypeError(f"segment size must be an int (bytes), got {size!r}")
    try:
        return operator.index(size)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"segment size must be an int (bytes), got {size!r}") from None


class Segment:
    """One mapped segment file. Create with :meth:`create`, attach with :meth:`open`.

    Attributes:
        path: the file's path.
        fd: an open descriptor of the file (read-write unless opened read-only).
        buf: the ``mmap`` of the whole file.
        size: its size in bytes.
        identity: ``(st_dev, st_ino)`` of the file mapped, to tell it apart from a
            file created later under the same name.
    """

    def __init__(self, path: Path, fd: int, buf: mmap.mmap, writable: bool) -> None:
        st = os.fstat(fd)
        self.path = path
        self.fd = fd
        self.buf: mmap.mmap | None = buf
        self.size = st.st_size
        self.writable = writable
        self.identity = (st.st_dev, st.st_ino)

    # -- lifecycle -------------------------------------------------------

    @classmethod
    def create(
        cls,
        name_or_path: NameOrPath,
        size: int,
        *,
        directory: str | os.PathLike[str] | None = None,
        mode: int = 0o600,
        init: Callable[[mmap.mmap], None] | None = None,
    ) -> Segment:
        """Create a zero-filled segment of ``size`` bytes, run ``init`` on it, then publish it.

        Args:
            name_or_path: segment name (see :data:`NAME_RULE`) or explicit path.
            size: bytes to reserve (> 0).
            directory: where a bare name lives (default ``$SHMRING_DIR`` or /dev/shm).
            mode: permission bits, exactly (the umask is not applied); 0o600 by default.
            init: called with the writable mapping before the name appears.

        Raises:
            SegmentExistsError: the name is taken.
            NoSpaceError: the directory's filesystem cannot hold ``size`` more bytes.
        """
        size = _as_size(size)
        if size <= 0:
            raise ValueError(f"segment size must be > 0 bytes, got {size}")
        if not 0 <= mode <= 0o777:
            raise ValueError(f"mode must be permission bits 0o000..0o777, got {mode:#o}")
        path = resolve(name_or_path, directory)
        refuse_taken(path)
        if size > _free_bytes(path.parent):
            raise no_space(path, size)
        fd, tmp = create_file(path, mode, size)
        try:
            seg = cls._build(path, fd, size, mode, init)
        except BaseException:
            os.close(fd)
            if tmp is not None:
                os.unlink(tmp)
            raise
        try:
            cls._publish(fd, tmp, path)
        except BaseException:
            seg.close()
            raise
        finally:
            if tmp is not None:
                os.unlink(tmp)
        return seg

    @classmethod
    def _build(cls, path: Path, fd: int, size: int, mode: int,
               init: Callable[[mmap.mmap], None] | None) -> Segment:
        os.fchmod(fd, mode)  # open() applied the umask; the caller asked for exactly `mode`
        try:
            # tmpfs allocates pages lazily; reserving them now turns "no memory"
            # into an error here instead of a SIGBUS in whoever touches a page.
            os.posix_fallocate(fd, 0, size)
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EFBIG):
                # Name the segment the user asked for, not the hidden temporary file.
                raise no_space(path, size) from err
            if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            os.ftruncate(fd, size)  # a filesystem without fallocate: best effort
        buf = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            if init is not None:
                init(buf)
        except BaseException:
            buf.close()
            raise
        return cls(path, fd, buf, True)

    @staticmethod
    def _publish(fd: int, tmp: Path | None, path: Path) -> None:
        try:
            if tmp is not None:
                os.link(tmp, path)  # atomic, and never replaces an existing name
            else:
                link_unnamed(fd, path)
        except FileExistsError:
            raise SegmentExistsError(f"segment {path} already exists", path=str(path)) from None

    @classmethod
    def open(
        cls,
        name_or_path: NameOrPath,
        *,
        directory: str | os.PathLike[str] | None = None,
        min_size: int = 1,
        writable: bool = True,
    ) -> Segment:
        """Map an existing segment.

        Refuses symbolic links, directories, FIFOs and other non-regular
        files, and files smaller than ``min_size`` bytes, before mapping. A
        writable file with holes (made by a program that did not reserve its
        memory) has them reserved first, so a full tmpfs is an error here, not
        a SIGBUS on the first write.

        Raises:
            SegmentNotFoundError, SegmentPermissionError, LayoutError,
            NoSpaceError (a file with holes and no memory left to back them).
        """
        path = resolve(name_or_path, directory)
        flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            fd = os.open(path, flags)
        except OSError as err:
            raise open_error(err, path) from None
        try:
            buf = cls._map_checked(path, fd, min_size, writable)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, buf, writable)

    @staticmethod
    def _map_checked(path: Path, fd: int, min_size: int, writable: bool) -> mmap.mmap:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = file_kind(st.st_mode)
            raise LayoutError(f"{path} is a {kind}, not a segment", path=str(path),
                              field="file type", expected="regular file", found=kind)
        needed = max(min_size, 1)  # an empty file cannot be mapped
        if st.st_size < needed:
            raise LayoutError(
                f"segment {path} is truncated: {st.st_size} bytes, at least {needed} expected",
                path=str(path), field="file size", expected=needed, found=st.st_size,
            )
        if writable and st.st_blocks * 512 < st.st_size:
            back_holes(path, fd, st.st_size)
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        return mmap.mmap(fd, st.st_size, mmap.MAP_SHARED, prot)

    def close(self) -> None:
        """Unmap and close this handle (other processes are unaffected). Idempotent.

        Raises:
            BufferError: numpy views of the mapping are still alive; release them first.
        """
        if self.buf is None:
            return
        self.buf.close()
        self.buf = None
        os.close(self.fd)

    def unlink(self) -> None:
        """Remove the segment's name, if it still names this file; mappings stay valid."""
        if self.replaced():
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    # -- queries ---------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.buf is None

    def mapping(self) -> mmap.mmap:
        """The mapping, or ClosedError after :meth:`close`."""
        if self.buf is None:
            raise ClosedError(f"segment {self.path} was closed")
        return self.buf

    def replaced(self) -> bool:
        """Whether the path no longer names the file mapped (removed, or re-created)."""
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return True
        return (st.st_dev, st.st_ino) != self.identity

    def __repr__(self) -> str:
        state = "closed" if self.buf is None else f"{self.size} bytes"
        return f"<Segment {str(self.path)!r} {state}>"


def unlink(name_or_path: NameOrPath, directory: str | os.PathLike[str] | None = None) -> None:
    """Remove a segment's name. Processes that have it mapped keep working.

    Raises:
        SegmentNotFoundError: nothing by that name.
    """
    path = resolve(name_or_path, directory)
    try:
        os.unlink(path)
    except OSError as err:
        raise open_error(err, path) from None


def list_segments(directory: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """Yield the regular files under the directory whose names are valid segment names, sorted."""
    base = segment_dir(directory)
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except FileNotFoundError:
        return
    for entry in entries:
        if _NAME_RE.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            yield Path(entry.path)


def names_with_magic(magic: bytes, directory: str | os.PathLike[str] | None = None) -> list[str]:
    """Names of the segments in the directory whose first bytes are ``magic``, sorted.

    Files that vanish or may not be read while we look are left out: a listing
    is a snapshot, and a file we cannot read is not ours to describe.
    """
    names = []
    for path in list_segments(directory):
        try:
            with open(path, "rb") as f:
                if f.read(len(magic)) == magic:
                    names.append(path.name)
        except OSError:
            continue
    return names
