"""Hand-rolled baseline: ``multiprocessing.shared_memory`` slots + two posix_ipc semaphores.

The classic bounded buffer: ``spaces`` counts free slots, ``items`` filled ones.
Each slot is page-aligned: an 8-byte length, then the payload at offset 64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shmring._bench.base import ChannelSpec, Receiver, Sender, Transport, as_u8

_HEADER = 64
_PAGE = 4096


def _stride(nbytes: int) -> int:
    return -(-(_HEADER + nbytes) // _PAGE) * _PAGE


class _Ends:
    def __init__(self, spec: ChannelSpec, names: tuple[str, str, str]) -> None:
        from multiprocessing import shared_memory

        import posix_ipc

        self.shm = shared_memory.SharedMemory(name=names[0])
        self.items = posix_ipc.Semaphore(names[1])
        self.spaces = posix_ipc.Semaphore(names[2])
        self.busy = posix_ipc.BusyError
        stride, n = _stride(spec.nbytes), spec.nbytes
        mem = np.frombuffer(self.shm.buf, np.uint8)
        self.lengths = [mem[i * stride : i * stride + 8].view(np.uint64) for i in range(spec.depth)]
        self.payloads = [mem[i * stride + _HEADER : i * stride + _HEADER + n] for i in range(spec.depth)]
        self.shape, self.dtype, self.nbytes = spec.shape, np.dtype(spec.dtype), n
        self.i = 0

    def close(self) -> None:
        self.lengths = self.payloads = []
        self.items.close()
        self.spaces.close()
        self.shm.close()


class _Sender(_Ends, Sender):
    def send(self, buf: np.ndarray) -> None:
        with self.loan() as dst:
            np.copyto(dst.reshape(-1).view(np.uint8), as_u8(buf))

    def loan(self) -> _Sender:
        return self  # enter takes a free slot, a clean exit publishes it

    def __enter__(self) -> np.ndarray:
        self.spaces.acquire(30.0)
        return self.payloads[self.i % len(self.payloads)].view(self.dtype).reshape(self.shape)

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None:
            self.spaces.release()
            return
        self.lengths[self.i % len(self.payloads)][0] = self.nbytes
        self.i += 1
        self.items.release()


class _Receiver(_Ends, Receiver):
    def recv(self, timeout: float) -> Any:
        try:
            self.items.acquire(timeout)
        except self.busy:
            raise TimeoutError(f"no message within {timeout} s") from None
        slot = self.i % len(self.payloads)
        return self.payloads[slot][: int(self.lengths[slot][0])]

    def release(self) -> None:
        self.i += 1
        self.spaces.release()


class ShmPosixTransport(Transport):
    name = "shm+posix_ipc"
    description = "multiprocessing.shared_memory slots + posix_ipc semaphores (hand-rolled)"
    zero_copy_write = True

    def prepare(self, max_frame_bytes: int) -> None:
        # Start the parent's resource tracker before the workers fork, so they share it
        # (each would otherwise start its own and "clean up" our segments at exit).
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()

    def unavailable(self) -> str | None:
        try:
            import posix_ipc  # noqa: F401
        except ImportError:
            return "posix_ipc not installed (pip install posix-ipc)"
        return None

    @staticmethod
    def _names(spec: ChannelSpec) -> tuple[str, str, str]:
        base = f"shmbench-{spec.key}-{spec.index}"
        return base, f"/{base}-items", f"/{base}-spaces"

    def setup(self, key: str, specs: list[ChannelSpec]) -> Any:
        from multiprocessing import shared_memory

        import posix_ipc

        made = []
        for s in specs:
            shm_name, items, spaces = self._names(s)
            shm = shared_memory.SharedMemory(shm_name, create=True, size=s.depth * _stride(s.nbytes))
            posix_ipc.Semaphore(items, posix_ipc.O_CREX, initial_value=0).close()
            posix_ipc.Semaphore(spaces, posix_ipc.O_CREX, initial_value=s.depth).close()
            made.append((shm, items, spaces))
        return made

    def teardown(self, handle: Any) -> None:
        import posix_ipc

        for shm, items, spaces in handle:
            shm.close()
            shm.unlink()
            posix_ipc.unlink_semaphore(items)
            posix_ipc.unlink_semaphore(spaces)

    def sender(self, spec: ChannelSpec) -> Sender:
        return _Sender(spec, self._names(spec))

    def receiver(self, spec: ChannelSpec) -> Receiver:
        return _Receiver(spec, self._names(spec))
