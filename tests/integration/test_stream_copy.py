"""Payloads written with streaming stores (docs/c.md, "Environment") arrive byte for byte.

Which copy a writer uses is decided once per process from the cache size, so a
child process is started with ``SHMRING_STREAM_BYTES`` set: 1 streams every
payload, whatever its size or its source's alignment; 0 streams none.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import shmring

pytestmark = pytest.mark.usefixtures("shm_dir")

SIZES = [1, 15, 16, 63, 64, 65, 1000, 4097, (1 << 20) + 3]

WRITER = """
import sys
import numpy as np
import shmring
sizes = [int(s) for s in sys.argv[2:]]
with shmring.Ring.open(sys.argv[1]) as ring, ring.writer() as w:
    for n in sizes:
        raw = bytearray(((np.arange(n + 1, dtype=np.uint64) * 7 + n) & 0xFF).astype(np.uint8).tobytes())
        w.put(bytes(memoryview(raw)[1:]))  # a source that starts 1 byte past an allocation
        w.put(np.frombuffer(raw, np.uint8, n, 1))  # the same as an unaligned array
    w.put_many([bytes([n & 0xFF]) * n for n in sizes])
"""


def _expected(n: int) -> bytes:
    raw = ((np.arange(n + 1, dtype=np.uint64) * 7 + n) & 0xFF).astype(np.uint8).tobytes()
    return raw[1:]


@pytest.mark.parametrize("stream_bytes", ["1", "0"])
def test_a_python_writer_streaming_payloads_of_any_size_delivers_each_byte(unique_name: str,
                                                                          stream_bytes: str) -> None:
    with shmring.Ring.create(unique_name, slots=64, slot_bytes=max(SIZES), policy="block") as ring, \
            ring.reader(start="oldest") as r:
        env = {**os.environ, "SHMRING_STREAM_BYTES": stream_bytes}
        done = subprocess.run([sys.executable, "-c", WRITER, unique_name, *map(str, SIZES)], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        got = [bytes(f.data) for f in r.get_many(3 * len(SIZES), timeout=1)]
    want = [b for n in SIZES for b in (_expected(n), _expected(n))] + [bytes([n & 0xFF]) * n for n in SIZES]
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        first = next((k for k in range(len(w)) if g[k] != w[k]), None)
        assert g == w, f"frame {i} ({len(w)} bytes) differs, first at byte {first}"

