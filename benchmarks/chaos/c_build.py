"""Building the campaign's C programs (``benchmarks/chaos/c/*.c``) against libshmring.

``make -C c`` (or ``make -C c SANITIZE=1`` for the AddressSanitizer and
UndefinedBehaviorSanitizer build) makes the library; each program is then
compiled with ``cc -std=c99 -Wall -Wextra -Werror`` into a per-user cache
directory, named by a digest of its source and of the library, so that every
process of a run (and the next run) finds it built once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

__all__ = ["BuildError", "program", "sanitizer_env"]

ROOT = Path(__file__).resolve().parents[2]
C_DIR = ROOT / "c"
SOURCES = Path(__file__).resolve().parent / "c"
BUILD_TIMEOUT_S = 300
WARN = ("-std=c99", "-Wall", "-Wextra", "-Werror")
SANITIZE = ("-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all")


class BuildError(RuntimeError):
    """The compiler or make is missing, or a build failed (the message has its output)."""


def _run(argv: list[str], what: str) -> None:
    if shutil.which(argv[0]) is None:
        raise BuildError(f"{what}: {argv[0]} not found (install it with `sudo apt-get install "
                         f"{'make' if argv[0] == 'make' else 'gcc'}`)")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise BuildError(f"{what} failed ({' '.join(argv)}):\n{done.stdout}\n{done.stderr}")


@cache
def library(sanitize: bool) -> Path:
    """``c/build/libshmring.a`` (or ``c/build/sanitize/libshmring.a``), brought up to date by make."""
    _run(["make", "-C", str(C_DIR), *(["SANITIZE=1"] if sanitize else []), "all"], "building libshmring")
    return C_DIR / "build" / ("sanitize" if sanitize else "") / "libshmring.a"


def _cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"shmring-chaos-{os.getuid()}"


@cache
def program(name: str, *, sanitize: bool = False) -> Path:
    """The executable of ``benchmarks/chaos/c/<name>.c``, built if its source or the library changed."""
    source = SOURCES / f"{name}.c"
    lib = library(sanitize)
    digest = hashlib.sha256(source.read_bytes() + lib.read_bytes() + bytes([sanitize])).hexdigest()[:16]
    exe = _cache_dir() / f"{name}{'-sanitized' if sanitize else ''}-{digest}"
    if exe.exists():
        return exe
    exe.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = exe.with_name(f".{exe.name}.{os.getpid()}")
    _run(["cc", *WARN, *(SANITIZE if sanitize else ("-O2",)), f"-I{C_DIR / 'include'}", "-o", str(partial),
          str(source), str(lib)], f"compiling {source.name}")
    os.replace(partial, exe)  # atomic: a process racing us runs either build, never half of one
    return exe


def sanitizer_env() -> dict[str, str]:
    """The environment a sanitized program runs in: any report aborts it (a crash the campaign counts)."""
    return {**os.environ, "ASAN_OPTIONS": "abort_on_error=1:detect_leaks=1:allocator_may_return_null=1",
            "UBSAN_OPTIONS": "abort_on_error=1:print_stacktrace=1:halt_on_error=1"}
