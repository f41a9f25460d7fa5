"""TicketAPI state in SQLite: loading a scenario, reading rows back as the original's values.

Tickets are dicts whose keys vary (see schema.sql); this module is the one place that maps them
to rows and back, so tools and the state projection see exactly the same Python values.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from sqlite3 import Row
from typing import Any

from environments.bfcl.common import release_constant
from environments.contract import Db

MODULE = "ticket_api"
COLUMNS = ("id", "title", "description", "status", "priority", "created_by", "resolution")
_INT64 = (-(2**63), 2**63 - 1)


def _column_fits(value: Any) -> bool:
    """Whether a SQLite column gives `value` back unchanged (same type, same value)."""
    if value is None or type(value) is str:
        return True
    if type(value) is float:
        return math.isfinite(value)  # SQLite turns NaN into NULL
    return type(value) is int and _INT64[0] <= value <= _INT64[1]


def ticket_columns(ticket: Mapping[str, Any]) -> dict[str, Any]:
    """Column values for one ticket dict."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    other: dict[str, Any] = {}
    for key, value in ticket.items():
        if key in row and _column_fits(value):
            row[key] = value
        else:
            other[key] = value
    row["field_order"] = json.dumps(list(ticket))
    row["other_fields"] = json.dumps(other) if other else None
    return row


def ticket_value(row: Row) -> dict[str, Any]:
    """The ticket dict exactly as the original stores it (key order included)."""
    other = json.loads(row["other_fields"]) if row["other_fields"] is not None else {}
    return {k: other[k] if k in other else row[k] for k in json.loads(row["field_order"])}


def insert_ticket(db: Db, ticket: Mapping[str, Any]) -> None:
    cols = ticket_columns(ticket)
    db.execute(
        f"INSERT INTO tickets ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        list(cols.values()),
    )


def save_ticket(db: Db, position: int, ticket: Mapping[str, Any]) -> None:
    cols = ticket_columns(ticket)
    db.execute(
        f"UPDATE tickets SET {', '.join(f'{c} = ?' for c in cols)} WHERE position = ?",
        [*cols.values(), position],
    )


def tickets(db: Db) -> list[tuple[int, dict[str, Any]]]:
    """(position, ticket) for the whole queue, in order."""
    return [(r["position"], ticket_value(r))
            for r in db.execute("SELECT * FROM tickets ORDER BY position")]


def session(db: Db) -> Row:
    return db.execute("SELECT * FROM session").fetchone()


# -- scenario and projection -------------------------------------------------------------------
def load(db: Db, scenario: Mapping[str, Any]) -> None:
    """Mirror `TicketAPI._load_scenario`: config values win, DEFAULT_STATE fills the gaps."""
    config = copy.deepcopy(dict(scenario.get("config") or {}))
    default = release_constant(MODULE, "DEFAULT_STATE")

    def pick(key: str) -> Any:
        return config[key] if key in config else default[key]

    counter, current, queue = pick("ticket_counter"), pick("current_user"), pick("ticket_queue")
    if type(counter) is not int or not (current is None or type(current) is str):
        raise ValueError(f"TicketAPI scenario: unsupported counter/user {counter!r}, {current!r}")
    if type(queue) is not list or not all(
        isinstance(t, dict) and all(type(k) is str for k in t) for t in queue
    ):
        raise ValueError(f"TicketAPI scenario: unsupported ticket_queue {queue!r:.200}")
    db.execute("INSERT INTO session (singleton, ticket_counter, current_user) VALUES (1, ?, ?)",
               (counter, current))
    for ticket in queue:
        insert_ticket(db, ticket)


def project(db: Db) -> dict[str, Any]:
    """The instance's public attributes, as `ReferenceEpisode.state()` projects the original."""
    s = session(db)
    return {
        "ticket_queue": [t for _, t in tickets(db)],
        "ticket_counter": s["ticket_counter"],
        "current_user": s["current_user"],
    }
