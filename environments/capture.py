"""Change capture: triggers that log every row change as it happens.

Each insert, update or delete appends `(table, rowid, op, old row as JSON)` to
`_eigen_changes`. A checkpoint is just the log's current sequence number, so taking one is
O(1) and a diff since a checkpoint reads only the rows that changed after it: the cost
grows with the number of changes, never with the size of the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

CHANGES = "_eigen_changes"

_LOG_DDL = f"""
CREATE TABLE IF NOT EXISTS {CHANGES} (
    seq INTEGER PRIMARY KEY,
    tbl TEXT NOT NULL,
    rid INTEGER NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('I', 'U', 'D')),
    old TEXT
)
"""


def column_list(cols: Iterable[str]) -> str:
    """Quoted, comma-separated identifiers for a SELECT or INSERT column list."""
    return ", ".join('"' + c.replace('"', '""') + '"' for c in cols)


def user_tables(db: sqlite3.Connection) -> list[str]:
    return [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' "
            "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_eigen_%' ORDER BY name"
        )
    ]


def columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]


def install(db: sqlite3.Connection) -> None:
    """Create the change log and one trigger per table and operation."""
    db.execute(_LOG_DDL)
    for t in user_tables(db):
        without_rowid = db.execute(
            "SELECT 1 FROM sqlite_master WHERE name=? AND sql LIKE '%WITHOUT ROWID%'", (t,)
        ).fetchone()
        if without_rowid:
            raise ValueError(f"table {t!r} is WITHOUT ROWID; change capture needs rowid tables")
        old = ", ".join(f"'{c}', OLD.\"{c}\"" for c in columns(db, t))
        log = f"INSERT INTO {CHANGES}(tbl, rid, op, old) VALUES ('{t}'"
        # One statement per execute(): executescript() would commit the caller's transaction.
        db.execute(f'CREATE TRIGGER IF NOT EXISTS "_eigen_{t}_i" AFTER INSERT ON "{t}" '
                   f"BEGIN {log}, NEW.rowid, 'I', NULL); END")
        db.execute(f'CREATE TRIGGER IF NOT EXISTS "_eigen_{t}_u" AFTER UPDATE ON "{t}" '
                   f"BEGIN {log}, OLD.rowid, 'U', json_object({old})); END")
        db.execute(f'CREATE TRIGGER IF NOT EXISTS "_eigen_{t}_d" AFTER DELETE ON "{t}" '
                   f"BEGIN {log}, OLD.rowid, 'D', json_object({old})); END")


def checkpoint(db: sqlite3.Connection) -> int:
    row = db.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {CHANGES}").fetchone()
    return int(row[0])


def first_changes_since(
    db: sqlite3.Connection, since: int
) -> dict[tuple[str, int], tuple[str, str | None]]:
    """For every (table, rowid) changed after `since`, its first logged change.

    The first change holds the row as it was at the checkpoint: absent for an insert,
    the logged old values otherwise.
    """
    first: dict[tuple[str, int], tuple[str, str | None]] = {}
    sql = f"SELECT tbl, rid, op, old FROM {CHANGES} WHERE seq > ? ORDER BY seq"
    for tbl, rid, op, old in db.execute(sql, (since,)):
        first.setdefault((tbl, rid), (op, old))
    return first
