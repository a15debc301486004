"""libshmring's legacy Locker is Python's: the same lock file, and each excludes the other."""

from __future__ import annotations

import ctypes
from pathlib import Path

import _libshmring as lib
import pytest

from shmring.legacy import Locker, SharedMem

pytestmark = pytest.mark.usefixtures("shm_dir")

ETIMEDOUT = -1


@pytest.fixture(scope="module")
def c() -> ctypes.CDLL:
    so = lib.build_library().with_name("libshmring.so")
    dll = ctypes.CDLL(str(so))
    dll.shmring_locker_for_file.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    dll.shmring_locker_acquire.argtypes = [ctypes.c_void_p, ctypes.c_double]
    dll.shmring_locker_release.argtypes = [ctypes.c_void_p]
    dll.shmring_locker_close.argtypes = [ctypes.c_void_p]
    dll.shmring_locker_path.argtypes = [ctypes.c_void_p]
    dll.shmring_locker_path.restype = ctypes.c_char_p
    dll.shmring_errmsg.restype = ctypes.c_char_p
    return dll


def test_c_and_python_lock_each_other_out(c: ctypes.CDLL, tmp_path: Path) -> None:
    path = tmp_path / "smem_locked"
    SharedMem.create(path, 8, 2).close()
    handle = ctypes.c_void_p()
    assert c.shmring_locker_for_file(str(path).encode(), ctypes.byref(handle)) == 0, c.shmring_errmsg()
    py = Locker.for_file(path)
    try:
        assert Path(c.shmring_locker_path(handle).decode()) == py.path
        assert c.shmring_locker_acquire(handle, 1.0) == 0, c.shmring_errmsg()
        assert py.locked(), "Python does not see the lock C holds"
        assert py.acquire(timeout=0) is False
        c.shmring_locker_release(handle)
        assert py.acquire(timeout=1.0)
        assert c.shmring_locker_acquire(handle, 0.05) == ETIMEDOUT, "C took the lock Python holds"
        assert b"still held" in c.shmring_errmsg()
        py.release()
        assert c.shmring_locker_acquire(handle, 1.0) == 0, c.shmring_errmsg()
        c.shmring_locker_release(handle)
    finally:
        py.close()
        c.shmring_locker_close(handle)
