"""Building the C library and the interop peer with the machine's compiler (skips without one, fails in CI)."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

from requires import require_program

ROOT = Path(__file__).resolve().parents[2]
C_DIR = ROOT / "c"
PEER_SOURCE = Path(__file__).parent / "c" / "ring_peer.c"
BUILD_TIMEOUT_S = 300


def make(*args: str) -> subprocess.CompletedProcess[str]:
    """``make -C c ARGS``; the result, whatever its exit code."""
    require_program("gcc", "gcc")
    require_program("make", "make")
    return subprocess.run(["make", "-C", str(C_DIR), *args], capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT_S, check=False)


def build_library() -> Path:
    """``c/build/libshmring.a`` and friends, built by ``make -C c``."""
    done = make()
    assert done.returncode == 0, f"make -C c failed:\n{done.stdout}\n{done.stderr}"
    return C_DIR / "build" / "libshmring.a"


def build_peer(out_dir: Path) -> Path:
    """The ring_peer program, linked statically against the library."""
    lib = build_library()
    cc = require_program("gcc", "gcc")
    exe = out_dir / "ring_peer"
    done = subprocess.run([cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{C_DIR / 'include'}",
                           "-o", str(exe), str(PEER_SOURCE), str(lib)],
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    assert done.returncode == 0, f"ring_peer does not compile:\n{done.stderr}"
    return exe


@cache
def error_codes() -> dict[str, int]:
    """``SHMRING_E*`` names to their values, read from the public header."""
    text = (C_DIR / "include" / "shmring.h").read_text()
    return {m[1]: int(m[2]) for m in re.finditer(r"#define (SHMRING_E[A-Z]+)\s+(-?\d+)", text)}


@cache
def layout_offsets() -> dict[str, int]:
    """The numeric defines of the generated c/include/shmring_layout.h."""
    text = (C_DIR / "include" / "shmring_layout.h").read_text()
    return {m[1]: int(m[2]) for m in re.finditer(r"#define (SHMRING_\w+) (\d+)u?\b", text)}
