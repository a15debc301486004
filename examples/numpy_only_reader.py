"""Read the newest frame of a shmring ring with numpy alone — no shmring import.

This is written from docs/format.md only, to show the specification is enough
for a program in any language. Run: ``python numpy_only_reader.py /dev/shm/cam0``.
"""

from __future__ import annotations

import json
import mmap
import sys
from typing import Any

import numpy as np

HEADER = np.dtype([("magic", "S8"), ("version", "<u4"), ("header_bytes", "<u4"),
                   ("total_bytes", "<u8"), ("slots", "<u4"), ("policy", "<u4"),
                   ("slot_stride", "<u8"), ("slot_bytes", "<u8"), ("meta_bytes", "<u4"),
                   ("reader_entries", "<u4"), ("created_ns", "<u8")])
SLOT = np.dtype([("seqlock", "<u8"), ("seq", "<u8"), ("payload_bytes", "<u8"), ("timestamp_ns", "<u8"),
                 ("monotonic_ns", "<u8"), ("flags", "<u4"), ("meta_len", "<u4"), ("dtype", "S8"),
                 ("ndim", "<u4"), ("pad", "<u4"), ("shape", "<u8", (4,))])
WRITE_SEQ = 128


def read_latest(path: str, attempts: int = 100) -> tuple[int, np.ndarray[Any, Any], dict[str, Any]]:
    """Return (seq, a copy of the payload, metadata) of the newest committed frame."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mem:
        # Slicing an mmap copies the bytes, so no numpy view pins the mapping.
        head = np.frombuffer(mem[0:HEADER.itemsize], HEADER)[0]
        if head["magic"] != b"SHMRING" or head["version"] != 1:
            raise ValueError(f"{path} is not a shmring v1 ring")
        payload_offset = -(-(128 + int(head["meta_bytes"])) // 64) * 64
        for _ in range(attempts):
            write_seq = int.from_bytes(mem[WRITE_SEQ:WRITE_SEQ + 8], "little")
            if write_seq == 0:
                raise LookupError("no frame written yet")
            seq = write_seq - 1
            # Slots start at header_bytes: 4096, or more when stream keywords follow the header page.
            slot = int(head["header_bytes"]) + (seq % int(head["slots"])) * int(head["slot_stride"])
            frame = _read_slot(mem, slot, seq, payload_offset)
            if frame is not None:
                return frame
        raise RuntimeError("the writer kept overwriting the newest slot; try again")


def _read_slot(mem: mmap.mmap, slot: int, seq: int, payload_offset: int
               ) -> tuple[int, np.ndarray[Any, Any], dict[str, Any]] | None:
    # Seqlock: the mark must read 2*seq+2 before and after the copy.
    mark = 2 * seq + 2
    h = np.frombuffer(mem[slot:slot + SLOT.itemsize], SLOT)[0]
    if int(h["seqlock"]) != mark:
        return None
    shape = tuple(int(n) for n in h["shape"][: int(h["ndim"])])
    start = slot + payload_offset
    dtype = np.dtype(h["dtype"].decode())
    data = np.frombuffer(mem[start:start + int(h["payload_bytes"])], dtype).reshape(shape)
    meta_raw = bytes(mem[slot + 128: slot + 128 + int(h["meta_len"])])
    if int.from_bytes(mem[slot:slot + 8], "little") != mark:
        return None
    return seq, data, _as_dict(json.loads(meta_raw)) if meta_raw else {}


def _as_dict(meta: Any) -> dict[str, Any]:
    """Metadata as keyword -> value: the object form as is, the card form's first value per keyword."""
    if isinstance(meta, dict):
        return meta
    out: dict[str, Any] = {}
    for keyword, value, _comment in meta:  # [keyword, value, comment] cards (docs/format.md)
        if keyword not in ("COMMENT", "HISTORY", ""):
            out.setdefault(keyword, value)
    return out


if __name__ == "__main__":
    seq, data, meta = read_latest(sys.argv[1])
    print(f"frame {seq}: {data.shape} {data.dtype}, min {data.min()}, max {data.max()}, meta {meta}")
