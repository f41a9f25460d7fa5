"""Repaired-mode code fixes of the BFCL port: the faithful behaviour stays, the fix is opt-in."""

from __future__ import annotations

from typing import Any

import pytest

from eigencore.audit.code_fixes import FIXES, is_repaired, repaired_scenario
from environments.bfcl.common import BfclBundle, scenario
from environments.envdb import EnvDb

pytestmark = pytest.mark.usefixtures("release")  # the ports read the release's constants

AUTH = {
    "client_id": "client",
    "client_secret": "secret",
    "refresh_token": "refresh",
    "grant_type": "read_write",
    "user_first_name": "Ada",
    "user_last_name": "Lovelace",
}


def _open(bundle: BfclBundle, repaired: bool, config: dict[str, Any] | None = None) -> EnvDb:
    return EnvDb.open(bundle, repaired_scenario(config) if repaired else scenario(config))


def test_registry_names_ported_tools() -> None:
    import importlib

    assert 4 <= len(FIXES) <= 6 and len({f.id for f in FIXES}) == len(FIXES)
    for fix in FIXES:
        bundle = importlib.import_module(f"environments.bfcl.{fix.module}").BUNDLE
        assert bundle.tool(fix.function).name == fix.function
        assert fix.finding_ids and all(i.startswith("implementation.") for i in fix.finding_ids)


def test_faithful_databases_carry_no_flag() -> None:
    from environments.bfcl.travel_booking import BUNDLE

    assert not is_repaired(_open(BUNDLE, False).db, "meta")
    assert is_repaired(_open(BUNDLE, True).db, "meta")


# -- TravelAPI ------------------------------------------------------------------------------------
def _travel(repaired: bool) -> tuple[EnvDb, str, str, float]:
    from environments.bfcl.travel_booking import BUNDLE

    db = _open(BUNDLE, repaired)
    token = db.call("authenticate_travel", AUTH).value["access_token"]
    card = db.call("register_credit_card", {
        "access_token": token, "card_number": "4111111111111111", "expiration_date": "12/2030",
        "cardholder_name": "Ada Lovelace", "card_verification_number": 123}).value["card_id"]
    balance = db.call("get_credit_card_balance", {"access_token": token, "card_id": card})
    return db, token, card, balance.value["card_balance"]


def _flight(token: str, card: str, cost: float) -> dict[str, Any]:
    return {"access_token": token, "card_id": card, "travel_date": "2024-11-15",
            "travel_from": "SFO", "travel_to": "LAX", "travel_class": "economy",
            "travel_cost": cost}


@pytest.mark.parametrize("repaired", [False, True])
def test_purchase_insurance_checks_funds(repaired: bool) -> None:
    db, token, card, balance = _travel(repaired)
    booking = db.call("book_flight", _flight(token, card, 100.0)).value["booking_id"]
    out = db.call("purchase_insurance", {
        "access_token": token, "insurance_type": "comprehensive", "booking_id": booking,
        "insurance_cost": balance * 2, "card_id": card}).value
    after = db.call("get_credit_card_balance", {"access_token": token, "card_id": card})
    if repaired:
        assert out == {"insurance_status": False, "error": "Insufficient funds"}
        assert after.value["card_balance"] == balance - 100.0
    else:  # the original: charged anyway, the balance goes negative
        assert out["insurance_status"] is True
        assert after.value["card_balance"] < 0


@pytest.mark.parametrize("repaired", [False, True])
def test_book_flight_budget_caps_the_fare(repaired: bool) -> None:
    db, token, card, balance = _travel(repaired)
    db.call("set_budget_limit", {"access_token": token, "budget_limit": 500.0})
    out = db.call("book_flight", _flight(token, card, 1000.0)).value
    if repaired:
        assert out == {"booking_status": False, "error": "Exceeded budget limit"}
    else:  # the original compares the balance (>= 10000) with the budget: booked
        assert balance >= 500 and out["booking_status"] is True


# -- TradingBot -----------------------------------------------------------------------------------
@pytest.mark.parametrize("repaired", [False, True])
def test_place_order_keeps_existing_orders(repaired: bool) -> None:
    from environments.bfcl.trading_bot import BUNDLE

    db = _open(BUNDLE, repaired)
    before = BUNDLE.project(db.db)["orders"]
    counter = BUNDLE.project(db.db)["order_counter"]
    assert counter in before  # the release's default counter names an existing order
    db.call("trading_login", {"username": "ada", "password": "pw"})
    out = db.call("place_order", {"order_type": "Buy", "symbol": "AAPL", "price": 100.0,
                                  "amount": 1}).value
    orders = BUNDLE.project(db.db)["orders"]
    if repaired:
        assert out["order_id"] not in before and orders[counter] == before[counter]
        assert len(orders) == len(before) + 1
    else:
        assert out["order_id"] == counter and orders[counter] != before[counter]


# -- GorillaFileSystem ----------------------------------------------------------------------------
@pytest.mark.parametrize("repaired", [False, True])
def test_cp_into_directory_with_same_name(repaired: bool) -> None:
    from environments.bfcl.gorilla_file_system import BUNDLE

    db = _open(BUNDLE, repaired)
    db.call("mkdir", {"dir_name": "d"})
    db.call("touch", {"file_name": "f"})
    assert db.call("cp", {"source": "f", "destination": "d"}).ok
    out = db.call("cp", {"source": "f", "destination": "d"})
    if repaired:
        assert out.ok and out.value == {"error": "cp: cannot copy 'f' to 'd/f': File exists"}
    else:  # the original raises inside _add_file
        assert not out.ok


# -- VehicleControlAPI ----------------------------------------------------------------------------
@pytest.mark.parametrize("repaired", [False, True])
def test_lock_doors_unknown_door(repaired: bool) -> None:
    from environments.bfcl.vehicle_control import BUNDLE

    db = _open(BUNDLE, repaired)
    doors = BUNDLE.project(db.db)["doorStatus"]
    out = db.call("lockDoors", {"unlock": False, "door": ["driver", "trunk"]})
    assert BUNDLE.project(db.db)["doorStatus"] == doors  # nothing changed either way
    if repaired:
        assert out.ok and "Unknown door 'trunk'" in out.value["error"]
    else:
        assert not out.ok


# -- MessageAPI -----------------------------------------------------------------------------------
@pytest.mark.parametrize("repaired", [False, True])
def test_failed_add_contact_keeps_user_count(repaired: bool) -> None:
    from environments.bfcl.message_api import BUNDLE

    config = {"user_count": 1, "user_map": {"Alice": "USR001", "Bob": "USR002"}}
    db = _open(BUNDLE, repaired, config)
    out = db.call("add_contact", {"user_name": "Carol"}).value
    assert out == {"error": "User ID 'USR002' already exists."}
    assert BUNDLE.project(db.db)["user_count"] == (1 if repaired else 2)
