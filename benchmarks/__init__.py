"""Benchmarks of shmring against its peers and against hardware/kernel floors.

Not an installed package: run from the repository root as
``python -m benchmarks.compare`` (or ``python benchmarks/compare.py``).
The shmring-only core is ``benchmarks.runner.run(["shmring", ...])``.
"""
