"""Bad input from Octave: an error with an identifier and a message naming the ring and the numbers;
the ring or file stays intact for every other process."""

from __future__ import annotations

import struct
from pathlib import Path

import _octave as octave
import numpy as np
import pytest

from shmring import Ring, SharedMem

pytestmark = pytest.mark.usefixtures("shm_dir")

# Each case runs in the one Octave process; ``got.<case>`` is {id, msg}, or "no error".
OCTAVE_CASES = """
cases = struct();
try, shmring.Ring.open('{missing}'); cases.missing_ring = 'no error';
catch e, cases.missing_ring = struct('id', e.identifier, 'msg', e.message); end
try, open(io.files.SharedMem('{missing_legacy}')); cases.missing_legacy = 'no error';
catch e, cases.missing_legacy = struct('id', e.identifier, 'msg', e.message); end
try, shmring.Ring.open('{garbage}'); cases.corrupt_ring = 'no error';
catch e, cases.corrupt_ring = struct('id', e.identifier, 'msg', e.message); end
try, open(io.files.SharedMem('{corrupt_legacy}')); cases.corrupt_legacy = 'no error';
catch e, cases.corrupt_legacy = struct('id', e.identifier, 'msg', e.message); end

ring = shmring.Ring.open('{ring}');
w = shmring.Writer(ring);
put(w, uint8([1 2 3]));
try, put(w, zeros(100, 100)); cases.too_large = 'no error';
catch e, cases.too_large = struct('id', e.identifier, 'msg', e.message); end
put(w, uint8([4 5 6]));
try, put(w, {{1, 2}}); cases.not_numeric = 'no error';
catch e, cases.not_numeric = struct('id', e.identifier, 'msg', e.message); end
try, put(w, uint8(1), [], 'Colour', 'red'); cases.unknown_option = 'no error';
catch e, cases.unknown_option = struct('id', e.identifier, 'msg', e.message); end
close(w);
r = shmring.Reader(ring);
try, get(r, 0.05); cases.timeout = 'no error';
catch e, cases.timeout = struct('id', e.identifier, 'msg', e.message); end
try, get(r, -1); cases.negative_timeout = 'no error';
catch e, cases.negative_timeout = struct('id', e.identifier, 'msg', e.message); end
close(r);
try, get(r, 0.05); cases.closed = 'no error';
catch e, cases.closed = struct('id', e.identifier, 'msg', e.message); end
close(ring);
try, shmring.Ring.create('{new}', 'SlotBytes', 64, 'Policy', 'sometimes'); cases.bad_policy = 'no error';
catch e, cases.bad_policy = struct('id', e.identifier, 'msg', e.message); end

m = io.files.SharedMem('{queue}');
open(m);
try, getBuf(m, 0, 'uint16'); cases.odd_length = 'no error';
catch e, cases.odd_length = struct('id', e.identifier, 'msg', e.message); end
fprintf('R:still_queued %s\\n', jsonencode(char(getBuf(m, 0))));
try, send(io.files.SharedMem('{msg}'), repmat('x', 1, 300), 1); cases.long_message = 'no error';
catch e, cases.long_message = struct('id', e.identifier, 'msg', e.message); end
close(m);
fprintf('R:cases %s\\n', jsonencode(cases));
"""


def test_bad_input_is_an_error_with_identifier_and_numbers(tmp_path: Path, shm_dir: Path,
                                                           unique_name: str) -> None:
    garbage = shm_dir / f"{unique_name}-garbage"
    garbage.write_bytes(b"\xab" * 8192)
    corrupt_legacy = tmp_path / "smem_corrupt"
    SharedMem.create(corrupt_legacy, 8, 3).close()
    with corrupt_legacy.open("r+b") as f:
        f.seek(4)
        f.write(struct.pack("<I", 999))  # memsize disagrees with 32 + (20 + 8) * 3 = 116
    corrupt_bytes = corrupt_legacy.read_bytes()
    queue = tmp_path / "smem_queue"
    with SharedMem.create(queue, 16, 2) as mem:
        assert mem.put_buf(b"12345")  # 5 bytes: no whole number of uint16

    with Ring.create(unique_name, slots=4, slot_bytes=4096) as ring, ring.reader() as reader:
        results = octave.run(OCTAVE_CASES.format(
            missing=f"{unique_name}-missing", missing_legacy=tmp_path / "smem_missing", garbage=garbage.name,
            corrupt_legacy=corrupt_legacy, ring=unique_name, new=f"{unique_name}-new", queue=queue,
            msg=tmp_path / "msg"), tmp_path)
        got = results["cases"]
        # The refused frame published nothing: the next two frames are seq 0 and 1, no loss.
        frames = [reader.get(timeout=10.0) for _ in range(2)]
        assert [f.data.tolist() for f in frames] == [[[1, 2, 3]], [[4, 5, 6]]]  # 1-by-3 rows: shape (1, 3)
        assert [(f.seq, f.lost) for f in frames] == [(0, 0), (1, 0)]
        with ring.writer() as w:  # still a working ring for everyone else
            w.put(np.zeros(4, np.uint8))
        assert reader.get(timeout=10.0).seq == 2

    def case(name: str, identifier: str, *words: str) -> None:
        found = got[name]
        assert found != "no error", f"{name}: Octave raised nothing"
        assert found["id"] == identifier, f"{name}: identifier {found['id']}, expected {identifier}"
        for word in words:
            assert word in found["msg"], f"{name}: {word!r} missing from {found['msg']!r}"

    case("missing_ring", "shmring:notFound", f"{unique_name}-missing")
    case("missing_legacy", "shmring:notFound", str(tmp_path / "smem_missing"))
    case("corrupt_ring", "shmring:layout", garbage.name)
    case("corrupt_legacy", "shmring:layout", str(corrupt_legacy), "memsize", "116", "999")
    case("too_large", "shmring:tooLarge", unique_name, "80000", "4096")
    case("not_numeric", "shmring:invalid", "cell")
    case("unknown_option", "shmring:invalid", "Colour")
    case("timeout", "shmring:timeout", unique_name, "0.05")
    case("negative_timeout", "shmring:invalid", "timeout", "-1")
    case("closed", "shmring:closed", unique_name)
    case("bad_policy", "shmring:invalid", "sometimes")
    case("odd_length", "shmring:frame", str(queue), "5 bytes", "2-byte")
    assert results["still_queued"] == "12345", "the refused buffer was lost"
    case("long_message", "shmring:tooLarge", "300", "255")
    assert corrupt_legacy.read_bytes() == corrupt_bytes, "the corrupt file was changed"
    assert garbage.read_bytes() == b"\xab" * 8192, "the foreign file was changed"
    assert not (shm_dir / f"{unique_name}-new").exists(), "a refused create left a ring behind"
