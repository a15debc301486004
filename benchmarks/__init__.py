"""Benchmarks of shmring against its peers and against hardware/kernel floors.

Not an installed package: run from the repository root as
``python -m benchmarks.compare`` (or ``python benchmarks/compare.py``).
The shared core (loops, checks, floors, runner, tables) is ``shmring._bench``,
which ``shmring bench`` runs without peers; this package adds the peers and the plot.
"""
