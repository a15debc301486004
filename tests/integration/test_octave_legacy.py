"""The seed's io.files.SharedMem in a real Octave process, on the bytes Python and the C peer use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import _legacy_children as kids
import _octave as octave
import numpy as np
import pytest
from requires import require_program

from shmring import SharedMem
from shmring.legacy import answer, send

pytestmark = pytest.mark.usefixtures("shm_dir")

PEER_SOURCE = Path(__file__).parent / "c" / "legacy_peer.c"
IMAGE = np.fromfunction(lambda r, c: 100 * r + c, (4, 7)).astype(np.uint16)  # height 4, width 7


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The C peer written from docs/format-legacy.md alone."""
    cc = require_program("gcc", "gcc")
    exe = tmp_path_factory.mktemp("cpeer") / "legacy_peer"
    build = subprocess.run([cc, "-std=c11", "-O2", "-o", str(exe), str(PEER_SOURCE)], capture_output=True,
                           text=True, timeout=120, check=False)
    assert build.returncode == 0, f"the C peer does not compile:\n{build.stderr}"
    return exe


def _peer(peer: Path, *args: str) -> list[str]:
    done = subprocess.run([str(peer), *args], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, f"legacy_peer {' '.join(args)} failed ({done.returncode}): {done.stderr}"
    return done.stdout.splitlines()


OCTAVE_SCRIPT = """
m = io.files.SharedMem('{from_py}');
open(m);
[img, c, w, h, f] = getBuf(m, 5, 'uint16');
fprintf('R:image %s\\n', jsonencode(struct('value', img, 'size', size(img), 'counter', c, 'w', w, 'h', h, 'f', f)));
[b, c] = getBuf(m, 5);
fprintf('R:bytes %s\\n', jsonencode(struct('text', char(b), 'class', class(b), 'counter', c)));
fprintf('R:empty %s\\n', jsonencode(isempty(doGetBuf(m))));
close(m);

out = io.files.SharedMem('{to_py}', 56, 4);
[c, r] = meshgrid(0:6, 0:3);
[c3, r3, ch] = meshgrid(0:2, 0:1, 0:2);
fprintf('R:stored %s\\n', jsonencode([putBuf(out, uint16(100 * r + c), [], [], 1), putBuf(out, 'abc'), ...
                                      putBuf(out, uint8(50 * r3 + 10 * c3 + ch), [], [], 2)]));
close(out);

cf = io.files.SharedMem('{from_c}');
open(cf);
got = {{}};
for k = 1:4
    [b, c, w, h, f] = doGetBuf(cf);
    if isempty(b), got{{end + 1}} = 'empty'; else
        got{{end + 1}} = sprintf('buf %d %d %d %d %d %s', c, numel(b), w, h, f, lower(reshape(dec2hex(b, 2).', 1, [])));
    end
end
fprintf('R:from_c %s\\n', jsonencode(got));
fprintf('R:to_c %s\\n', jsonencode(putBuf(cf, uint8([1 2 3]), 3, 1, 7)));
close(cf);
fprintf('R:unitTest %s\\n', jsonencode(io.files.SharedMem.unitTest('{self_test}')));
first = io.files.SharedMem('{recreated}', 8, 2);
follower = io.files.SharedMem('{recreated}'); open(follower);
unlink(first);  % as the C++ init() does: delete, then create anew (another geometry)
again = io.files.SharedMem('{recreated}', 4, 5);
putBuf(again, uint8([9 8 7 6]));
fprintf('R:followed %s\\n', jsonencode(struct('buf', getBuf(follower, 5), 'reattached', header(follower).reattached, ...
                                          'item_size', header(follower).item_size)));
close(follower); unlink(again);
fprintf('R:clientbuf_cli %s\\n', jsonencode(io.files.SharedMem.unitTestClientSideBuf('{from_cli}', 5, 30)));
fprintf('R:clientbuf_gap %s\\n', jsonencode(io.files.SharedMem.unitTestClientSideBuf('{gappy}', 3, 30)));
"""


def test_seed_class_shares_bytes_with_python_and_the_c_peer(tmp_path: Path, peer: Path) -> None:
    from_py, to_py, from_c = tmp_path / "smem_from_py", tmp_path / "smem_to_py", tmp_path / "smem_from_c"
    with SharedMem.create(from_py, IMAGE.nbytes, 4) as mem:
        assert mem.put_buf(IMAGE, flags=2)  # width 7, height 4 from the array's shape
        assert mem.put_buf(b"hello")
    _peer(peer, "create", str(from_c), "8", "3")
    _peer(peer, "run", str(from_c), "p3")
    from_cli, gappy = tmp_path / "smem_from_cli", tmp_path / "smem_gappy"
    put = subprocess.run([sys.executable, "-m", "shmring.cli", "legacy", "put", str(from_cli), "--count", "5",
                          "--slots", "8", "--width", "8", "--height", "2"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert put.returncode == 0, put.stderr
    with SharedMem.create(gappy, 4, 3) as mem:
        stored = [mem.put_buf(bytes([k]) * 4) for k in range(1, 6)]  # 1, 2, 3 stored; 4, 5 dropped
        assert stored == [True, True, True, False, False] and mem.get_buf() is not None  # takes 1
        assert mem.put_buf(b"six!")  # put_counter 6
    got = octave.run(OCTAVE_SCRIPT.format(from_py=from_py, to_py=to_py, from_c=from_c, from_cli=from_cli,
                                          gappy=gappy, recreated=tmp_path / "smem_recreated",
                                          self_test=tmp_path / "smem_self"), tmp_path)

    image = got["image"]
    assert image["size"] == [4, 7] and (image["w"], image["h"], image["f"], image["counter"]) == (7, 4, 2, 1)
    np.testing.assert_array_equal(np.array(image["value"]), IMAGE)
    assert got["bytes"] == {"text": "hello", "class": "uint8", "counter": 2}
    assert got["empty"] is True

    assert got["stored"] == [True, True, True]
    with SharedMem.open(to_py) as mem:
        buf = mem.get_buf(dtype=np.uint16)
        assert buf is not None and (buf.width, buf.height, buf.flags, buf.put_counter) == (7, 4, 1, 1)
        np.testing.assert_array_equal(buf.data, IMAGE)
        text = mem.get_buf()
        assert text is not None and text.data == b"abc" and text.put_counter == 2
        rgb = mem.get_buf(dtype=np.uint8)  # height 2, width 3, 3 channels
        assert rgb is not None and (rgb.width, rgb.height) == (3, 2) and rgb.data.shape == (2, 3, 3)
        np.testing.assert_array_equal(rgb.data, np.fromfunction(lambda r, c, ch: 50 * r + 10 * c + ch, (2, 3, 3)))

    expected = []
    for k in range(1, 4):
        data, width, height, flags = kids.pattern(k, 8)
        data = data[:8]  # the queue truncates to item_size
        expected.append(f"buf {k} {len(data)} {width} {height} {flags} {data.hex()}")
    assert got["from_c"] == [*expected, "empty"]
    assert got["to_c"] is True
    assert _peer(peer, "run", str(from_c), "g1") == ["buf 1 3 3 1 7 010203"]
    assert got["unitTest"] is True
    assert got["followed"] == {"buf": [9, 8, 7, 6], "reattached": 1, "item_size": 4}, "did not follow the new file"
    assert got["clientbuf_cli"]["counters"] == [1, 2, 3, 4, 5] and got["clientbuf_cli"]["dropped"] == 0
    assert "buffer put_counter=1 bytes=16 8x2 flags=0x12345678" in got["lines"]
    gaps = got["clientbuf_gap"]
    assert (gaps["counters"], gaps["dropped"], gaps["gaps"]) == ([2, 3, 6], 2, 1)
    assert "gap: put_counter 3 -> 6: 2 dropped" in got["lines"]


OCTAVE_PEERS = """
io.files.SharedMem.unitTestServerSide('{clock}', 40, 0.05);
fprintf('R:answered %s\\n', jsonencode(answer(io.files.SharedMem('{ask_octave}'), 60)));
fprintf('R:reply %s\\n', jsonencode(send(io.files.SharedMem('{ask_python}'), 'hello from octave', 60)));
fprintf('R:client %s\\n', jsonencode(io.files.SharedMem.unitTestClientSide('{clock2}', 3, 60)));
"""


def test_seed_self_tests_across_processes(tmp_path: Path) -> None:
    clock, clock2 = tmp_path / "smem_clock", tmp_path / "smem_clock2"
    ask_octave, ask_python = tmp_path / "msg_octave", tmp_path / "msg_python"
    for raw in (clock, clock2):  # both sides of each pair may start in any order
        SharedMem.create_raw(raw, 1024).close()
    cli = [sys.executable, "-m", "shmring.cli", "legacy"]
    proc = octave.start(OCTAVE_PEERS.format(clock=clock, clock2=clock2, ask_octave=ask_octave,
                                            ask_python=ask_python), tmp_path)
    client = subprocess.Popen([*cli, "client", str(clock), "--count", "3", "--seconds", "60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server = None
    try:
        shown, err = client.communicate(timeout=90)
        assert client.returncode == 0, f"shmring legacy client failed: {err}"
        assert send(ask_octave, "ping", timeout=60) == "PING"  # Octave's answer() upper-cases
        assert answer(ask_python, timeout=60) == "hello from octave"
        server = subprocess.Popen([*cli, "server", str(clock2), "--count", "400", "--interval", "0.05"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        got = octave.finish(proc)
    finally:
        octave.reap(proc)
        octave.reap(client)
        if server is not None:
            octave.reap(server)
    strings = shown.splitlines()
    assert len(strings) == 3 and len(set(strings)) == 3, f"client printed {strings}"
    assert all(s in got["lines"] for s in strings), "the client showed strings the Octave server wrote"
    assert got["answered"] == "ping" and got["reply"] == "HELLO FROM OCTAVE"
    assert len(got["client"]) == 3 and len(set(got["client"])) == 3, f"Octave client got {got['client']}"
    assert all(s[:2] == "20" and len(s) == 23 for s in got["client"]), f"not time strings: {got['client']}"
