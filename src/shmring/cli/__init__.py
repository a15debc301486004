"""The ``shmring`` command: one entry point, one module per group of subcommands.

Nothing runs at import time; :func:`main` is the console script. Each
subcommand module registers itself on :data:`cli` when imported by
:func:`_load_commands`, so the package root stays small and a missing optional
dependency only affects the commands that need it.
"""

from __future__ import annotations

import sys

from ._exit import EXIT_FAILURE

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the ``shmring`` command; returns the process exit code."""
    try:
        from ._app import run
    except ImportError as err:  # click/rich are the [cli] extra
        print(f"shmring: error: the command needs the [cli] extra ({err}); "
              "install it with: pip install 'shmring[cli]'", file=sys.stderr)
        return EXIT_FAILURE
    return run(argv)
