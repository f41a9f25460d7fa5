"""Benchmark audit and repair: find errors with executable evidence, write a repaired set."""
