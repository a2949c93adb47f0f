"""Helpers of the bundled benchmarks: recipes, data, rows, anchors, environment.

Imported by the scripts in ``benchmarks/`` (which put this folder on the path by
being run from it) and by ``tests/benchmarks``.
"""
