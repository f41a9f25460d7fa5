"""Reading and writing TravelAPI's state: session scalars, card and booking records, the RNG.

Values go into SQLite exactly as the original holds them in Python. A value SQLite cannot
store exactly (NaN, integers beyond 64 bits, booleans, nested dicts/lists, text that is not
valid UTF-8) is kept as JSON in the row's `extra` column instead, so nothing is coerced.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from environments.contract import Db

META_FIELDS: tuple[str, ...] = (
    "access_token",
    "token_type",
    "token_expires_in",
    "token_scope",
    "user_first_name",
    "user_last_name",
    "budget_limit",
)

_INT64 = range(-(2**63), 2**63)


def is_native(value: Any) -> bool:
    """Whether SQLite stores `value` and gives back an equal value of the same type."""
    kind = type(value)
    if value is None:
        return True
    if kind is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            return False
        return True
    if kind is float:
        return value == value  # NaN would come back as NULL
    if kind is int:
        return value in _INT64
    return False


# -- session scalars ---------------------------------------------------------------------------
def read_meta(db: Db) -> dict[str, Any]:
    """All scalar attributes, plus `long_context` as a bool."""
    row = db.execute("SELECT * FROM meta WHERE id = 1").fetchone()
    extra = json.loads(row["extra"])
    out = {name: extra[name] if name in extra else row[name] for name in META_FIELDS}
    out["long_context"] = bool(row["long_context"])
    return out


def meta(db: Db, name: str) -> Any:
    return read_meta(db)[name]


def write_meta(db: Db, values: dict[str, Any]) -> None:
    unknown = set(values) - set(META_FIELDS)
    if unknown:
        raise KeyError(f"not a TravelAPI scalar: {sorted(unknown)}")
    extra = json.loads(db.execute("SELECT extra FROM meta WHERE id = 1").fetchone()[0])
    columns: dict[str, Any] = {}
    for name, value in values.items():
        if is_native(value):
            columns[name] = value
            extra.pop(name, None)
        else:
            columns[name] = None
            extra[name] = value
    assignments = ", ".join(f"{name} = ?" for name in columns)
    db.execute(
        f"UPDATE meta SET {assignments}, extra = ? WHERE id = 1",
        [*columns.values(), json.dumps(extra)],
    )


def insert_meta(db: Db, values: dict[str, Any], long_context: bool) -> None:
    db.execute("INSERT INTO meta (id, long_context) VALUES (1, ?)", (int(long_context),))
    write_meta(db, values)


# -- records: credit cards and bookings ----------------------------------------------------------
@dataclass(frozen=True)
class RecordTable:
    """A dict of records keyed by id (credit_card_list / booking_record), as one table."""

    table: str
    key: str
    fields: tuple[str, ...]
    """Keys stored as columns; any other key of a record goes to `extra`."""

    def _split(self, record: dict[str, Any]) -> list[Any]:
        columns = dict.fromkeys(self.fields)
        extra: dict[str, Any] = {}
        for name, value in record.items():
            if name in columns and is_native(value):
                columns[name] = value
            else:
                extra[name] = value
        return [*columns.values(), json.dumps(extra), json.dumps(list(record))]

    def _join(self, row: Any) -> dict[str, Any]:
        extra = json.loads(row["extra"])
        return {
            name: extra[name] if name in extra else row[name]
            for name in json.loads(row["key_order"])
        }

    def all(self, db: Db) -> dict[str, dict[str, Any]]:
        rows = db.execute(f"SELECT * FROM {self.table} ORDER BY position")
        return {row[self.key]: self._join(row) for row in rows}

    def ids(self, db: Db) -> list[str]:
        return [r[0] for r in db.execute(f"SELECT {self.key} FROM {self.table} ORDER BY position")]

    def get(self, db: Db, record_id: str) -> dict[str, Any] | None:
        if not is_native(record_id):  # e.g. a lone surrogate: no stored id can equal it
            return None
        row = db.execute(
            f"SELECT * FROM {self.table} WHERE {self.key} = ?", (record_id,)
        ).fetchone()
        return None if row is None else self._join(row)

    def put(self, db: Db, record_id: str, record: dict[str, Any]) -> None:
        """Insert at the end, or replace in place (a dict keeps a re-assigned key's slot)."""
        cols = [*self.fields, "extra", "key_order"]
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols)
        db.execute(
            f"INSERT INTO {self.table} ({self.key}, position, {', '.join(cols)}) "
            f"VALUES (?, (SELECT COALESCE(MAX(position), 0) + 1 FROM {self.table}), "
            f"{', '.join('?' for _ in cols)}) "
            f"ON CONFLICT ({self.key}) DO UPDATE SET {updates}",
            [record_id, *self._split(record)],
        )

    def put_all(self, db: Db, records: Iterable[tuple[str, dict[str, Any]]]) -> None:
        for record_id, record in records:
            self.put(db, record_id, record)

    def delete(self, db: Db, record_id: str) -> None:
        db.execute(f"DELETE FROM {self.table} WHERE {self.key} = ?", (record_id,))


CARDS = RecordTable(
    "credit_card",
    "card_id",
    ("card_number", "expiration_date", "cardholder_name", "card_verification_number", "balance"),
)
BOOKINGS = RecordTable(
    "booking",
    "booking_id",
    (
        "card_id",
        "travel_date",
        "travel_from",
        "travel_to",
        "travel_class",
        "travel_cost",
        "transaction_id",
    ),
)


# -- the private random.Random ----------------------------------------------------------------
def _state_json(rng: random.Random) -> str:
    return json.dumps(rng.getstate())


def insert_rng(db: Db, seed: Any) -> None:
    db.execute(
        "INSERT INTO rng (id, seed, state) VALUES (1, ?, ?)",
        (json.dumps(seed), _state_json(random.Random(seed))),
    )


def randint(db: Db, a: int, b: int) -> int:
    """`random.Random.randint(a, b)` on the episode's generator, which then moves on."""
    version, internal, gauss = json.loads(db.execute("SELECT state FROM rng").fetchone()[0])
    rng = random.Random()
    rng.setstate((version, tuple(internal), gauss))
    value = rng.randint(a, b)
    db.execute("UPDATE rng SET state = ?, draws = draws + 1", (_state_json(rng),))
    return value
