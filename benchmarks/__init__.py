"""Benchmarks: each ``benchmarks/<name>/run.py`` prints figures; ``python -m benchmarks [name]`` runs them."""
