"""One implementation of the ring protocol in C: shmring._core and libshmring compile the same sources.

docs/format.md's per-frame steps live in c/src/protocol_*.c only. If a copy came
back (in the Python extension's folder, or a libshmring file of its own), these fail.
"""

from __future__ import annotations

import re
import runpy
import subprocess
from pathlib import Path
from typing import Any

import _libshmring as lib
import pytest
import setuptools
from requires import require_program

import shmring._core

ROOT = lib.ROOT
PROTOCOL = sorted((lib.C_DIR / "src").glob("protocol_*.c"))
# C sources of every binding: a file here that handles a slot's seqlock word is a protocol copy.
BINDINGS = [*sorted((ROOT / "src" / "shmring" / "_ext").glob("*.c")), *sorted((lib.C_DIR / "src").glob("*.c")),
            *sorted((ROOT / "matlab").glob("*.[ch]"))]


def _core_extension(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The shmring._core Extension that setup.py builds (setup() itself is not run)."""
    found: dict[str, Any] = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kw: found.update(kw))
    monkeypatch.chdir(ROOT)  # setup.py names its sources relative to the repository
    runpy.run_path(str(ROOT / "setup.py"))
    (core,) = [e for e in found["ext_modules"] if e.name == "shmring._core"]
    return core


def _libshmring_sources() -> set[Path]:
    """The .c files `make -C c` compiles into libshmring (from make's dry run of a full rebuild)."""
    done = lib.make("-n", "-B", "all")
    assert done.returncode == 0, done.stderr
    return {(lib.C_DIR / m).resolve() for m in re.findall(r" -c -o \S+ (src/\S+\.c)", done.stdout)}


def test_protocol_sources_are_in_the_c_library_tree_only() -> None:
    assert {p.name for p in PROTOCOL} >= {"protocol_read.c", "protocol_write.c", "protocol_wait.c"}
    stray = sorted(p.name for p in (ROOT / "src" / "shmring" / "_ext").glob("protocol*"))
    assert not stray, f"protocol sources in src/shmring/_ext: {stray}; the one copy lives in c/src"
    assert not (lib.C_DIR / "src" / "protocol.c").exists()


def test_the_extension_and_libshmring_compile_the_same_protocol_files(monkeypatch: pytest.MonkeyPatch) -> None:
    core = _core_extension(monkeypatch)
    compiled = {(ROOT / s).resolve() for s in core.sources}
    assert {p.resolve() for p in PROTOCOL} <= compiled, f"setup.py leaves protocol files out: {core.sources}"
    assert "c/src" in core.include_dirs
    libshmring = _libshmring_sources()
    assert {p.resolve() for p in PROTOCOL} <= libshmring, f"c/Makefile leaves protocol files out: {libshmring}"


def test_only_the_protocol_sources_touch_a_slots_seqlock() -> None:
    # Two files name the offset once, each to fill the ShmLayout its binding hands the protocol.
    fillers = [lib.C_DIR / "src" / "layout.c", ROOT / "src" / "shmring" / "_ext" / "core_module.c"]
    allowed = {p.resolve() for p in [*PROTOCOL, *fillers]}
    touching = [p for p in BINDINGS if re.search(r"s_seqlock|S_SEQLOCK", p.read_text())]
    assert touching and {p.resolve() for p in touching} <= allowed, (
        f"seqlock handled outside c/src/protocol_*.c: {sorted(str(p) for p in touching if p.resolve() not in allowed)}")


def _exported(library: Path) -> list[str]:
    nm = require_program("nm", "binutils")
    out = subprocess.run([nm, "-D", "--defined-only", str(library)], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    return [line.split()[-1] for line in out.splitlines() if line.split()[1:2] != ["A"]]


def test_the_extension_exports_only_its_init_function() -> None:
    assert _exported(Path(shmring._core.__file__)) == ["PyInit__core"]


def test_libshmring_exports_only_its_api() -> None:
    lib.build_library()
    names = _exported(lib.C_DIR / "build" / "libshmring.so")
    assert names and all(n.startswith("shmring_") for n in names), [n for n in names if not n.startswith("shmring_")]
