"""The BFCL tests use the shared `release` and `all_entries` fixtures of tests/conftest.py."""
