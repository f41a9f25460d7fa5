"""BFCL-V3 multi-turn: release, calls, reference execution."""
