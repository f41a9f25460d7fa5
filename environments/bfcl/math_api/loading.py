"""Scenario loading and state projection of the stateless MathAPI: both are empty."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from environments.contract import Db


def load(db: Db, scenario: Mapping[str, Any]) -> None:
    """Nothing to load: BFCL skips `_load_scenario` for MathAPI (a stateless class)."""


def project(db: Db) -> dict[str, Any]:
    """MathAPI has no public attributes, so BFCL's state checker sees an empty dict."""
    return {}
