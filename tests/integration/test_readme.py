"""The README's code examples run as written and print what the README says they print."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def _promised_output(block: str) -> list[str]:
    """The '# ...' comment after each print(...) line: what the README says it prints."""
    return [line.split("#", 1)[1].strip() for line in block.splitlines()
            if line.lstrip().startswith("print(") and "#" in line]


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_readme_example_runs_and_prints_what_it_says(index: int, shm_dir: Path, tmp_path: Path) -> None:
    block = _python_blocks()[index]
    # Bare legacy names map to /tmp/smem_<name>; keep this run's files apart.
    script = block.replace('"readme-demo"', f'"{tmp_path / "smem_readme-demo"}"')
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == _promised_output(block)
