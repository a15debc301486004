"""Running MATLAB code in a real ``octave-cli`` process, with the MEX gateway built for it.

Octave starts in about a second, so each test batches several checks into one
script; the script prints one ``KEY json`` line per result and the test
asserts on them. A failed script's error (identifier and message) is in the
assertion message.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from requires import require_program

ROOT = Path(__file__).resolve().parents[2]
MATLAB_DIR = ROOT / "matlab"
BUILD_TIMEOUT_S = 300
RUN_TIMEOUT_S = 120.0


@cache
def mex_dir() -> Path:
    """A directory holding shmring_mex.mex, built once per test run by ``make -C matlab octave``."""
    require_program("octave-cli", "octave liboctave-dev")
    require_program("mkoctfile", "liboctave-dev")
    require_program("make", "make")
    out = Path(tempfile.mkdtemp(prefix="shmring-octave-mex-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    done = subprocess.run(["make", "-C", str(MATLAB_DIR), "octave", f"OUT={out / 'shmring_mex.mex'}"],
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    assert done.returncode == 0, f"make -C matlab octave failed:\n{done.stdout}\n{done.stderr}"
    return out


def _wrap(body: str) -> str:
    # The error's identifier and message go to stderr and the exit code is 1,
    # so a test failing inside Octave says why.
    return (f"addpath('{mex_dir()}'); addpath('{MATLAB_DIR}');\n"
            "try\n" + body + "\ncatch err\n"
            "  fprintf(2, 'OCTAVE-ERROR %s: %s\\n', err.identifier, err.message);\n"
            "  for k = 1:numel(err.stack)\n"
            "    fprintf(2, '  at %s line %d\\n', err.stack(k).name, err.stack(k).line);\n"
            "  end\n"
            "  exit(1);\nend\n")


def start(body: str, cwd: Path) -> subprocess.Popen[str]:
    """Start octave-cli on the script ``body`` (written to ``cwd``); the caller reaps it."""
    script = cwd / f"octave_{os.getpid()}_{len(list(cwd.iterdir()))}.m"
    script.write_text(_wrap(body))
    return subprocess.Popen(["octave-cli", "--no-gui", "--norc", "--quiet", str(script)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = RUN_TIMEOUT_S) -> dict[str, Any]:
    """Wait for the script (killing it after ``timeout``) and return its ``KEY json`` lines as a dict."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"octave-cli did not finish within {timeout} s:\n{out}\n{err}") from None
    assert proc.returncode == 0, f"octave-cli failed ({proc.returncode}):\nstdout:\n{out}\nstderr:\n{err}"
    return parse(out)


def run(body: str, cwd: Path, timeout: float = RUN_TIMEOUT_S) -> dict[str, Any]:
    """Run the script ``body`` in octave-cli and return its results (see :func:`finish`)."""
    return finish(start(body, cwd), timeout)


def parse(stdout: str) -> dict[str, Any]:
    """``KEY json`` lines into a dict; other lines (the seed's own prints) under ``"lines"``."""
    results: dict[str, Any] = {"lines": []}
    for line in stdout.splitlines():
        key, _, value = line.partition(" ")
        if key.startswith("R:"):
            results[key[2:]] = json.loads(value)
        else:
            results["lines"].append(line)
    return results


def reap(proc: subprocess.Popen[str]) -> None:
    """Kill a process that is still running, wait for it and close its pipes (teardown)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(RUN_TIMEOUT_S)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None and not stream.closed:
            stream.close()
