"""Code-level fixes of the BFCL port, active only in repaired mode.

The port replays BFCL's ground truth exactly as the original classes do (faithful mode, the
default), so the differential check against the release keeps holding. A scenario carrying
``"repaired": True`` switches the fixes below on: the port's loader calls `mark_repaired`,
which adds a ``repaired`` column to the port's single-row state table, and the fixed tools ask
`is_repaired`. Faithful databases never get the column, so their schema and state are exactly
what they were before these fixes existed.

`FIXES` is the registry the repair step and the CHANGELOG cite: each fix names the tool it
changes, the implementation findings it answers (the port authors' ``implementation.manual``
finding and the automatic findings whose evidence the fix changes, checked by re-execution in
``tests/audit/test_dispositions.py``) and its regression tests. `ACCEPTED` names the
implementation findings kept on purpose, with the reason; every other implementation finding
stays unrepaired (the port reproduces the original so that BFCL's references replay).

A fix that enforces a limit the original does not check also names it as a `Guard`: when the
fix changes a repaired reference's result, `eigencore.audit.fix_meaning` uses it to see whether
the scenario's limit contradicts what the user said, and to repair the scenario or the request
so that the task means the same under both codes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ACCEPTED",
    "FIXES",
    "CodeFix",
    "Guard",
    "fix_for",
    "is_repaired",
    "mark_repaired",
    "repaired_scenario",
]

_COLUMN = "repaired"


@dataclass(frozen=True)
class Guard:
    """A limit a fix enforces on one argument of its function: the call is refused with
    `refusal` when the argument exceeds the state value `limit` (an `initial_config` key of
    `class_name`), which the user can set with `setter(..., setter_argument=...)`."""

    class_name: str
    argument: str
    limit: str
    setter: str
    setter_argument: str
    refusal: str
    concept: str
    """The word a user says for the limit ('budget'), to find the amount they state."""
    value_noun: str
    """What the user calls the argument ('fare'), in a clarification."""
    limit_noun: str
    """What the user calls the limit ('budget limit'), in a clarification."""


@dataclass(frozen=True)
class CodeFix:
    id: str
    module: str
    """The port package under ``environments/bfcl``."""
    function: str
    summary: str
    finding_ids: tuple[str, ...]
    tests: tuple[str, ...] = ()
    """The regression tests (``tests/audit/test_code_fixes.py``) that pin both modes."""
    guard: Guard | None = None


FIXES: list[CodeFix] = [
    CodeFix(
        "travel.purchase_insurance.funds",
        "travel_booking",
        "purchase_insurance",
        "Insurance is refused with 'Insufficient funds' when the card's balance is below its "
        "cost, instead of driving the balance negative.",
        ("implementation.manual:travel_booking-3",),
        ("tests/audit/test_code_fixes.py::test_purchase_insurance_checks_funds",),
    ),
    CodeFix(
        "travel.book_flight.budget",
        "travel_booking",
        "book_flight",
        "A fare above the budget limit is refused with 'Exceeded budget limit' (the original "
        "compares the card balance, not the fare, with the budget).",
        ("implementation.manual:travel_booking-2",),
        ("tests/audit/test_code_fixes.py::test_book_flight_budget_caps_the_fare",),
        Guard(
            class_name="TravelAPI",
            argument="travel_cost",
            limit="budget_limit",
            setter="set_budget_limit",
            setter_argument="budget_limit",
            refusal="Exceeded budget limit",
            concept="budget",
            value_noun="fare",
            limit_noun="budget limit",
        ),
    ),
    CodeFix(
        "trading.place_order.fresh_id",
        "trading_bot",
        "place_order",
        "A new order never overwrites an existing one: when the counter names a taken id, the "
        "order gets the next free id (above every existing integer id).",
        (
            "implementation.manual:trading_bot-4",
            "implementation.invariant_counter:TradingBot.place_order.order_counter/orders",
        ),
        ("tests/audit/test_code_fixes.py::test_place_order_keeps_existing_orders",),
    ),
    CodeFix(
        "gfs.cp.file_exists",
        "gorilla_file_system",
        "cp",
        "Copying into a directory that already holds the source's name returns the intended "
        "'File exists' error instead of raising.",
        (
            "implementation.manual:gorilla_file_system-3",
            "implementation.exception:GorillaFileSystem.cp.ValueError",
        ),
        ("tests/audit/test_code_fixes.py::test_cp_into_directory_with_same_name",),
    ),
    CodeFix(
        "vehicle.lockDoors.unknown_door",
        "vehicle_control",
        "lockDoors",
        "An unknown door name is answered with an error naming the valid doors, before any "
        "door changes, instead of raising KeyError.",
        ("implementation.manual:vehicle_control-3",),
        ("tests/audit/test_code_fixes.py::test_lock_doors_unknown_door",),
    ),
    CodeFix(
        "message.add_contact.user_count",
        "message_api",
        "add_contact",
        "A failed add_contact (the derived id is taken) leaves user_count unchanged.",
        (
            "implementation.manual:message_api-5",
            "implementation.invariant_counter:MessageAPI.add_contact.user_count/user_map",
        ),
        ("tests/audit/test_code_fixes.py::test_failed_add_contact_keeps_user_count",),
    ),
]


ACCEPTED: dict[str, str] = {
    "implementation.manual:trading_bot-13": "cosmetic: a missing space between two sentences "
    "of an error message; the message still says what failed",
    "implementation.manual:travel_booking-13": "cosmetic: a missing space between two "
    "sentences of an error message; the message still says what failed",
}
"""Implementation findings kept on purpose (finding id -> reason)."""


def fix_for(finding_id: str) -> CodeFix | None:
    """The code fix that answers a finding, if any."""
    return next((f for f in FIXES if finding_id in f.finding_ids), None)


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
        _recapture(db, table)


def _recapture(db: sqlite3.Connection, table: str) -> None:
    """Rebuild the table's change-capture triggers, which list its columns as they were:
    otherwise every later update logs an old row without the flag, and the flag shows up in
    the state diff as a change from None to 1."""
    from environments import capture

    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (capture.CHANGES,)
    ).fetchone()
    if exists is None:
        return
    for op in ("u", "d"):
        db.execute(f'DROP TRIGGER IF EXISTS "_eigen_{table}_{op}"')
    capture.install(db)


def is_repaired(db: sqlite3.Connection, table: str) -> bool:
    """Whether the port's state table carries the repaired flag."""
    row = db.execute(
        "SELECT 1 FROM pragma_table_info(?) WHERE name = ?", (table, _COLUMN)
    ).fetchone()
    return row is not None
