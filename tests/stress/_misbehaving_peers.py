"""Openers whose peer program misbehaves on purpose, to show that a peer's crash or hang is pinned to its case."""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

from benchmarks.chaos.peers import Peer

#: A peer that answers "ok" for a file, dies of SIGSEGV on one whose CRC-32 is 0 mod 3, and never
#: answers one whose CRC-32 is 1 mod 7.
PEER_SCRIPT = """
import os, signal, sys, time, zlib
for line in sys.stdin:
    crc = zlib.crc32(open(line.strip(), "rb").read())
    if crc % 3 == 0:
        os.kill(os.getpid(), signal.SIGSEGV)
    if crc % 7 == 1:
        time.sleep(600)
    print("ok", flush=True)
"""

_peer = Peer([sys.executable, "-c", PEER_SCRIPT], answer_s=1.0)


def crashes_on(data: bytes) -> bool:
    return zlib.crc32(data) % 3 == 0


def hangs_on(data: bytes) -> bool:
    return not crashes_on(data) and zlib.crc32(data) % 7 == 1


def ask_misbehaving_peer(path: Path) -> None:
    """Hand the file to the peer; its answer must be "ok"."""
    answer = _peer.ask(str(path))
    if answer != "ok":
        raise AssertionError(f"the peer answered {answer!r}")
