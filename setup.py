"""Build the two C extensions; everything else lives in pyproject.toml.

The C sources live in src/shmring/_ext/ (a source folder, not a package):
``sync_*`` make ``shmring._sync``; ``protocol_*`` are the ring protocol steps
in plain C (no Python headers), and ``core_*`` the CPython glue of
``shmring._core`` around them.
"""

from glob import glob

from setuptools import Extension, setup

EXT = "src/shmring/_ext"
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
            sources=sorted(glob(f"{EXT}/protocol_*.c") + glob(f"{EXT}/core_*.c")),
            depends=[f"{EXT}/protocol.h", f"{EXT}/core.h"],
            extra_compile_args=FLAGS,
        ),
    ]
)
