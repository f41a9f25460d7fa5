"""Every registered bundle passes the contract checks; the checks catch real defects."""

from __future__ import annotations

import pytest

from environments import registry
from environments.conformance import check_bundle
from environments.contract import Db, DomainBundle, tool
from environments.rules import ComparisonRules, TableRule


@pytest.mark.parametrize("name", sorted(registry.bundles()))
def test_registered_bundles_conform(name: str) -> None:
    assert check_bundle(registry.get(name)) == []


def test_checks_catch_defects() -> None:
    @tool
    def undocumented(db: Db, x: int) -> int:
        return x

    bad = DomainBundle(
        name="bad", description="", tools=[undocumented.__eigen_tool__],
        schema_sql="CREATE TABLE t (a INTEGER, b TEXT);",
        rules=ComparisonRules(tables={"t": TableRule(natural_key=("zzz",)), "ghost": TableRule()}),
    )
    problems = "\n".join(check_bundle(bad))
    assert "table 't' has no primary key" in problems
    assert "unknown column 'zzz'" in problems
    assert "unknown table 'ghost'" in problems
    assert "'undocumented' has no docstring" in problems
    assert "parameter 'x' is not described" in problems


def test_broken_scenario_is_reported() -> None:
    @tool
    def f(db: Db) -> None:
        """Does nothing."""

    broken = DomainBundle(
        name="broken", description="", tools=[f.__eigen_tool__],
        schema_sql="CREATE TABLE p (id INTEGER PRIMARY KEY);"
                   "CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p (id));",
        default_scenario={"tables": {"c": [{"id": 1, "p": 42}]}},
    )
    assert "breaks foreign keys" in check_bundle(broken)[0]
