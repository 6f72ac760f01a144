"""Benchmark helpers (not part of the installed package): synthetic corpora for the bench scripts."""
