"""Benchmarks: each measures against a reference in the same run and writes JSON."""
