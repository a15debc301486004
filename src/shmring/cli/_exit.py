"""The ``shmring`` command's exit codes (docs/cli.md), in a leaf module every CLI module may import."""

from __future__ import annotations

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
