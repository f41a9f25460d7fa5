"""Loading a TravelAPI scenario into the database, and projecting the state back out.

`load` mirrors the original's `_load_scenario`: defaults from the release's DEFAULT_STATE for
missing keys, then, in long-context mode, the release's extra cards and bookings appended
after the scenario's own (never replacing one with the same id). `project` returns the
instance's public attributes as the reference executor shows them.
"""

from __future__ import annotations

import copy
from typing import Any

from eigencore.audit.code_fixes import mark_repaired
from environments.bfcl.common import release_constant
from environments.bfcl.travel_booking import store
from environments.bfcl.travel_booking.catalog import MODULE, load_catalog
from environments.bfcl.travel_booking.store import BOOKINGS, CARDS, META_FIELDS
from environments.contract import Db, Scenario


def _extended(records: dict[str, Any], extension: dict[str, Any]) -> dict[str, Any]:
    out = dict(records)
    for record_id, record in extension.items():
        if record_id not in out:
            out[record_id] = record
    return out


def load(db: Db, scenario: Scenario) -> None:
    config: dict[str, Any] = copy.deepcopy(dict(scenario.get("config") or {}))
    long_context = bool(scenario.get("long_context", False))
    defaults: dict[str, Any] = release_constant(MODULE, "DEFAULT_STATE")

    def setting(name: str) -> Any:
        return config.get(name, defaults[name])

    cards: dict[str, Any] = setting("credit_card_list")
    bookings: dict[str, Any] = setting("booking_record")
    if long_context:
        cards = _extended(cards, release_constant("long_context", "CREDIT_CARD_EXTENSION"))
        bookings = _extended(
            bookings, release_constant("long_context", "BOOKING_RECORD_EXTENSION")
        )
    store.insert_meta(db, {name: setting(name) for name in META_FIELDS}, long_context)
    mark_repaired(db, "meta", scenario)  # repaired mode: eigencore.audit.code_fixes
    store.insert_rng(db, setting("random_seed"))
    CARDS.put_all(db, cards.items())
    BOOKINGS.put_all(db, bookings.items())
    load_catalog(db)


def project(db: Db) -> dict[str, Any]:
    return {
        "credit_card_list": CARDS.all(db),
        "booking_record": BOOKINGS.all(db),
        **store.read_meta(db),
    }
