"""Measurements run by a command (`python -m benchmarks.<name>`), never timed tests."""
