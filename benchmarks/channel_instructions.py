"""Instructions per channel round trip, client and server apart, counted by callgrind.

    python -m benchmarks.channel_instructions            # N = 1000
    python -m benchmarks.channel_instructions --n 2000

A server process echoes 64-byte requests (``serve_forever(spin=0)``); a client
process sends them (``request(spin=0)``: no spin loop, whose length varies, is
counted). Each runs under ``valgrind --tool=callgrind`` twice, for N and 2N
requests; the difference divided by N is one round trip's cost on each side,
free of start-up work. Needs valgrind on PATH.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

PROGRAM = """
import gc, sys, time
import shmring
role, count, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
msg = bytes(range(64))
if role == "server":
    ch = shmring.Channel.create(name, slots=4, slot_bytes=4096)
    gc.freeze()
    served = [0]
    def echo(request, meta):
        served[0] += 1
        if served[0] == count + 50:
            ch.stop_serving()
        return request
    ch.serve_forever(echo, spin=0)
    ch.close()
    ch.unlink()
else:
    for _ in range(600):  # the server process creates the channel: wait for it (bounded)
        try:
            cl = shmring.Channel.open(name)
            cl.request(msg, timeout=1, spin=0)
            break
        except (FileNotFoundError, shmring.ShmringError):
            time.sleep(0.05)
    for _ in range(49):
        cl.request(msg, spin=0)
    gc.freeze()
    for _ in range(count):
        cl.request(msg, spin=0)
    cl.close()
"""


def _collected(log: str) -> int:
    for line in log.splitlines():
        if "Collected" in line:
            return int(line.split()[-1])
    raise RuntimeError(f"callgrind reported no total:\n{log[-2000:]}")


def _run(count: int, workdir: str) -> tuple[int, int]:
    """Instructions of the server and of the client for ``count`` requests."""
    script = os.path.join(workdir, "round_trip.py")
    with open(script, "w") as f:
        f.write(PROGRAM)
    env = dict(os.environ, SHMRING_DIR=workdir, PYTHONHASHSEED="0")  # the same dict layouts in every run

    def start(role: str) -> subprocess.Popen[str]:
        return subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                                 script, role, str(count), f"rt{count}"], env=env, text=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    server = start("server")
    client = start("client")
    _, client_log = client.communicate(timeout=900)
    _, server_log = server.communicate(timeout=120)
    return _collected(server_log), _collected(client_log)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.channel_instructions", description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1000, help="requests of the shorter run (the longer makes 2N)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="shmring-icount-") as tmp:
        s1, c1 = _run(args.n, tmp)
        s2, c2 = _run(2 * args.n, tmp)
    server, client = (s2 - s1) // args.n, (c2 - c1) // args.n
    print("| side | instructions per round trip |\n|---|---:|")
    print(f"| client | {client:,} |\n| server | {server:,} |\n| both | {client + server:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
