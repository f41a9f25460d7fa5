"""Schema checks: each finds its seeded defect in a tiny fake doc/method and flags nothing in a
clean one; plus the real audit on the pinned release, with findings verified by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from eigencore.audit.schema import (
    Observation,
    annotation_kinds,
    audit_schemas,
    check_enums,
    check_function,
    check_names,
    check_responses,
    check_signature,
    documented_enum,
    invoke,
)
from eigencore.bfcl.calls import Call
from eigencore.bfcl.reference import ExecResult
from eigencore.bfcl.release import Release


def doc(name: str, props: dict[str, Any], required: list[str], response: Any = None) -> dict:
    return {
        "name": name,
        "description": "",
        "parameters": {"type": "dict", "properties": props, "required": required},
        "response": response or {"type": "dict", "properties": {}},
    }


class Bank:
    """A clean fake class: its docs below match it exactly."""

    def __init__(self) -> None:
        self.balance = 10.0

    def transfer(self, to: str, amount: float, memo: str = "") -> dict[str, Any]:
        return {"to": to, "amount": amount}

    def mode(self, option: str) -> dict[str, Any]:
        if option not in ("fast", "slow"):
            return {"error": "Invalid option"}
        return {"mode": option}


TRANSFER = doc(
    "transfer",
    {
        "to": {"type": "string", "description": "Receiver."},
        "amount": {"type": "float", "description": "Amount."},
        "memo": {"type": "string", "description": "Memo.", "default": ""},
    },
    ["to", "amount"],
    {"type": "dict", "properties": {"to": {"type": "string"}, "amount": {"type": "float"}}},
)
MODE = doc(
    "mode",
    {"option": {"type": "string", "description": 'Option. [Enum]: ["fast", "slow"]'}},
    ["option"],
)


def fresh_execute(cls: type) -> Any:
    """An Execute seam: each call on a fresh instance."""

    def execute(call: Call) -> ExecResult:
        return invoke(getattr(cls(), call.name), call)[0]

    return execute


def checks(findings: list) -> list[str]:
    return sorted(f.check for f in findings)


# --------------------------------------------------------------------------- clean


def test_clean_class_and_docs_yield_nothing() -> None:
    bank = Bank()
    observed = [
        Observation("transfer(to='a', amount=1.0)", {"to": "a", "amount": 1.0}, "{...}"),
        Observation("transfer(to='b', amount=2)", {"to": "b", "amount": 2}, "{...}"),
    ]
    execute = fresh_execute(Bank)
    assert (
        check_names("Bank", [TRANSFER, MODE], {"transfer": bank.transfer, "mode": bank.mode}) == []
    )
    assert check_function("Bank", TRANSFER, bank.transfer, observed, execute) == []
    assert check_function("Bank", MODE, bank.mode, [], execute) == []


# --------------------------------------------------------------------------- names, params


def test_names_both_directions() -> None:
    bank = Bank()
    found = check_names(
        "Bank", [TRANSFER, doc("refund", {}, [])], {"transfer": bank.transfer, "mode": bank.mode}
    )
    assert {(f.check, f.function) for f in found} == {
        ("schema.missing_method", "refund"),
        ("schema.undocumented_function", "mode"),
    }


def test_unknown_and_undocumented_params() -> None:
    class Seeded:
        def transfer(self, to: str, amount: float, secret: int) -> dict:
            return {}

    wrong = doc("transfer", {**TRANSFER["parameters"]["properties"]}, ["to", "amount"])
    found = check_signature(
        "Bank",
        wrong,
        Seeded().transfer,
        fresh_execute(Seeded),
        {"to": "a", "amount": 1.0, "secret": 1},
    )
    by_check = {f.check: f for f in found}
    assert by_check["schema.undocumented_param"].id.endswith("transfer.secret")
    assert by_check["schema.undocumented_param"].severity == "error"  # no default: uncallable
    unknown = by_check["schema.unknown_param"]
    assert unknown.id.endswith("transfer.memo")
    assert "unexpected keyword argument 'memo'" in unknown.evidence.result


def test_required_mismatch_both_directions_with_executed_evidence() -> None:
    seeded = doc(
        "transfer",
        {
            "to": {"type": "string"},
            "amount": {"type": "float"},
            "memo": {"type": "string", "default": ""},
        },
        ["to", "memo"],  # amount (no default in code) optional; memo (has default) required
    )
    found = check_signature(
        "Bank", seeded, Bank().transfer, fresh_execute(Bank), {"to": "a", "amount": 1.0}
    )
    mismatches = {
        f.id.rsplit(".", 1)[-1]: f for f in found if f.check == "schema.required_mismatch"
    }
    assert set(mismatches) == {"amount", "memo"}
    assert mismatches["amount"].severity == "error"
    assert (
        "missing 1 required positional argument: 'amount'" in mismatches["amount"].evidence.result
    )
    assert mismatches["memo"].severity == "warning"


def test_default_mismatch_string_none() -> None:
    class Echo:
        def echo(self, content: str, file_name: str | None = None) -> dict | None:
            return None if file_name is not None else {"terminal_output": content}

    seeded = doc(
        "echo",
        {"content": {"type": "string"}, "file_name": {"type": "string", "default": "None"}},
        ["content"],
    )
    found = check_signature("FS", seeded, Echo().echo, fresh_execute(Echo), {"content": "hi"})
    assert checks(found) == ["schema.default_mismatch"]
    evidence = found[0].evidence
    assert evidence.call == "echo(content='hi', file_name='None')"
    assert evidence.result == "None"
    assert "terminal_output" in evidence.expected
    clean = doc(
        "echo", {"content": {"type": "string"}, "file_name": {"type": "string"}}, ["content"]
    )
    assert check_signature("FS", clean, Echo().echo) == []


def test_type_mismatch_params_and_items() -> None:
    class Seeded:
        def total(self, numbers: list[int], scale: str) -> dict:
            return {}

    seeded = doc(
        "total",
        {
            "numbers": {"type": "array", "items": {"type": "string"}},
            "scale": {"type": "integer"},
        },
        ["numbers", "scale"],
    )
    found = check_signature("M", seeded, Seeded().total)
    assert sorted(f.id.rsplit(".", 1)[-1] for f in found) == ["numbers[]", "scale"]
    assert set(checks(found)) == {"schema.type_mismatch"}


def test_annotation_kinds() -> None:
    assert annotation_kinds(int) == {"integer"}
    assert annotation_kinds(int | None) == {"integer", "null"}
    assert annotation_kinds("Optional[str]") == {"string", "null"}
    assert annotation_kinds(list[float]) == {"array"}
    assert annotation_kinds(Any) is None


def test_param_order() -> None:
    seeded = doc(
        "transfer",
        {"amount": {"type": "float"}, "to": {"type": "string"}, "memo": {"type": "string"}},
        ["to", "amount"],
    )
    found = [
        f
        for f in check_signature("Bank", seeded, Bank().transfer)
        if f.check == "schema.param_order"
    ]
    assert len(found) == 1
    assert "['amount', 'to', 'memo']" in found[0].evidence.notes
    assert "['to', 'amount', 'memo']" in found[0].evidence.notes


# --------------------------------------------------------------------------- enums


def test_enum_value_rejected() -> None:
    seeded = doc(
        "mode",
        {"option": {"type": "string", "description": 'O. [Enum]: ["fast", "slow", "fsat"]'}},
        ["option"],
    )
    found = check_enums("Bank", seeded, Bank().mode, fresh_execute(Bank))
    assert [f.id for f in found] == ['schema.enum_rejected:Bank.mode.option="fsat"']
    assert found[0].evidence.call == "mode(option='fsat')"
    assert found[0].evidence.result == '{"error": "Invalid option"}'


def test_enum_precondition_failing_every_value_is_not_the_values_fault() -> None:
    class Locked:
        def start(self, mode: str) -> dict:
            return {"error": "Lock the doors first."}

    seeded = doc(
        "start", {"mode": {"type": "string", "description": "[Enum]: START, STOP"}}, ["mode"]
    )
    assert check_enums("Car", seeded, Locked().start, fresh_execute(Locked)) == []


def test_enum_other_params_filled_from_fillers() -> None:
    class Rates:
        def rate(self, base: str, target: str) -> dict:
            if base == target or "XXX" in (base, target):
                raise ValueError("No rate")
            return {"rate": 1.0}

    seeded = doc(
        "rate",
        {
            "base": {"type": "string", "description": "[Enum]: USD, EUR, XXX"},
            "target": {"type": "string", "description": "[Enum]: USD, EUR, XXX"},
        },
        ["base", "target"],
    )
    found = check_enums(
        "T",
        seeded,
        Rates().rate,
        fresh_execute(Rates),
        [{"base": "EUR", "target": "USD"}, {"base": "USD", "target": "EUR"}],
    )
    # USD and EUR each fail only against themselves; XXX fails everywhere.
    assert sorted(f.id.split("rate.")[-1] for f in found) == ['base="XXX"', 'target="XXX"']


def test_documented_enum_forms() -> None:
    assert documented_enum({"description": 'X. [Enum]: ["a", "b"]'}) == ["a", "b"]
    assert documented_enum({"description": "X. [Enum]: USD, EUR"}) == ["USD", "EUR"]
    assert documented_enum({"enum": [1, 2]}) == [1, 2]
    assert documented_enum({"description": "no enum"}) is None


# --------------------------------------------------------------------------- responses


RESPONSE = {
    "type": "dict",
    "properties": {
        "result": {"type": "float"},
        "items": {
            "type": "array",
            "items": {"type": "dict", "properties": {"id": {"type": "integer"}}},
        },
        "status": {"type": "string"},
    },
}


def test_responses_missing_undocumented_and_wrong_type() -> None:
    seeded = doc("calc", {}, [], RESPONSE)
    observed = [
        Observation("calc()", {"result": Decimal("1.5"), "items": [{"id": 1}], "extra": 1}, "a"),
        Observation("calc()", {"result": 2.0, "items": [{"id": "2"}], "extra": 2}, "b"),
        Observation("calc(x=1)", {"error": "bad"}, "c"),  # reported errors are not responses
        Observation("calc(x=2)", None, "Error during execution: boom", error=True),
    ]
    found = {f.id.split(":", 1)[1]: f for f in check_responses("M", seeded, observed)}
    assert set(found) == {"M.calc.result", "M.calc.items[].id", "M.calc.status", "M.calc.extra"}
    assert found["M.calc.result"].check == "schema.response_type"
    assert "Decimal" in found["M.calc.result"].summary
    assert found["M.calc.items[].id"].check == "schema.response_type"
    assert found["M.calc.status"].check == "schema.response_field_missing"
    assert found["M.calc.extra"].check == "schema.response_field_undocumented"
    assert found["M.calc.result"].evidence.call == "calc()"


def test_response_top_level_type() -> None:
    seeded = doc("ls", {}, [], {"type": "dict", "properties": {"files": {"type": "array"}}})
    found = check_responses("FS", seeded, [Observation("ls()", ["a", "b"], "['a', 'b']")])
    assert [f.id for f in found] == ["schema.response_type:FS.ls.response"]


def test_clean_responses() -> None:
    seeded = doc("calc", {}, [], RESPONSE)
    observed = [
        Observation("calc()", {"result": 1, "items": [{"id": 1}], "status": "ok"}, "a"),
        Observation("calc()", {"result": 2.5, "items": [], "status": "ok"}, "b"),
    ]
    assert check_responses("M", seeded, observed) == []


def test_data_keys_collapse_into_one_finding() -> None:
    record = {
        "type": "dict",
        "properties": {
            "history": {"type": "dict", "properties": {"travel_date": {"type": "string"}}}
        },
    }
    seeded = doc("book", {}, [], record)
    history = {f"booking_{i}": {"travel_date": "2024-01-01"} for i in range(8)}
    found = check_responses("T", seeded, [Observation("book()", {"history": history}, "x")])
    undocumented = [f for f in found if f.check == "schema.response_field_undocumented"]
    assert [f.id for f in undocumented] == ["schema.response_field_undocumented:T.book.history.*"]


# --------------------------------------------------------------------------- the release


@pytest.fixture(scope="module")
def real_findings(release: Release) -> dict[str, Any]:
    return {f.id: f for f in audit_schemas(release)}


def test_real_release_findings(real_findings: dict[str, Any]) -> None:
    # displayCarStatus documents "brakePadle"; the method knows only "brakePedal".
    enum = real_findings[
        'schema.enum_rejected:VehicleControlAPI.displayCarStatus.option="brakePadle"'
    ]
    assert enum.evidence.result == '{"error": "Invalid option"}'
    # logarithm returns an mpmath number where the doc says float.
    log = real_findings["schema.response_type:MathAPI.logarithm.result"]
    assert "mpf" in log.summary and "mpf(" in log.evidence.result
    # echo.file_name defaults to the STRING "None" in the doc, to None in the code.
    echo = real_findings["schema.default_mismatch:GorillaFileSystem.echo.file_name"]
    assert (
        echo.evidence.schema_fragment["parameters"]["properties"]["file_name"]["default"] == "None"
    )
    assert "file_name: Optional[str] = None" in echo.evidence.signature
    # delete_message documents a message_id parameter the method does not take.
    unknown = real_findings["schema.unknown_param:MessageAPI.delete_message.message_id"]
    assert "unexpected keyword argument 'message_id'" in unknown.evidence.result
    # The documented default "None" for a date makes strptime raise, shown in a real state.
    dates = real_findings["schema.default_mismatch:TradingBot.get_transaction_history.start_date"]
    assert dates.evidence.call == "get_transaction_history(start_date='None')"
    assert dates.evidence.result.startswith("Error during execution: time data 'None'")
    assert "transaction_history" in dates.evidence.expected
    # purchase_insurance: doc order (.., insurance_cost, booking_id, ..) vs signature order.
    assert "schema.param_order:TravelAPI.purchase_insurance" in real_findings
    assert all(f.kind == "schema" for f in real_findings.values())
