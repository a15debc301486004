"""``python -m shmring.cli``: the same as the ``shmring`` command."""

from . import main

raise SystemExit(main())
