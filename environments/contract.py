"""The environment contract: what a domain bundle is made of.

A bundle is a SQLite schema, a scenario loader, typed tool functions and comparison rules.
Tools are plain synchronous functions whose first parameter is the episode's database
connection (`db: Db`); everything after it is the agent-visible signature, from which the
MCP schema is derived (one source of truth). The publishing layer (`servers/`) injects the
connection and wraps every call in one transaction.
"""

from __future__ import annotations

import inspect
import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from environments.capture import column_list
from environments.rules import ComparisonRules

Db = sqlite3.Connection
"""The type of a tool's first parameter: the episode's connection (rows as `sqlite3.Row`)."""

Scenario = Mapping[str, Any]
"""Initial-state data. The default loader reads `{"tables": {table: [row, ...]}}`."""


class ToolError(Exception):
    """A domain-level refusal (unknown id, rule violated). The call is rolled back.

    `kind` is a short machine-readable category; `field` names the offending argument
    when there is one, so the agent (and an auditor) can see exactly what was wrong.
    """

    def __init__(self, message: str, *, kind: str = "invalid_request", field: str | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


@dataclass(frozen=True)
class ToolSpec:
    """A tool function plus the behaviour hints published as MCP annotations."""

    fn: Callable[..., Any]
    name: str
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False

    @property
    def description(self) -> str:
        return inspect.getdoc(self.fn) or ""


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    read_only: bool = False,
    destructive: bool = False,
    idempotent: bool | None = None,
) -> Any:
    """Mark a function as a domain tool. Read-only tools are idempotent by definition."""

    def mark(f: Callable[..., Any]) -> Callable[..., Any]:
        params = list(inspect.signature(f).parameters)
        if not params or params[0] != "db":
            raise TypeError(f"tool {f.__name__!r} must take `db: Db` as its first parameter")
        if read_only and destructive:
            raise TypeError(f"tool {f.__name__!r} cannot be both read-only and destructive")
        f.__eigen_tool__ = ToolSpec(  # type: ignore[attr-defined]
            fn=f,
            name=name or f.__name__,
            read_only=read_only,
            destructive=destructive,
            idempotent=read_only if idempotent is None else idempotent,
        )
        return f

    return mark(fn) if fn is not None else mark


def tools_in(namespace: Mapping[str, Any] | Any) -> list[ToolSpec]:
    """Collect the `@tool` functions of a module (or mapping), in definition order."""
    items = namespace.items() if isinstance(namespace, Mapping) else vars(namespace).items()
    return [v.__eigen_tool__ for _, v in items if hasattr(v, "__eigen_tool__")]


ScenarioLoader = Callable[[Db, Scenario], None]


def load_tables(db: Db, scenario: Scenario) -> None:
    """Default loader: insert `scenario["tables"]` rows, parents before children."""
    tables: Mapping[str, Sequence[Mapping[str, Any]]] = scenario.get("tables", {})
    known = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    unknown = set(tables) - known
    if unknown:
        raise ValueError(f"scenario names unknown tables: {sorted(unknown)}")
    for table in _dependency_order(db, list(tables)):
        for row in tables[table]:
            cols = list(row)
            db.execute(
                f'INSERT INTO "{table}" ({column_list(cols)}) '
                f"VALUES ({', '.join('?' for _ in cols)})",
                [_sql_value(row[c]) for c in cols],
            )


def _sql_value(v: Any) -> Any:
    # Nested structures are stored as JSON text; SQLite has no composite types.
    return json.dumps(v) if isinstance(v, (dict, list)) else v


def _dependency_order(db: Db, tables: list[str]) -> list[str]:
    deps = {
        t: {r[2] for r in db.execute(f'PRAGMA foreign_key_list("{t}")')} & set(tables) - {t}
        for t in tables
    }
    ordered: list[str] = []
    while deps:
        ready = sorted(t for t, d in deps.items() if not d)
        if not ready:  # a cycle: fall back to the given order, FKs are checked at commit
            ordered.extend(deps)
            break
        ordered.extend(ready)
        for t in ready:
            del deps[t]
        for d in deps.values():
            d.difference_update(ready)
    return ordered


@dataclass
class DomainBundle:
    """One executable environment: schema + scenario loader + tools + comparison rules."""

    name: str
    description: str
    schema_sql: str
    tools: list[ToolSpec]
    rules: ComparisonRules = field(default_factory=ComparisonRules)
    default_scenario: Scenario = field(default_factory=dict)
    loader: ScenarioLoader = load_tables
    scenarios: Mapping[str, Scenario] = field(default_factory=dict)
    """Named scenarios besides the default (e.g. task fixtures)."""
    render_result: Callable[[Any], str] | None = None
    """How a result is shown to the model, when the domain has its own convention (BFCL
    shows `str()`/`json.dumps` text); None publishes typed structured output."""

    def __post_init__(self) -> None:
        names = [t.name for t in self.tools]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"domain {self.name!r} defines tools twice: {sorted(dupes)}")

    def tool(self, name: str) -> ToolSpec:
        for t in self.tools:
            if t.name == name:
                return t
        raise KeyError(name)

    def scenario(self, name: str | None) -> Scenario:
        if name in (None, "default"):
            return self.default_scenario
        try:
            return self.scenarios[name]  # type: ignore[index]
        except KeyError:
            raise KeyError(
                f"domain {self.name!r} has no scenario {name!r}; "
                f"known: {['default', *self.scenarios]}"
            ) from None


def read_text(package_file: str, name: str) -> str:
    """Read a data file that sits beside a bundle's module."""
    return (Path(package_file).parent / name).read_text(encoding="utf-8")


def read_json(package_file: str, name: str) -> Any:
    return json.loads(read_text(package_file, name))
