"""Implementation checks: each finds its seeded defect in a tiny hand-made class (or a fake
comparator / manual record) and flags nothing in a clean one; plus the real audit on the
pinned release, with findings verified by hand."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eigencore.audit.implementation import (
    Context,
    ObjectSandbox,
    Sources,
    audit_implementations,
    exception_findings,
    find_clock,
    generate_arguments,
    invariant_findings,
    manual_findings,
    port_findings,
    probe_function,
    reverify_manual,
    state_violations,
)
from eigencore.audit.schema import documented_enum, value_fits
from eigencore.bfcl.calls import Call, parse_call
from eigencore.bfcl.differential import Deviation, compare_turns
from eigencore.bfcl.release import Entry, Release


def run(cls: type, texts: list[str], name: str | None = None) -> list:
    """Probe ``cls`` with call strings on one fresh instance; the steps taken."""
    calls = [parse_call(t) for t in texts]
    return probe_function("Fake", name or calls[0].name, lambda: ObjectSandbox(cls()), calls)


def ids(findings: list) -> list[str]:
    return sorted(f.id for f in findings)


# --------------------------------------------------------------------------- exceptions


class Lookup:
    def __init__(self) -> None:
        self.items = {"a": 1}

    def get(self, key: str) -> dict[str, Any]:
        return {"value": self.items[key]}  # seeded: KeyError on an unknown key


class SafeLookup(Lookup):
    def get(self, key: str) -> dict[str, Any]:
        if key not in self.items:
            return {"error": f"No item {key}"}
        return {"value": self.items[key]}


def test_exception_found_with_smallest_call() -> None:
    steps = run(Lookup, ["get(key='a')", "get(key='a')", "get(key='missing')", "get(key='zz')"])
    found = exception_findings(steps)
    assert ids(found) == ["implementation.exception:Fake.get.KeyError"]
    evidence = found[0].evidence
    # Both raising calls ran after other calls; re-run alone, the shorter one reproduces.
    assert evidence.call == "get(key='zz')"
    assert evidence.result == "Error during execution: 'zz'"
    assert found[0].kind == "implementation"


def test_no_exception_finding_for_error_dicts() -> None:
    assert exception_findings(run(SafeLookup, ["get(key='a')", "get(key='zz')"])) == []


def test_generated_calls_reach_the_exception() -> None:
    doc = {
        "name": "get",
        "parameters": {"type": "dict", "properties": {"key": {"type": "string"}}, "required": []},
    }
    rng = random.Random(7)
    sources = Sources(local={"key": ["a"]})
    calls = [Call("get", kwargs=generate_arguments(doc, sources, rng)) for _ in range(20)]
    calls = [c for c in calls if "key" in c.kwargs]  # optional: may be left out
    steps = probe_function("Fake", "get", lambda: ObjectSandbox(Lookup()), calls)
    assert [f.check for f in exception_findings(steps)] == ["implementation.exception"]
    safe = probe_function("Fake", "get", lambda: ObjectSandbox(SafeLookup()), calls)
    assert exception_findings(safe) == []


def test_endless_call_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import eigencore.audit.implementation as implementation

    class Spin:
        def spin(self, n: int) -> dict[str, Any]:
            while n >= 0:
                n += 1
            return {}

    monkeypatch.setattr(implementation, "CALL_SECONDS", 0.2)
    found = exception_findings(run(Spin, ["spin(n=1)"]))
    assert ids(found) == ["implementation.exception:Fake.spin.CallTimeout"]
    assert "does not return within 0.2 s" in found[0].summary


# --------------------------------------------------------------------------- invariants


class Wallet:
    def __init__(self) -> None:
        self.balance = 10.0

    def pay(self, amount: float) -> dict[str, Any]:
        self.balance -= amount  # seeded: no funds check
        return {"balance": self.balance}


class SafeWallet(Wallet):
    def pay(self, amount: float) -> dict[str, Any]:
        if amount < 0 or amount > self.balance:
            return {"error": "Insufficient funds"}
        return super().pay(amount)


def test_negative_balance() -> None:
    found = invariant_findings(run(Wallet, ["pay(amount=4.0)", "pay(amount=20.0)"]))
    assert ids(found) == ["implementation.invariant_negative:Fake.pay.balance"]
    assert found[0].evidence.call == "pay(amount=20.0)"
    assert "balance: 10.0 -> -10.0" in found[0].evidence.state_diff  # re-run alone
    clean = run(SafeWallet, ["pay(amount=4.0)", "pay(amount=20.0)", "pay(amount=-5.0)"])
    assert invariant_findings(clean) == []


class Users:
    def __init__(self) -> None:
        self.user_count = 1
        self.user_map = {"alice": "USR001"}

    def add_user(self, name: str) -> dict[str, Any]:
        self.user_count += 1  # seeded: advances before the duplicate check
        if name in self.user_map:
            return {"error": "exists"}
        self.user_map[name] = f"USR{self.user_count:03d}"
        return {"user_id": self.user_map[name]}


class SafeUsers(Users):
    def add_user(self, name: str) -> dict[str, Any]:
        if name in self.user_map:
            return {"error": "exists"}
        return super().add_user(name)


def test_counter_out_of_step() -> None:
    found = invariant_findings(run(Users, ["add_user(name='bob')", "add_user(name='alice')"]))
    assert ids(found) == ["implementation.invariant_counter:Fake.add_user.user_count/user_map"]
    assert found[0].evidence.call == "add_user(name='alice')"
    clean = run(SafeUsers, ["add_user(name='bob')", "add_user(name='alice')"])
    assert invariant_findings(clean) == []


def test_counter_below_existing_id_and_only_new_violations_count() -> None:
    broken = {"order_counter": 5, "orders": {7: {"id": 7}}}
    assert [v.detector for v in state_violations(broken)] == ["counter"]
    assert state_violations({"order_counter": 8, "orders": {7: {"id": 7}}}) == []

    class Orders:
        def __init__(self) -> None:
            self.order_counter = 5  # already below the existing id: the data's fault
            self.orders = {7: {"id": 7}}

        def noop(self) -> dict[str, Any]:
            return {}

    assert invariant_findings(run(Orders, ["noop()"])) == []


class Travel:
    def __init__(self) -> None:
        self.credit_card_list = {"c1": {"balance": 5.0}}
        self.booking_record = {"b1": {"card_id": "c1"}}

    def remove_card(self, card_id: str) -> dict[str, Any]:
        self.credit_card_list.pop(card_id, None)  # seeded: bookings keep pointing at it
        return {"removed": True}


class SafeTravel(Travel):
    def remove_card(self, card_id: str) -> dict[str, Any]:
        if any(b["card_id"] == card_id for b in self.booking_record.values()):
            return {"error": "Card in use"}
        return super().remove_card(card_id)


def test_dangling_reference() -> None:
    found = invariant_findings(run(Travel, ["remove_card(card_id='c1')"]))
    assert ids(found) == [
        "implementation.invariant_dangling:Fake.remove_card.booking_record.*.card_id"
    ]
    assert "names nothing in credit_card_list" in found[0].summary
    assert invariant_findings(run(SafeTravel, ["remove_card(card_id='c1')"])) == []


class Trips:
    CURRENT_TIME = datetime(2024, 9, 1, 10, 30)

    def __init__(self) -> None:
        self.trips: dict[int, dict[str, str]] = {}
        self.history: list[dict[str, str]] = []

    def book(self, travel_date: str) -> dict[str, Any]:
        self.trips[len(self.trips)] = {"travel_date": travel_date}
        return {"ok": True}

    def log(self, timestamp: str) -> dict[str, Any]:
        self.history.append({"timestamp": timestamp})
        return {"ok": True}


def test_dates_against_the_datas_clock() -> None:
    assert find_clock(Trips()) == datetime(2024, 9, 1, 10, 30)
    past = invariant_findings(run(Trips, ["book(travel_date='2024-01-01')"]))
    assert ids(past) == ["implementation.invariant_date:Fake.book.trips.*.travel_date"]
    future = invariant_findings(run(Trips, ["log(timestamp='2024-09-02 00:00:00')"]))
    assert ids(future) == ["implementation.invariant_date:Fake.log.history.*.timestamp"]
    clean = run(Trips, ["book(travel_date='2024-12-01')", "book(travel_date='2024-09-01')"])
    clean += run(Trips, ["log(timestamp='2024-09-01 09:00:00')"])
    assert invariant_findings(clean) == []


# --------------------------------------------------------------------------- generation


_KINDS = st.sampled_from(["string", "integer", "float", "boolean", "array", "dict"])


@st.composite
def docs(draw: st.DrawFn) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for i in range(draw(st.integers(0, 4))):
        kind = draw(_KINDS)
        schema: dict[str, Any] = {"type": kind, "description": "p"}
        if kind == "string" and draw(st.booleans()):
            schema["description"] = 'p [Enum]: ["x", "y"]'
        if kind == "array":
            schema["items"] = {"type": draw(st.sampled_from(["string", "float", "integer"]))}
        props[f"p{i}"] = schema
    required = [p for p in props if draw(st.booleans())]
    return {"name": "f", "parameters": {"type": "dict", "properties": props, "required": required}}


@settings(max_examples=60, deadline=None)
@given(docs(), st.integers(0, 10_000))
def test_generated_arguments_are_schema_valid(doc: dict[str, Any], seed: int) -> None:
    sources = Sources(local={"p0": ["truth", 3, 2.5, [1.0], {"k": 1}]})
    args = generate_arguments(doc, sources, random.Random(seed))
    props = doc["parameters"]["properties"]
    assert set(doc["parameters"]["required"]) <= set(args) <= set(props)
    for name, value in args.items():
        schema = props[name]
        assert value_fits(schema["type"], value), (name, schema, value)
        if schema["type"] == "array":
            assert all(value_fits(schema["items"]["type"], item) for item in value)
        enum = documented_enum(schema)
        if enum and schema["type"] == "string":
            assert value in enum
    assert generate_arguments(doc, sources, random.Random(seed)) == args  # deterministic


# --------------------------------------------------------------------------- the port


ENTRY = Entry(
    id="multi_turn_base_999",
    category="base",
    question=[[{"role": "user", "content": "hi"}]],
    initial_config={},
    involved_classes=["MathAPI"],
    ground_truth=[["add(a=1, b=2)"]],
)


def fake_compare(entry: Entry, turns: list[list[str]]) -> list[Deviation]:
    """Deviates on every call containing 'bad' (a seeded port defect)."""
    return [
        Deviation(entry.id, t, "result", c, "original text", "port text")
        for t, turn in enumerate(turns)
        for c in turn
        if "bad" in c
    ]


def test_port_deviation_reduced_to_the_call() -> None:
    context = Context(ENTRY, "MathAPI", prefix_turns=1)
    calls = ["f(x='ok')", "f(x='bad')", "f(x='bad2')"]
    found = port_findings("MathAPI", "f", context, calls, fake_compare)
    assert ids(found) == ["implementation.port_deviation:MathAPI.f.result"]
    evidence = found[0].evidence
    assert evidence.call == "f(x='bad')"
    assert (evidence.result, evidence.expected) == ("port text", "original text")
    assert "after its ground-truth turns 0..0" in evidence.notes
    assert port_findings("MathAPI", "f", context, ["f(x='ok')"], fake_compare) == []


def test_real_port_is_faithful_on_math_calls() -> None:
    context = Context(ENTRY, "MathAPI", prefix_turns=1)
    calls = ["add(a=2, b=3)", "divide(a=1, b=0)", "logarithm(value=8, base=2, precision=3)"]
    assert port_findings("MathAPI", "add", context, calls, compare_turns) == []


# --------------------------------------------------------------------------- manual findings


def record(**evidence: str) -> dict[str, Any]:
    return {
        "id": "vc-x",
        "kind": "schema",
        "function": "displayCarStatus",
        "summary": "brakePadle is rejected",
        "evidence": {"original_result": '{"error": "Invalid option"}', **evidence},
    }


def test_manual_finding_reverified(release: Release) -> None:
    confirmed = reverify_manual(
        record(call='displayCarStatus(option="brakePadle")'), "VehicleControlAPI", release
    )
    assert confirmed.id == "schema.manual:vc-x" and confirmed.kind == "schema"
    assert "confirmed it" in confirmed.evidence.notes
    wrong = reverify_manual(
        record(call='displayCarStatus(option="fuel")'), "VehicleControlAPI", release
    )
    assert "did NOT reproduce" in wrong.evidence.notes
    prose = reverify_manual(
        record(call="displayCarStatus(option='fuel') on a running car"),
        "VehicleControlAPI",
        release,
    )
    assert "not re-executed" in prose.evidence.notes


def test_manual_findings_from_files(tmp_path: Path, release: Release) -> None:
    module = tmp_path / "math_api"
    module.mkdir()
    (module / "findings.json").write_text(
        json.dumps(
            [
                {
                    "id": "math-x",
                    "kind": "ground_truth",
                    "function": "add",
                    "summary": "s",
                    "evidence": {
                        "call": "add(a=1, b=2)  # multi_turn_base_999",
                        "original_result": '{"result": 3}',
                    },
                }
            ]
        )
    )
    found = manual_findings(release, tmp_path, entries=[ENTRY])
    assert [(f.id, f.kind, f.entry_id) for f in found] == [
        ("trajectory.manual:math-x", "trajectory", "multi_turn_base_999")
    ]
    assert "confirmed it" in found[0].evidence.notes


# --------------------------------------------------------------------------- the release


def test_real_release_findings(release: Release) -> None:
    found = {f.id: f for f in audit_implementations(release)}
    # TwitterAPI.comment does `raise {"error": ...}` when not authenticated.
    comment = found["implementation.exception:TwitterAPI.comment.TypeError"]
    assert "exceptions must derive from BaseException" in comment.evidence.result
    # TradingBot's order_counter starts at the existing order id 12446: place_order overwrites.
    order = found["implementation.invariant_counter:TradingBot.place_order.order_counter/orders"]
    assert "12446 -> 12447" in order.summary
    # MessageAPI.add_contact bumps user_count before refusing an existing id.
    assert "implementation.invariant_counter:MessageAPI.add_contact.user_count/user_map" in found
    # TravelAPI.set_budget_limit accepts a negative budget.
    assert "implementation.invariant_negative:TravelAPI.set_budget_limit.budget_limit" in found
    # The port authors' brakePadle finding re-executes as recorded.
    assert "confirmed it" in found["schema.manual:vehicle_control-5"].evidence.notes
    assert {f.kind for f in found.values()} <= {"implementation", "schema", "trajectory"}
