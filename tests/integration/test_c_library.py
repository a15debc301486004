"""libshmring's own C tests (plain and sanitised), its install, and linking through pkg-config."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import _libshmring as lib
import pytest
from requires import require_program

pytestmark = pytest.mark.usefixtures("shm_dir")

_SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)


def _c_tests_pass(*make_args: str) -> None:
    done = lib.make(*make_args)
    found = _SUMMARY.findall(done.stdout)
    what = f"make -C c {' '.join(make_args)}"
    assert done.returncode == 0 and found, f"{what} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    passed, failed = map(int, found[-1])
    assert failed == 0 and passed > 0, f"C tests: {passed} passed, {failed} failed"


def test_c_tests_pass() -> None:
    _c_tests_pass("test")


def test_c_tests_pass_under_address_and_undefined_sanitizers() -> None:
    _c_tests_pass("test", "SANITIZE=1")


def test_install_and_link_with_pkg_config(tmp_path: Path, shm_dir: Path) -> None:
    pkg_config = require_program("pkg-config", "pkgconf")
    cc = require_program("gcc", "gcc")
    prefix = tmp_path / "prefix"
    done = lib.make("install", f"PREFIX={prefix}")
    assert done.returncode == 0, done.stderr
    for installed in ("include/shmring.h", "include/shmring_layout.h", "lib/libshmring.a", "lib/libshmring.so",
                      "lib/pkgconfig/shmring.pc"):
        assert (prefix / installed).exists(), f"make install left out {installed}"
    env = {**os.environ, "PKG_CONFIG_PATH": str(prefix / "lib" / "pkgconfig")}
    flags = subprocess.run([pkg_config, "--cflags", "--libs", "shmring"], capture_output=True, text=True, env=env,
                           check=True, timeout=30).stdout.split()
    source = tmp_path / "hello.c"
    source.write_text(
        '#include <shmring.h>\n#include <stdio.h>\n'
        'int main(void) {\n'
        '    shmring_config cfg = {0, 64, 0, SHMRING_DROP, 0};\n'
        '    shmring_ring *r;\n'
        '    int rc = shmring_create("hello", &cfg, &r);\n'
        '    if (rc) { printf("%s\\n", shmring_errmsg()); return 1; }\n'
        '    printf("%llu\\n", (unsigned long long)shmring_write_seq(r));\n'
        '    shmring_close(r);\n'
        '    return shmring_unlink("hello");\n'
        '}\n')
    exe = tmp_path / "hello"
    built = subprocess.run([cc, "-std=c99", "-Wall", "-Werror", str(source), "-o", str(exe), *flags],
                           capture_output=True, text=True, timeout=120, check=False)
    assert built.returncode == 0, built.stderr
    ran = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30, check=False,
                         env={**env, "LD_LIBRARY_PATH": str(prefix / "lib")})
    assert (ran.returncode, ran.stdout) == (0, "0\n"), f"the installed library works: {ran.stdout} {ran.stderr}"
    assert not (shm_dir / "hello").exists()
