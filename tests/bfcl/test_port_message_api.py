"""MessageAPI port (`environments/bfcl/message_api`) against the original BFCL class."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import strategies as st

from eigencore.bfcl.calls import Call
from eigencore.bfcl.differential import compare_turns
from eigencore.bfcl.release import Entry, Release
from environments.bfcl.common import release_constant, scenario
from environments.bfcl.message_api import BUNDLE, store
from environments.envdb import EnvDb
from tests.bfcl.helpers import port_checks

CLASS = "MessageAPI"
NAMES = {t.name for t in BUNDLE.tools}


def test_default_seed_is_the_release_one(release: Release) -> None:
    assert f'scenario.get("random_seed", {store.DEFAULT_SEED})' in release.source("message_api")


# -- off the reference path -------------------------------------------------------------------
EDGE_TEXT = ["", " ", "nobody", "USR999", "usr001", "ünïcødé ✓", "名前", "a\x00b", "x" * 300]


def _pools(config: dict[str, Any]) -> dict[str, list[str]]:
    default = release_constant("message_api", "DEFAULT_STATE")
    user_map = config.get("user_map", default["user_map"])
    inbox = config.get("inbox", default["inbox"])
    ids = list(user_map.values()) + [k for m in inbox for k in m]
    words = [w for m in inbox for v in m.values() if isinstance(v, str) for w in v.split()[:3]]
    return {"names": list(user_map) or ["x"], "ids": ids or ["x"], "words": words or ["file"]}


def _calls(draw: Any, config: dict[str, Any]) -> list[Call]:
    pools = _pools(config)
    text = st.sampled_from(EDGE_TEXT) | st.text(max_size=12)
    name = st.sampled_from(pools["names"]) | text
    user_id = st.sampled_from(pools["ids"]) | text
    word = st.sampled_from(pools["words"]) | text
    kwargs_for = {
        "list_users": st.just({}),
        "get_user_id": st.fixed_dictionaries({"user": name}),
        "message_login": st.fixed_dictionaries({"user_id": user_id}),
        "message_get_login_status": st.just({}),
        "send_message": st.fixed_dictionaries({"receiver_id": user_id, "message": word}),
        "delete_message": st.fixed_dictionaries({"receiver_id": user_id}),
        "view_messages_sent": st.just({}),
        "add_contact": st.fixed_dictionaries({"user_name": name}),
        "search_messages": st.fixed_dictionaries({"keyword": word}),
        "get_message_stats": st.just({}),
    }
    calls = []
    for _ in range(draw(st.integers(1, 8))):
        fn = draw(st.sampled_from(sorted(kwargs_for)))
        calls.append(Call(fn, (), draw(kwargs_for[fn])))
    return calls


(entries, distinct_configs, test_tools_match_the_original_methods,
 test_ground_truth_replays_identically, test_random_calls_match_the_original) = port_checks(
    CLASS, NAMES, entry_count=160, calls_for=_calls, max_examples=250)


# -- the port directly ------------------------------------------------------------------------
def _open(config: dict[str, Any] | None = None) -> EnvDb:
    return EnvDb.open(BUNDLE, scenario(config))


def test_default_scenario_state() -> None:
    state = BUNDLE.project(_open().db)
    assert state["generated_ids"] == set() and state["current_user"] is None
    assert state["user_map"] == {"Alice": "USR001", "Bob": "USR002", "Catherine": "USR003",
                                 "Daniel": "USR004"}
    assert len(state["inbox"]) == 3 and state["message_count"] == 3


def test_failing_call_changes_nothing() -> None:
    db = _open({"current_user": "USR001", "inbox": [{"USR002": "hi"}, {}]})
    out = db.call("view_messages_sent", {})
    assert not out.ok and out.error["message"] == "list index out of range"
    out = db.call("delete_message", {"receiver_id": "USR002"})
    assert not out.ok
    assert db.diff().empty


def test_invalid_argument_types_are_refused() -> None:
    db = _open({"current_user": "USR001"})
    out = db.call("send_message", {"receiver_id": 2, "message": "x"})
    assert not out.ok and out.error["kind"] == "invalid_arguments"
    # BFCL's doc lists a `message_id` parameter that the method does not take.
    out = db.call("delete_message", {"receiver_id": "USR002", "message_id": 1})
    assert not out.ok and out.error["kind"] == "invalid_arguments"
    assert db.diff().empty


def test_message_ids_follow_the_seeded_generator() -> None:
    db = _open({"current_user": "USR001", "random_seed": 7})
    ids = [db.call("send_message", {"receiver_id": "USR002", "message": str(i)})
           .value["message_id"]["new_id"] for i in range(3)]
    rng = random.Random(7)
    assert ids == [rng.randint(10000, 99999) for _ in range(3)]
    assert BUNDLE.project(db.db)["generated_ids"] == set(ids)


def test_delete_removes_the_first_equal_message() -> None:
    db = _open({"current_user": "USR001",
                "inbox": [{"USR002": "same"}, {"USR003": "x"}, {"USR002": "same"}]})
    out = db.call("delete_message", {"receiver_id": "USR002"})
    assert out.value["message_id"] == "USR002"
    assert BUNDLE.project(db.db)["inbox"] == [{"USR003": "x"}, {"USR002": "same"}]


def test_failed_add_contact_still_counts() -> None:
    db = _open({"user_count": 1, "user_map": {"A": "USR002"}})
    assert db.call("add_contact", {"user_name": "B"}).value == {
        "error": "User ID 'USR002' already exists."}
    assert BUNDLE.project(db.db)["user_count"] == 2


def _synthetic(config: dict[str, Any]) -> Entry:
    return Entry(id="multi_turn_base_9999", category="base", question=[[]],
                 initial_config={CLASS: config}, involved_classes=[CLASS], ground_truth=[[]])


def test_unusual_scenarios_match_the_original() -> None:
    config = {"random_seed": "seed", "current_user": "U1", "user_count": 1,
              "user_map": {"A": "U1", "B": "U2", "C": "U2"},
              "inbox": [{"U2": "hi", "U3": ["x"]}, {"U2": "hi", "U3": ["x"]}, {"U2": None},
                        {"U1": 1.5}]}
    calls = [*["send_message(receiver_id='U2', message='m')"] * 3,
             "view_messages_sent()", "get_message_stats()", "delete_message('U2')",
             "delete_message('U2')", "delete_message('U2')", "search_messages('H')",
             "add_contact(user_name='D')", "list_users()", "message_login('U9')",
             "message_get_login_status()"]
    assert compare_turns(_synthetic(config), [calls]) == []
    empty_first = {"current_user": "U1", "user_map": {"A": "U1"}, "inbox": [{}, {"U1": "a"}]}
    calls = ["delete_message('U1')", "delete_message('U1')", "search_messages('a')"]
    assert compare_turns(_synthetic(empty_first), [calls]) == []
