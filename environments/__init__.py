"""Executable domain environments: SQLite schema, scenario loader, typed tools, comparison rules."""
