"""Contract checks a bundle must pass before it is published (hand-written or generated).

Each check returns problems as plain sentences naming the table, tool or parameter at fault,
so a person (or the CodingAgent's repair loop) can act on them directly.
"""

from __future__ import annotations

import inspect
import sqlite3

from fastmcp.utilities.docstring_parsing import parse_docstring

from environments import capture
from environments.contract import DomainBundle, ToolSpec
from environments.envdb import arguments_model, build_database


def check_schema(bundle: DomainBundle) -> list[str]:
    problems: list[str] = []
    try:
        db = build_database(bundle)
    except (sqlite3.Error, ValueError) as e:
        return [f"schema or default scenario does not load: {e}"]
    for view, sql in bundle.rules.views.items():
        try:
            cols = {d[0] for d in db.execute(f"SELECT * FROM ({sql}) LIMIT 0").description}
        except sqlite3.Error as e:
            problems.append(f"comparison view {view!r} does not run: {e}")
            continue
        for col in bundle.rules.for_table(view).natural_key:
            if col not in cols:
                problems.append(f"comparison view {view!r} has no key column {col!r}")
    for t in capture.user_tables(db):
        info = list(db.execute(f'PRAGMA table_info("{t}")'))
        if not any(r[5] for r in info):
            problems.append(f"table {t!r} has no primary key")
        for fk in db.execute(f'PRAGMA foreign_key_list("{t}")'):
            parent = fk[2]
            if parent not in capture.user_tables(db):
                problems.append(f"table {t!r} references missing table {parent!r}")
        rule = bundle.rules.for_table(t)
        cols = {r[1] for r in info}
        for col in (*rule.natural_key, *rule.ignore, *rule.free_text):
            if col not in cols:
                problems.append(f"comparison rules of {t!r} name unknown column {col!r}")
    for t in bundle.rules.tables:
        if t not in capture.user_tables(db) and t not in bundle.rules.views:
            problems.append(f"comparison rules name unknown table {t!r}")
    db.close()
    return problems


def check_tool(spec: ToolSpec) -> list[str]:
    problems: list[str] = []
    name = spec.name
    if not spec.description.strip():
        problems.append(f"tool {name!r} has no docstring (its MCP description)")
    params = list(inspect.signature(spec.fn).parameters.values())[1:]
    described = set(parse_docstring(spec.fn).parameters) if params else set()
    model = arguments_model(spec)
    for p in params:
        field = model.model_fields[p.name]
        if p.name not in described and not field.description:
            problems.append(f"tool {name!r}: parameter {p.name!r} is not described "
                            "(add it to the docstring's Args section)")
        if p.annotation is inspect.Parameter.empty:
            problems.append(f"tool {name!r}: parameter {p.name!r} has no type")
    if spec.read_only and spec.destructive:
        problems.append(f"tool {name!r} is marked both read-only and destructive")
    return problems


def check_bundle(bundle: DomainBundle) -> list[str]:
    problems = check_schema(bundle)
    for spec in bundle.tools:
        problems += check_tool(spec)
    if not bundle.tools:
        problems.append("the bundle has no tools")
    return problems
