"""MathAPI port (`environments/bfcl/math_api`) against the original BFCL class."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import mpmath
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eigencore.bfcl.calls import Call
from eigencore.bfcl.differential import compare_turns, differential, restrict
from eigencore.bfcl.reference import result_text
from eigencore.bfcl.release import Entry
from environments.bfcl.common import scenario
from environments.bfcl.math_api import BUNDLE
from environments.envdb import EnvDb

CLASS = "MathAPI"
NAMES = {t.name for t in BUNDLE.tools}


@pytest.fixture(scope="module")
def entries(all_entries: list[Entry]) -> list[Entry]:
    return [restrict(e, CLASS, NAMES) for e in all_entries if CLASS in e.involved_classes]


def test_tools_match_the_original_methods(release: Any) -> None:
    assert NAMES == {d["name"] for d in release.func_docs(CLASS)}
    assert BUNDLE.stateless and all(t.read_only for t in BUNDLE.tools)


def test_ground_truth_replays_identically(entries: list[Entry]) -> None:
    deviations = [str(d) for e in entries for d in differential(e)]
    calls = sum(len(turn) for e in entries for turn in e.ground_truth)
    print(f"\n{CLASS}: {len(entries)} entries, {calls} calls replayed")
    assert len(entries) == 100
    assert calls > 0
    assert deviations == []


# -- off the reference path -------------------------------------------------------------------
EDGE_INTS = [0, 1, -1, 2, 3, 7, 10, -32, 100, 2**53 + 1, 2**63, -(2**63) - 1, 10**30, 10**400]
EDGE_FLOATS = [0.0, -0.0, 0.1, -2.5, 1e-300, 5e-324, 1.5, 2.675, 1e16, 1e308, -1e308,
               math.inf, -math.inf]
SI_UNITS = ["km", "m", "cm", "mm", "um", "nm"]
IMPERIAL_PAIRS = [("cm", "in"), ("m", "ft"), ("m", "yd"), ("km", "miles"), ("kg", "lb"),
                  ("celsius", "fahrenheit")]
UNITS = [*SI_UNITS, "in", "ft", "yd", "miles", "kg", "lb", "celsius", "fahrenheit", "", "M",
         "ünït", "x" * 50]

number = (st.sampled_from(EDGE_INTS) | st.sampled_from(EDGE_FLOATS)
          | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False))
numbers = st.lists(number, max_size=6)
# Bounded where the computation itself would not end (int ** huge int, 10 ** huge digits).
small_int = st.integers(-64, 64)
precision = st.integers(-3, 60) | st.sampled_from([0, 1, 2, 10, 50])
unit = st.sampled_from(UNITS) | st.text(max_size=5)
si_units = st.tuples(st.sampled_from(SI_UNITS), st.sampled_from(SI_UNITS)) | st.tuples(unit, unit)
imperial_units = (st.sampled_from(IMPERIAL_PAIRS).flatmap(
    lambda pair: st.sampled_from([pair, pair[::-1]])) | st.tuples(unit, unit))


def _fixed(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(fields)


KWARGS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "logarithm": _fixed(value=number, base=number, precision=precision),
    "mean": _fixed(numbers=numbers),
    "standard_deviation": _fixed(numbers=numbers),
    "si_unit_conversion": st.builds(
        lambda value, units: {"value": value, "unit_in": units[0], "unit_out": units[1]},
        number, si_units),
    "imperial_si_conversion": st.builds(
        lambda value, units: {"value": value, "unit_in": units[0], "unit_out": units[1]},
        number, imperial_units),
    "add": _fixed(a=number, b=number),
    "subtract": _fixed(a=number, b=number),
    "multiply": _fixed(a=number, b=number),
    "divide": _fixed(a=number, b=number),
    "power": _fixed(base=number, exponent=small_int | st.floats(allow_nan=False)),
    "square_root": _fixed(number=number, precision=precision),
    "absolute_value": _fixed(number=number),
    "round_number": st.fixed_dictionaries(
        {"number": number}, optional={"decimal_places": st.integers(-400, 400)}),
    "percentage": _fixed(part=number, whole=number),
    "min_value": _fixed(numbers=numbers),
    "max_value": _fixed(numbers=numbers),
    "sum_values": _fixed(numbers=numbers),
}


def test_every_tool_is_exercised() -> None:
    assert set(KWARGS) == NAMES


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_calls_match_the_original(entries: list[Entry], data: Any) -> None:
    entry = data.draw(st.sampled_from(entries[:4]))
    calls = []
    for _ in range(data.draw(st.integers(1, 8))):
        name = data.draw(st.sampled_from(sorted(KWARGS)))
        calls.append(Call(name, (), data.draw(KWARGS[name])))
    deviations = compare_turns(entry, [calls])
    assert deviations == [], [str(d) for d in deviations]


# -- the port directly ------------------------------------------------------------------------
@pytest.fixture()
def db() -> EnvDb:
    return EnvDb.open(BUNDLE, scenario())


def test_state_is_empty(db: EnvDb) -> None:
    assert BUNDLE.project(db.db) == {}
    assert db.snapshot() == {}


def test_high_precision_results_keep_their_original_types(db: EnvDb) -> None:
    log = db.call("logarithm", {"value": 20, "base": 10, "precision": 2}).value["result"]
    # An mpf of a private mpmath context (so the global precision is never touched).
    assert type(log).__name__ == "mpf" and abs(float(log) - math.log10(20)) < 1e-2
    # The repr (what BFCL shows) follows the call's precision, whatever the global one is.
    assert result_text({"result": log}) == "{'result': mpf('1.3027')}"
    assert mpmath.mp.prec == 53
    root = db.call("square_root", {"number": 2, "precision": 5}).value["result"]
    assert root == Decimal("1.4142") and type(root) is Decimal


def test_int_and_float_results_keep_their_type(db: EnvDb) -> None:
    assert result_text(db.call("add", {"a": 2, "b": 3}).value) == '{"result": 5}'
    assert result_text(db.call("add", {"a": 2, "b": 3.0}).value) == '{"result": 5.0}'
    assert db.call("round_number", {"number": 2.5}).value == {"result": 2.0}
    assert db.call("si_unit_conversion", {"value": 1, "unit_in": "m", "unit_out": "nm"}
                   ).value == {"result": 999999999.9999999}


def test_original_raising_is_an_error_and_changes_nothing(db: EnvDb) -> None:
    out = db.call("power", {"base": 0, "exponent": -1})
    assert not out.ok
    assert out.error == {"kind": "invalid_request",
                         "message": "0.0 cannot be raised to a negative power"}
    assert not db.call("square_root", {"number": 4, "precision": 0}).ok
    assert db.diff().empty


def test_reported_errors_are_returned_not_raised(db: EnvDb) -> None:
    assert db.call("divide", {"a": 1, "b": 0}).value == {"error": "Cannot divide by zero"}
    assert db.call("mean", {"numbers": []}).value == {
        "error": "Cannot calculate mean of an empty list"}
    assert db.call("logarithm", {"value": 10, "base": 1, "precision": 5}).value == {"error": ""}


def test_invalid_argument_types_are_refused(db: EnvDb) -> None:
    for name, args in [("add", {"a": "1", "b": 2}), ("add", {"a": True, "b": 2}),
                       ("mean", {"numbers": "1,2"}), ("square_root", {"number": 4,
                                                                     "precision": 2.0}),
                       ("add", {"a": 1})]:
        out = db.call(name, args)
        assert not out.ok and out.error is not None
        assert out.error["kind"] == "invalid_arguments", (name, out.error)
