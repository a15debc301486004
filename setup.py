"""Build the two C extensions; everything else lives in pyproject.toml.

``shmring._sync`` is made from src/shmring/_ext/sync_*.c (a source folder, not
a package). ``shmring._core`` compiles the ring's per-frame protocol steps from
the C library's tree, c/src/protocol_*.c (plain C, no Python headers; the one
implementation, which libshmring compiles too), with its CPython glue
src/shmring/_ext/core_*.c around them.
"""

from glob import glob

from setuptools import Extension, setup

EXT = "src/shmring/_ext"
PROTOCOL = "c/src"  # the one protocol implementation, shared with libshmring (c/Makefile)
FLAGS = ["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"]

setup(
    ext_modules=[
        # Atomics, futexes and OFD locks on any buffer: the primitives.
        Extension(
            "shmring._sync",
            sources=sorted(glob(f"{EXT}/sync_*.c")),
            depends=[f"{EXT}/sync.h"],
            extra_compile_args=FLAGS,
        ),
        # The ring's per-frame protocol steps, one call per put or get.
        Extension(
            "shmring._core",
            sources=sorted(glob(f"{PROTOCOL}/protocol_*.c")) + sorted(glob(f"{EXT}/core_*.c")),
            include_dirs=[PROTOCOL],
            depends=[f"{PROTOCOL}/protocol.h", f"{EXT}/core.h", f"{EXT}/core_channel.h"],
            extra_compile_args=FLAGS,
        ),
    ]
)
