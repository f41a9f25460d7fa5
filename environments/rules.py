"""Comparison rules: how two database states are judged equal for one domain.

Rows are matched by natural key (not surrogate id), bookkeeping columns are ignored,
free text is compared normalised, and numbers compare by value within a tolerance, so
25 and 25.0 are equal and generated ids or timestamps never decide a verdict.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TableRule:
    """Rules for one table. An empty `natural_key` means "use the primary key"."""

    natural_key: tuple[str, ...] = ()
    ignore: frozenset[str] = frozenset()
    """Bookkeeping columns (generated ids, counters, timestamps, tokens): never compared."""
    free_text: frozenset[str] = frozenset()
    """Prose the user did not dictate: compared case-, space- and punctuation-insensitively."""
    tolerance: float | None = None
    """Absolute tolerance for numeric columns; None uses the domain default."""
    skip: bool = False
    """Exclude the whole table (e.g. an audit log the verdict should not depend on)."""


@dataclass(frozen=True)
class ComparisonRules:
    tables: Mapping[str, TableRule] = field(default_factory=dict)
    tolerance: float = 1e-6
    views: Mapping[str, str] = field(default_factory=dict)
    """Comparison views: name -> SELECT over the domain's tables. For state whose storage has
    no meaningful natural key (e.g. a file system as a graph of nodes), the verdict compares
    what the view shows (paths, contents) instead; its rule in `tables` gives the natural
    key. The storage tables are then usually `skip`ped. A view is compared whole, so keep it
    to small state."""

    def for_table(self, table: str) -> TableRule:
        return self.tables.get(table, TableRule())

    def tolerance_for(self, table: str) -> float:
        t = self.for_table(table).tolerance
        return self.tolerance if t is None else t


_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalise_text(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", s)).strip()


def values_equal(a: Any, b: Any, *, tolerance: float = 1e-6, free_text: bool = False) -> bool:
    """Compare two cell values by meaning: numbers by value, free text normalised."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) if _is_num(a) and _is_num(b) else a == b
    if _is_num(a) and _is_num(b):
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return abs(fa - fb) <= tolerance + 1e-12 * max(abs(fa), abs(fb))
    if isinstance(a, str) and isinstance(b, str):
        return normalise_text(a) == normalise_text(b) if free_text else a == b
    return a == b


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float))
