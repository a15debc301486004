"""watch through the real command: bounded samples of a ring with a live writer and reader."""

from __future__ import annotations

import json

from cli_helpers import Run

from shmring import Ring


def test_watch_json_prints_one_line_per_sample(shmring: Run, unique_name: str) -> None:
    with Ring.create(unique_name, slot_bytes=4096) as ring, ring.writer() as writer, \
            ring.reader(name="viewer") as reader:
        for k in range(5):
            writer.put(bytes([k]) * 8)
        reader.get(timeout=5)
        done = shmring("watch", unique_name, "--json", "--count", "2", "--interval", "0.1")
    samples = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(samples) == 2
    last = samples[-1]
    assert last["write_seq"] == 5 and last["writer_alive"] is True and last["frames_per_s"] == 0
    (row,) = last["readers"]
    assert (row["name"], row["alive"], row["lag"], row["received"]) == ("viewer", True, 4, 1)


def test_watch_table_and_missing_ring(shmring: Run, unique_name: str) -> None:
    Ring.create(unique_name, slot_bytes=4096).close()
    out = shmring("watch", unique_name, "--seconds", "0.1").stdout
    assert unique_name in out and "writer" in out and "none" in out
    done = shmring("watch", "no-such-ring", "--count", "1", check=1)
    assert done.stderr.startswith("shmring: error:") and "no-such-ring" in done.stderr
