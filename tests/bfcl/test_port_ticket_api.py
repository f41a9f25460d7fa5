"""TicketAPI port (`environments/bfcl/ticket_api`) against the original BFCL class."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from eigencore.bfcl.calls import Call
from eigencore.bfcl.differential import compare_turns
from eigencore.bfcl.release import Entry
from environments.bfcl.common import scenario
from environments.bfcl.ticket_api import BUNDLE
from environments.envdb import EnvDb
from tests.bfcl.helpers import port_checks

CLASS = "TicketAPI"
NAMES = {t.name for t in BUNDLE.tools}


# -- off the reference path -------------------------------------------------------------------
EDGE_TEXT = ["", " ", "nobody", "open", "CLOSED", "ünïcødé ✓", "名前", "a\x00b", "x" * 300]
EDGE_INTS = [0, 1, -1, 5, 6, 2**63 - 1, 2**63, -(2**63) - 1, 10**30]


def _pools(config: dict[str, Any]) -> dict[str, list[Any]]:
    queue = config.get("ticket_queue", [])
    ids = [t["id"] for t in queue if "id" in t] + [config.get("ticket_counter", 1)]
    users = [config.get("current_user") or "tester"]
    users += [t["created_by"] for t in queue if isinstance(t.get("created_by"), str)]
    statuses = [t["status"] for t in queue if isinstance(t.get("status"), str)]
    statuses += ["Open", "Closed", "Resolved", "In Progress"]
    return {"ids": ids, "users": users, "statuses": statuses}


def _calls(draw: Any, config: dict[str, Any]) -> list[Call]:
    pools = _pools(config)
    text = st.sampled_from(EDGE_TEXT) | st.text(max_size=12)
    ticket_id = st.sampled_from(pools["ids"]) | st.sampled_from(EDGE_INTS)
    user = st.sampled_from(pools["users"]) | text
    status = st.sampled_from(pools["statuses"]) | text
    priority = st.integers(0, 6) | st.sampled_from(EDGE_INTS)
    field_value = st.none() | text | status | priority
    updates = st.dictionaries(
        st.sampled_from(["title", "description", "status", "priority", "created_by", "owner"]),
        field_value, max_size=4)
    kwargs_for = {
        "create_ticket": st.fixed_dictionaries(
            {"title": text}, optional={"description": text, "priority": priority}),
        "get_ticket": st.fixed_dictionaries({"ticket_id": ticket_id}),
        "close_ticket": st.fixed_dictionaries({"ticket_id": ticket_id}),
        "resolve_ticket": st.fixed_dictionaries({"ticket_id": ticket_id, "resolution": text}),
        "edit_ticket": st.fixed_dictionaries({"ticket_id": ticket_id, "updates": updates}),
        "ticket_login": st.fixed_dictionaries({"username": user, "password": text}),
        "ticket_get_login_status": st.just({}),
        "logout": st.just({}),
        "get_user_tickets": st.just({}) | st.fixed_dictionaries({"status": st.none() | status}),
    }
    calls = []
    for _ in range(draw(st.integers(1, 8))):
        fn = draw(st.sampled_from(sorted(kwargs_for)))
        # Several invalid update names are listed in set (hash) order: both sides agree within
        # one process, though the text varies between processes (finding ticket_api-3).
        calls.append(Call(fn, (), draw(kwargs_for[fn])))
    return calls


(entries, distinct_configs, test_tools_match_the_original_methods,
 test_ground_truth_replays_identically, test_random_calls_match_the_original) = port_checks(
    CLASS, NAMES, entry_count=124, calls_for=_calls, max_examples=250)


# -- the port directly ------------------------------------------------------------------------
def _open(config: dict[str, Any] | None = None) -> EnvDb:
    return EnvDb.open(BUNDLE, scenario(config))


def test_default_scenario_state() -> None:
    assert BUNDLE.project(_open().db) == {
        "ticket_queue": [], "ticket_counter": 1, "current_user": None}


def test_failing_call_changes_nothing() -> None:
    db = _open({"current_user": "ann", "ticket_queue": [
        {"id": 1, "created_by": "ann", "status": "Open"}, {"ticket_001": {"id": 2}}]})
    out = db.call("close_ticket", {"ticket_id": 2})  # the second ticket has no "id"
    assert not out.ok and out.error["message"] == "'id'"
    assert db.call("close_ticket", {"ticket_id": 1}).ok  # found before the broken one
    assert not db.call("get_user_tickets", {}).ok  # ... which has no "created_by"
    assert [c.table for c in db.diff().changes] == ["tickets"]


def test_invalid_argument_types_are_refused() -> None:
    db = _open({"current_user": "ann"})
    out = db.call("create_ticket", {"title": "t", "priority": "high"})
    assert not out.ok and out.error["kind"] == "invalid_arguments"
    out = db.call("edit_ticket", {"ticket_id": 1, "updates": ["title"]})
    assert not out.ok and out.error["kind"] == "invalid_arguments"
    assert db.diff().empty


def test_ticket_dicts_round_trip_exactly() -> None:
    ticket = {"id": "t-1", "priority": "high", "status": None, "created_by": "ann",
              "nested": {"a": [1, 2.5]}, "title": True, "resolution": 2**70}
    db = _open({"current_user": "ann", "ticket_queue": [ticket]})
    got = db.call("get_ticket", {"ticket_id": "t-1"}).value
    assert got == ticket and list(got) == list(ticket) and got["title"] is True
    db.call("edit_ticket", {"ticket_id": "t-1", "updates": {"description": "d", "status": "x"}})
    assert list(BUNDLE.project(db.db)["ticket_queue"][0]) == [*ticket, "description"]


def test_create_and_list() -> None:
    db = _open({"current_user": "ann", "ticket_counter": 7})
    out = db.call("create_ticket", {"title": "Printer", "priority": 5})
    assert out.value == {"id": 7, "title": "Printer", "description": "", "status": "Open",
                         "priority": 5, "created_by": "ann"}
    assert db.call("create_ticket", {"title": "x", "priority": 6}).value == {
        "error": "Invalid priority. Priority must be between 1 and 5."}
    assert db.call("get_user_tickets", {"status": "OPEN"}).value == [out.value]


def _synthetic(config: dict[str, Any]) -> Entry:
    return Entry(id="multi_turn_base_9999", category="base", question=[[]],
                 initial_config={CLASS: config}, involved_classes=[CLASS], ground_truth=[[]])


def test_unusual_scenarios_match_the_original() -> None:
    config = {"current_user": "ann", "ticket_counter": 1, "ticket_queue": [
        {"id": 1, "created_by": "ann", "status": "Open", "title": None},
        {"id": 1, "created_by": "bob", "status": "Resolved", "priority": "high"},
        {"id": "1", "created_by": "ann", "status": "open", "extra": [1, {"k": None}]}]}
    calls = ["create_ticket('dup id', 'd', 3)", "get_ticket(1)", "get_ticket('1')",
             "edit_ticket(1, {'title': 'T', 'description': None, 'priority': 5})",
             "resolve_ticket(1, 'done')", "resolve_ticket(1, 'again')", "close_ticket('1')",
             "close_ticket('1')", "get_user_tickets('OPEN')", "get_user_tickets()",
             "edit_ticket(2, {})", "logout()", "logout()", "create_ticket('x')",
             "ticket_get_login_status()"]
    assert compare_turns(_synthetic(config), [calls]) == []
