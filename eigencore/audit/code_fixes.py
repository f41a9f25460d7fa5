"""Code-level fixes of the BFCL port, active only in repaired mode.

The port replays BFCL's ground truth exactly as the original classes do (faithful mode, the
default), so the differential check against the release keeps holding. A scenario carrying
``"repaired": True`` switches the fixes below on: the port's loader calls `mark_repaired`,
which adds a ``repaired`` column to the port's single-row state table, and the fixed tools ask
`is_repaired`. Faithful databases never get the column, so their schema and state are exactly
what they were before these fixes existed.

`FIXES` is the registry the repair step and the CHANGELOG cite: each fix names the tool it
changes and the implementation findings (``implementation.manual:<port finding id>``) it
answers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FIXES", "CodeFix", "is_repaired", "mark_repaired", "repaired_scenario"]

_COLUMN = "repaired"


@dataclass(frozen=True)
class CodeFix:
    id: str
    module: str
    """The port package under ``environments/bfcl``."""
    function: str
    summary: str
    finding_ids: tuple[str, ...]


FIXES: list[CodeFix] = [
    CodeFix(
        "travel.purchase_insurance.funds",
        "travel_booking",
        "purchase_insurance",
        "Insurance is refused with 'Insufficient funds' when the card's balance is below its "
        "cost, instead of driving the balance negative.",
        ("implementation.manual:travel_booking-3",),
    ),
    CodeFix(
        "travel.book_flight.budget",
        "travel_booking",
        "book_flight",
        "A fare above the budget limit is refused with 'Exceeded budget limit' (the original "
        "compares the card balance, not the fare, with the budget).",
        ("implementation.manual:travel_booking-2",),
    ),
    CodeFix(
        "trading.place_order.fresh_id",
        "trading_bot",
        "place_order",
        "A new order never overwrites an existing one: when the counter names a taken id, the "
        "order gets the next free id (above every existing integer id).",
        ("implementation.manual:trading_bot-4",),
    ),
    CodeFix(
        "gfs.cp.file_exists",
        "gorilla_file_system",
        "cp",
        "Copying into a directory that already holds the source's name returns the intended "
        "'File exists' error instead of raising.",
        ("implementation.manual:gorilla_file_system-3",),
    ),
    CodeFix(
        "vehicle.lockDoors.unknown_door",
        "vehicle_control",
        "lockDoors",
        "An unknown door name is answered with an error naming the valid doors, before any "
        "door changes, instead of raising KeyError.",
        ("implementation.manual:vehicle_control-3",),
    ),
    CodeFix(
        "message.add_contact.user_count",
        "message_api",
        "add_contact",
        "A failed add_contact (the derived id is taken) leaves user_count unchanged.",
        ("implementation.manual:message_api-5",),
    ),
]


def repaired_scenario(
    config: Mapping[str, Any] | None = None, long_context: bool = False
) -> dict[str, Any]:
    """`environments.bfcl.common.scenario(...)` with the repaired flag set."""
    from environments.bfcl.common import scenario

    return scenario(dict(config or {}), long_context, repaired=True)


def mark_repaired(db: sqlite3.Connection, table: str, scenario: Mapping[str, Any]) -> None:
    """Called by a port's loader: record the scenario's repaired flag in ``table``."""
    if scenario.get("repaired") and not is_repaired(db, table):
        db.execute(
            f'ALTER TABLE "{table}" ADD COLUMN {_COLUMN} INTEGER NOT NULL DEFAULT 1 '
            f"CHECK ({_COLUMN} = 1)"
        )


def is_repaired(db: sqlite3.Connection, table: str) -> bool:
    """Whether the port's state table carries the repaired flag."""
    row = db.execute(
        "SELECT 1 FROM pragma_table_info(?) WHERE name = ?", (table, _COLUMN)
    ).fetchone()
    return row is not None
