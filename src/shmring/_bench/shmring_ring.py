"""shmring's native ring behind the benchmark's transport interface (public API only)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from .._ring import Ring
from .base import ChannelSpec, Receiver, Sender, Transport

SPIN = 50e-6  # seconds the "shmring-spin" reader spins before it blocks



class _Sender(Sender):
    def __init__(self, spec: ChannelSpec, name: str) -> None:
        self.ring = Ring.open(name)
        self.w = self.ring.writer()
        self.shape, self.dtype = spec.shape, np.dtype(spec.dtype)

    def send(self, buf: np.ndarray) -> None:
        self.w.put(buf, timeout=30.0)

    def send_many(self, bufs: list[bytes]) -> None:
        self.w.put_many(bufs, timeout=30.0)

    def loan(self) -> AbstractContextManager[np.ndarray]:
        return self.w.reserve(self.shape, self.dtype)  # the Reservation itself: no wrapper

    def close(self) -> None:
        self.w.close()
        self.ring.close()


class _Receiver(Receiver):
    def __init__(self, name: str, spin: float | None) -> None:
        self.ring = Ring.open(name)
        self.r = self.ring.reader(start="next")
        self.kw: dict[str, Any] = {"view": True}
        if spin is not None:
            self.kw["spin"] = spin
        self.frame: Any = None

    def recv(self, timeout: float) -> Any:
        self.frame = self.r.get(timeout=timeout, **self.kw)
        return self.frame.data

    def recv_many(self, max_n: int, timeout: float) -> list[Any]:
        return self.r.get_bytes_many(max_n, timeout=timeout)  # copies: nothing to release

    def release(self) -> None:
        self.frame.release()
        self.frame = None

    def close(self) -> None:
        self.r.close()
        self.ring.close()


class _MessageReceiver(_Receiver):
    """Messages (below ``base.BIG`` bytes) are read with ``get_bytes``: a copy of a few bytes costs less than a view."""

    def recv(self, timeout: float) -> Any:
        return self.r.get_bytes(timeout=timeout, spin=self.kw.get("spin"))

    def release(self) -> None:
        pass  # a copy: nothing is pinned


class ShmringTransport(Transport):
    """``block`` policy (lossless), ``put`` to copy in, ``reserve`` in place; views of frames, bytes of messages."""

    zero_copy_write = True
    batched = True

    def __init__(self, spin: float | None = None) -> None:
        self.spin = spin
        self.name = "shmring" if spin is None else "shmring-spin"
        how = "spins a learned while, then blocks" if spin is None else f"spins {spin * 1e6:.0f} us, then blocks"
        self.description = f"shmring.Ring, policy=block, view reads of frames, get_bytes of messages; reader {how}"

    def _name(self, spec: ChannelSpec) -> str:
        return f"bench-{spec.key}-{spec.index}"

    def setup(self, key: str, specs: list[ChannelSpec]) -> Any:
        made: list[Ring] = []
        try:
            for s in specs:
                made.append(Ring.create(self._name(s), slots=s.depth, slot_bytes=s.nbytes, policy="block"))
        except BaseException:  # Ctrl-C included: leave no ring behind
            self.teardown(made)
            raise
        return made

    def teardown(self, handle: Any) -> None:
        for ring in handle:
            ring.unlink()
            ring.close()

    def sender(self, spec: ChannelSpec) -> Sender:
        return _Sender(spec, self._name(spec))

    def receiver(self, spec: ChannelSpec) -> Receiver:
        kind = _Receiver if spec.big else _MessageReceiver
        return kind(self._name(spec), self.spin)


def shmring_transports() -> list[Transport]:
    """``shmring`` (the default learned spin, then the futex) and ``shmring-spin`` (spins ``SPIN`` s first)."""
    return [ShmringTransport(), ShmringTransport(spin=SPIN)]
