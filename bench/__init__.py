"""Benchmarks: livetag against a raw Starlette WebSocket echo, in one run.

Run ``.venv/bin/python bench/run.py`` (``--quick`` for a short smoke run). The report is
printed and written to ``docs/benchmarks.md``. Benchmarks are not tests: nothing here
asserts a timing.
"""
