"""Robust cross-process locks and liveness leases on byte ranges of a file.

Both are open-file-description (OFD) locks, ``F_OFD_SETLK[W]``/``F_OFD_GETLK``:

* The kernel owns them. When the process holding one dies for any reason,
  SIGKILL included, its descriptors are closed and the lock is gone. No pid
  is written anywhere, so nothing goes stale and PID namespaces do not matter.
* They belong to an *open file description*, not to a process. Every
  :class:`RangeLock` and :class:`Lease` therefore opens its own description of
  the file (through ``/proc/self/fd``), so two objects in one process exclude
  each other exactly as two processes do.
* A ``fork()`` child shares its parent's descriptions and so its locks: a
  child must open segments anew instead of using inherited handles. An
  inherited :class:`RangeLock` refuses to work in the child (its ``release``
  would otherwise unlock the parent's lock).

Waiting: the kernel can sleep on a lock (``F_OFD_SETLKW``) but offers no
timeout. A wait with a deadline therefore sleeps on a futex *release word*
that every unlocker bumps (when the lock has one; shmring's own locks always
do) and retries the lock when woken. A holder that dies wakes nobody, so the
sleep is cut into slices of at most :data:`DEATH_RECHECK_S` seconds, after
which the lock is tried again.
"""

from __future__ import annotations

import os
import threading
import time
from types import TracebackType

from . import _format as F
from . import _sync
from ._errors import ClosedError, WaitTimeout

__all__ = ["DEATH_RECHECK_S", "Lease", "RangeLock", "WakeWord", "reopen"]

#: Longest sleep (seconds) before a waiter re-tries a lock whose holder may have died.
DEATH_RECHECK_S = 0.02

# Offsets of the two 32-bit words of a wake word (one definition, in _format):
# a release counter (the futex word) and the number of sleepers (so unlockers
# skip the syscall).
_SEQ = F.WAKE_COUNTER
_SLEEPERS = F.WAKE_SLEEPERS


def reopen(fd: int, *, writable: bool = True) -> int:
    """Open a new open file description of the file behind ``fd``.

    ``/proc/self/fd/N`` names the very inode ``fd`` refers to, even when the
    file has since been unlinked or replaced under its path.
    """
    flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC
    return os.open(f"/proc/self/fd/{fd}", flags)


class WakeWord:
    """A pair of 32-bit words in shared memory: a counter waiters sleep on, and a sleeper count.

    Two ways to use it, both free of lost wake-ups (all read-modify-writes are
    sequentially consistent):

    * lock releases: :meth:`announce` always bumps the counter and makes the
      wake syscall only when someone sleeps; :meth:`sleep` registers, waits
      and unregisters (the waiter took its :meth:`snapshot` before looking).
    * a ring's notify and space words, where the writer must not pay even the
      bump when nobody waits: :meth:`wake_sleepers` bumps only if someone is
      registered, so a sleeper :meth:`register`-s *before* re-checking its
      condition, then :meth:`wait`-s, then :meth:`unregister`-s.

    Args:
        buf: a writable buffer shared by every user (the segment's mmap).
        offset: 8-byte aligned offset of the pair in ``buf``: the counter,
            then the sleeper count.
    """

    def __init__(self, buf: object, offset: int) -> None:
        self.buf = buf
        self.offset = offset

    def snapshot(self) -> int:
        return _sync.load32(self.buf, self.offset + _SEQ)

    def register(self) -> None:
        _sync.fetch_add32(self.buf, self.offset + _SLEEPERS, 1)

    def unregister(self) -> None:
        _sync.fetch_add32(self.buf, self.offset + _SLEEPERS, -1)

    def wait(self, seen: int, timeout: float | None) -> int:
        """Sleep while the counter still reads ``seen`` (call between register and unregister)."""
        return _sync.futex_wait(self.buf, self.offset + _SEQ, seen, timeout)

    def sleep(self, seen: int, timeout: float) -> None:
        # Count ourselves in before sleeping; the unlocker bumps the counter
        # before it reads the sleeper count, so either it sees us and wakes
        # us, or we see the new value and return.
        self.register()
        try:
            self.wait(seen, timeout)
        finally:
            self.unregister()

    def announce(self) -> None:
        _sync.fetch_add32(self.buf, self.offset + _SEQ, 1)
        if _sync.load32(self.buf, self.offset + _SLEEPERS):
            _sync.futex_wake(self.buf, self.offset + _SEQ)

    def spin_past(self, seen: int, seconds: float) -> bool:
        """Busy-poll (in C, GIL released) up to ``seconds`` for the counter to leave ``seen``; True if it did."""
        return _sync.spin_while32(self.buf, self.offset + _SEQ, seen, seconds) != seen

    def wake_sleepers(self) -> None:
        """Bump and wake only if someone registered (the ring's per-frame path)."""
        if _sync.load32(self.buf, self.offset + _SLEEPERS):
            self.wake_all()

    def wake_all(self) -> None:
        _sync.fetch_add32(self.buf, self.offset + _SEQ, 1)
        _sync.futex_wake(self.buf, self.offset + _SEQ)


class RangeLock:
    """An exclusive cross-process lock on ``length`` bytes at ``start`` of a file.

    Usable as a context manager. Threads of one process share a
    ``RangeLock`` object safely: they queue on an in-process lock first.
    Not re-entrant: a thread that acquires it twice waits for itself.
    After ``fork()`` the child's copy is unusable (``acquire`` raises
    ClosedError, ``release`` does nothing): the open file description, and so
    the lock, is the parent's.

    Args:
        fd: any open descriptor of the file (the lock opens its own description).
        start: first byte of the range (>= 0).
        length: number of bytes (>= 1).
        wake: a :class:`WakeWord` in memory shared by all users, for timed
            waits that wake on release instead of re-checking.
        timeout: how long ``with lock:`` waits, in seconds; None waits forever.
    """

    def __init__(
        self,
        fd: int,
        start: int,
        length: int = 1,
        *,
        wake: WakeWord | None = None,
        timeout: float | None = None,
    ) -> None:
        if start < 0 or length < 1:
            raise ValueError(f"lock range needs start >= 0 and length >= 1, got start={start} length={length}")
        self._fd: int | None = reopen(fd)
        self.start = start
        self.length = length
        self.timeout = timeout
        self._wake = wake
        self._thread_lock = threading.Lock()
        self._held = False
        self._pid = os.getpid()  # the process whose lock this is (see fork() above)

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._held

    def acquire(self, timeout: float | None = None) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds (None: forever).

        Returns:
            True once held; False only for ``timeout=0`` when it is taken.

        Raises:
            WaitTimeout: the deadline passed with the lock still held elsewhere.
            ClosedError: the lock object was closed.
        """
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must be >= 0 seconds or None, got {timeout!r}")
        self._require_fd()  # before the thread lock, which a fork() child may inherit locked
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=-1 if timeout is None else timeout):
            return self._timed_out(timeout)
        try:
            got = self._acquire_ofd(deadline)
        except BaseException:
            self._thread_lock.release()
            raise
        if not got:
            self._thread_lock.release()
            return self._timed_out(timeout)
        self._held = True
        return True

    def _acquire_ofd(self, deadline: float | None) -> bool:
        fd = self._require_fd()
        if deadline is None:
            return _sync.ofd_lock(fd, self.start, self.length, True, True)
        while True:
            seen = self._wake.snapshot() if self._wake else 0
            if _sync.ofd_lock(fd, self.start, self.length, True, False):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._pause(seen, min(remaining, DEATH_RECHECK_S))

    def _pause(self, seen: int, seconds: float) -> None:
        if self._wake is not None:
            self._wake.sleep(seen, seconds)
        else:
            # No shared word to sleep on: the only option left is a short,
            # bounded re-check (the kernel has no timed OFD wait).
            time.sleep(seconds)

    def _timed_out(self, timeout: float | None) -> bool:
        if timeout == 0:
            return False
        raise WaitTimeout(
            f"lock on bytes {self.start}..{self.start + self.length - 1} still held by another "
            f"process after {timeout} s",
            timeout=timeout,
        )

    def release(self) -> None:
        """Release the lock (a no-op when not held)."""
        if not self._held or self._pid != os.getpid():
            # In a fork() child the description, and so the lock, is the parent's:
            # unlocking it here would let a third process in under the parent.
            return
        self._held = False
        _sync.ofd_unlock(self._require_fd(), self.start, self.length)
        if self._wake is not None:
            self._wake.announce()
        self._thread_lock.release()

    def is_held_by_someone_else(self) -> bool:
        """Whether another open file description (another process or object) holds the range."""
        return _sync.ofd_held(self._require_fd(), self.start, self.length)

    def close(self) -> None:
        """Release if held and close this lock's file description."""
        self.release()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _require_fd(self) -> int:
        if self._fd is None:
            raise ClosedError("the lock was closed")
        if self._pid != os.getpid():
            raise ClosedError(
                f"this lock on bytes {self.start}..{self.start + self.length - 1} was inherited through "
                f"fork() from process {self._pid}; open the segment again in this process"
            )
        return self._fd

    def __enter__(self) -> RangeLock:
        self.acquire(self.timeout)
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)  # type: ignore[arg-type]


class Lease:
    """Hold one byte of a file locked for as long as this object lives: a sign of life.

    Use :meth:`try_take` to claim a byte, exclusively (one holder: a reader's
    table entry, a sole writer) or shared (any number of holders, but none
    beside an exclusive one: shared writers, open ring handles). Anyone may
    ask :func:`Lease.is_held` whether a byte is still leased. The kernel drops
    the lease when the holder closes it or dies.
    """

    def __init__(self, fd: int, byte: int, *, shared: bool = False) -> None:
        """Wrap an already-locked description; use :meth:`try_take`."""
        self._fd: int | None = fd
        self.byte = byte
        self.shared = shared

    @classmethod
    def try_take(cls, fd: int, byte: int, *, shared: bool = False) -> Lease | None:
        """Lease ``byte`` of the file behind ``fd``, never waiting.

        Args:
            fd: any open descriptor of the file (the lease opens its own description).
            byte: the byte to lease.
            shared: take a shared lease, which coexists with other shared ones.

        Returns:
            The lease; None if the byte is held in a conflicting way (any lease
            when asking for exclusive, an exclusive one when asking for shared).
        """
        own = reopen(fd)
        try:
            if _sync.ofd_lock(own, byte, 1, not shared, False):
                return cls(own, byte, shared=shared)
        except BaseException:
            os.close(own)
            raise
        os.close(own)
        return None

    @classmethod
    def take(cls, fd: int, byte: int, *, shared: bool = False) -> Lease:
        """Lease ``byte``, waiting in the kernel (``F_OFD_SETLKW``) while a conflicting lease is held.

        Only for bytes that are held in the conflicting way for an instant
        (``shmring gc``'s exclusive probe of a lock file): the wait has no timeout.
        """
        own = reopen(fd)
        try:
            _sync.ofd_lock(own, byte, 1, not shared, True)
        except BaseException:
            os.close(own)
            raise
        return cls(own, byte, shared=shared)

    @staticmethod
    def is_held(probe_fd: int, byte: int) -> bool:
        """Whether anyone holds a lease on ``byte``, asked through ``probe_fd``.

        ``probe_fd`` must be a description that holds no lease itself (the
        kernel never reports a conflict with the asker's own locks).
        """
        return _sync.ofd_held(probe_fd, byte, 1)

    @property
    def alive(self) -> bool:
        """Whether this lease is still held (not yet released)."""
        return self._fd is not None

    def release(self) -> None:
        """Give the lease up (closing the description drops the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.release()
