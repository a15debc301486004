"""The benchmark core behind ``shmring bench`` and ``benchmarks/compare.py``: loops, floors, runner, report.

Private: imports no peer library and nothing that is not a dependency of shmring.
``runner.run(["shmring", "shmring-spin", *runner.FLOORS])`` is the shmring-only run.
"""
