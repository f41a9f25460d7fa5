"""The original's dict records (orders, stocks, account, transactions) as table rows and back.

A record's usual fields live in columns. BFCL configs also contain irregular records (an order
with "num_shares" instead of "amount", a bare string among the orders), and the original
returns them verbatim, key order included; so a row also keeps whatever the columns cannot say:
`layout` (key order, when not the usual one), `extra` (fields without a column, or whose value a
column would not store exactly) and `raw` (a value that is not a dict at all).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_INT64 = range(-(2**63), 2**63)
BOOKKEEPING = ("layout", "extra", "raw")


def storable(value: Any) -> bool:
    """Whether an untyped SQLite column gives `value` back unchanged (type included)."""
    kind = type(value)
    if value is None or kind is str:
        return True
    if kind is int:
        return value in _INT64
    if kind is float:
        return not math.isnan(value)  # SQLite turns NaN into NULL
    return False  # bools come back as ints; containers need JSON


def _dump(value: Any) -> str:
    return json.dumps(value)


@dataclass(frozen=True)
class RecordShape:
    """The usual fields of one kind of record: original key -> column, in the usual order."""

    fields: Mapping[str, str]
    allow_raw: bool = True

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.fields.values(), "layout", "extra", *(("raw",) if self.allow_raw else ()))

    def to_row(self, value: Any) -> dict[str, Any]:
        """Column values for `value`; raises ValueError for what JSON cannot keep exactly."""
        row: dict[str, Any] = dict.fromkeys(self.columns)
        if type(value) is not dict:
            if not self.allow_raw:
                raise ValueError(f"expected a dict, got {type(value).__name__}")
            row["raw"] = _checked_json(value)
            return row
        extra: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise ValueError(f"record keys must be strings, got {key!r}")
            column = self.fields.get(key)
            if column is not None and storable(item):
                row[column] = item
            else:
                extra[key] = item
        if list(value) != list(self.fields):
            row["layout"] = _dump(list(value))
        if extra:
            row["extra"] = _checked_json(extra)
        return row

    def from_row(self, row: Mapping[str, Any]) -> Any:
        """The record a row stands for (a fresh object)."""
        if self.allow_raw and row["raw"] is not None:
            return json.loads(row["raw"])
        extra = json.loads(row["extra"]) if row["extra"] is not None else {}
        keys = json.loads(row["layout"]) if row["layout"] is not None else list(self.fields)
        return {k: extra[k] if k in extra else row[self.fields[k]] for k in keys}


def _checked_json(value: Any) -> str:
    """JSON text that loads back to an equal value of the same types, or ValueError."""
    text = _dump(value)
    if not _same(json.loads(text), value):
        raise ValueError(f"value cannot be stored exactly: {value!r:.200}")
    return text


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is float and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


ORDER = RecordShape({
    "id": "id", "order_type": "order_type", "symbol": "symbol", "price": "price",
    "amount": "amount", "status": "status",
})
STOCK = RecordShape({
    "price": "price", "percent_change": "percent_change", "volume": "volume",
    "MA(5)": "ma_5", "MA(20)": "ma_20",
})
ACCOUNT = RecordShape(
    {"account_id": "account_id", "balance": "balance", "binding_card": "binding_card"},
    allow_raw=False,
)
TRANSACTION = RecordShape({"type": "type", "amount": "amount", "timestamp": "timestamp"})
