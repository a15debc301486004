"""The reliability campaign: kill -9, fuzzing and a soak against shmring (docs/guarantees.md).

``python -m benchmarks.chaos --minutes N`` runs it all; ``tests/stress/`` runs each part
in a small dose. Modules: ``targets`` (the table of layouts and openers), ``fuzz``,
``kill`` with its ``victims``, ``soak``, ``frames`` (checksummed frames).
"""
