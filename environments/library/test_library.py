"""Business rules of the library domain, exercised on real SQLite episodes."""

from __future__ import annotations

import pytest

from environments.envdb import EnvDb
from environments.library import BUNDLE


@pytest.fixture
def env() -> EnvDb:
    return EnvDb.open(BUNDLE)


def ok(env: EnvDb, tool: str, **args):
    out = env.call(tool, args)
    assert out.ok, out.error
    return out.value


def refused(env: EnvDb, tool: str, **args) -> dict:
    before = env.snapshot_json()
    out = env.call(tool, args)
    assert not out.ok
    assert env.snapshot_json() == before  # a refusal changes nothing
    return out.error


def test_checkout_and_return_with_late_fine(env: EnvDb) -> None:
    receipt = ok(env, "return_copy", barcode="B10010")  # C-1004's loan, due 2026-03-13
    assert (receipt.days_late, receipt.fine_charged_cents) == (3, 75)
    assert ok(env, "get_member", card_number="C-1004").fines_cents == 350 + 75
    loan = ok(env, "checkout", card_number="C-1003", barcode="B10010")
    assert (loan.loaned_on, loan.due_on) == ("2026-03-16", "2026-04-06")


def test_return_routes_copy_to_the_oldest_waiting_hold(env: EnvDb) -> None:
    # C-1006 waits for book 1 (B10001 is out with C-1001).
    receipt = ok(env, "return_copy", barcode="B10001")
    assert receipt.routed_to_hold == "C-1006"
    assert ok(env, "get_book", isbn="9780141439518").copies[0].status == "on_hold_shelf"
    assert refused(env, "checkout", card_number="C-1003", barcode="B10001")["kind"] == "not_allowed"
    ok(env, "checkout", card_number="C-1006", barcode="B10001")
    assert ok(env, "list_holds", card_number="C-1006") == []


def test_member_rules(env: EnvDb) -> None:
    suspended = refused(env, "checkout", card_number="C-1010", barcode="B10003")
    assert "suspended" in suspended["message"]
    assert "fines" in refused(env, "checkout", card_number="C-1007", barcode="B10003")["message"]
    too_much = refused(env, "pay_fine", card_number="C-1004", amount_cents=351)
    assert too_much["field"] == "amount_cents"
    assert refused(env, "delete_member", card_number="C-1001")["kind"] == "not_allowed"
    assert ok(env, "delete_member", card_number="C-1014") == {"deleted": "C-1014"}
    assert refused(env, "get_member", card_number="C-1014")["kind"] == "not_found"


def test_renewal_rules(env: EnvDb) -> None:
    assert "overdue" in refused(env, "renew_loan", barcode="B10007")["message"]
    assert "waiting" in refused(env, "renew_loan", barcode="B10001")["message"]
    loan = ok(env, "renew_loan", barcode="B10004")
    assert (loan.due_on, loan.renewals) == ("2026-04-20", 1)
    ok(env, "renew_loan", barcode="B10004")
    assert "renewed 2 times" in refused(env, "renew_loan", barcode="B10004")["message"]


def test_holds_and_registration(env: EnvDb) -> None:
    m = ok(env, "register_member", name="Zoe Quinn", email="zoe@example.org", home_branch="OAK")
    assert m.card_number == "C-1015" and m.joined_on == "2026-03-16"
    assert refused(env, "register_member", name="Z", email="zoe@example.org",
                   home_branch="OAK")["kind"] == "conflict"
    hold = ok(env, "place_hold", card_number="C-1015", isbn="9780441172719", pickup_branch="RIV")
    assert hold.status == "waiting"
    assert refused(env, "place_hold", card_number="C-1015", isbn="9780441172719",
                   pickup_branch="RIV")["kind"] == "conflict"
    assert ok(env, "cancel_hold", card_number="C-1015", isbn="9780441172719").status == "cancelled"


def test_search_is_case_insensitive_and_literal(env: EnvDb) -> None:
    titles = [b.title for b in ok(env, "search_catalog", query="the LORD")]
    assert titles == ["The Lord of the Rings"]
    assert ok(env, "search_catalog", query="%") == []  # wildcards are matched literally
    assert len(ok(env, "search_catalog", query="the", subject="fiction", limit=2)) == 2
