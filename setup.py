"""Build the two C extensions; everything else lives in pyproject.toml."""

from setuptools import Extension, setup

FLAGS = ["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"]

setup(
    ext_modules=[
        # Atomics, futexes and OFD locks on any buffer: the primitives.
        Extension("shmring._sync", sources=["src/shmring/_sync.c"], extra_compile_args=FLAGS),
        # The ring's per-frame protocol steps, one call per put or get.
        Extension(
            "shmring._core",
            sources=["src/shmring/_core.c", "src/shmring/_core_write.c", "src/shmring/_core_read.c"],
            depends=["src/shmring/_core.h"],
            extra_compile_args=FLAGS,
        ),
    ]
)
