"""Tests of DataAgent (trajectory synthesis)."""
