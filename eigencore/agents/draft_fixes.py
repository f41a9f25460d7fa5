"""Mechanical repairs of a database draft, applied by the DatabaseAgent itself.

Some validation findings have exactly one fix that needs no judgement: a table without a
primary key gets the integer key the requirements name (`<singular>_id`, rows numbered
1, 2, 3, ... in order), and a column whose name implies a relation (`doctors.department`)
whose every value already is a key (or a UNIQUE value) of the table it names gets the
REFERENCES clause it lacks. Small models repeat their draft instead of making such edits
(the 0.5B model returned the same keyless draft four times running), so the agent makes
them and spends the model's rounds on what needs a designer: types, values, rules.

Every fix is reported (`Fix`), and the round records the model's own findings next to the
ones left after the fixes, so what the model wrote stays distinguishable from what the
agent changed. Edits are made to the DDL text by position (found with SQLite's own view of
which statement creates which table), never by re-generating the schema.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from eigencore.agents.database_agent import (
    DatabaseDraft,
    affinity,
    implied_relations,
    is_unique,
    singular,
    split_statements,
)


@dataclass(frozen=True)
class Fix:
    check: str
    table: str
    change: str

    def render(self) -> str:
        return f"- [{self.check}] {self.table}: {self.change}"


@dataclass
class _Table:
    """A CREATE TABLE statement cut into its column/constraint items (text spans)."""

    index: int
    head: str
    items: list[str]
    tail: str

    def text(self) -> str:
        return self.head + ",".join(self.items) + self.tail

    def column_item(self, column: str) -> int | None:
        for i, item in enumerate(self.items):
            first = item.strip().split(None, 1)[0] if item.strip() else ""
            if first.strip('"`[]').lower() == column.lower():
                return i
        return None


def _split_top(body: str) -> list[str]:
    """`body` cut at the commas outside parentheses and quotes."""
    items, depth, quote, start = [], 0, "", 0
    closing = {"[": "]"}
    for i, ch in enumerate(body):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`[":
            quote = closing.get(ch, ch)
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(body[start:i])
            start = i + 1
    items.append(body[start:])
    return items


def _parse_table(index: int, stmt: str) -> _Table | None:
    open_at = stmt.find("(")
    if open_at < 0:
        return None
    depth, quote = 0, ""
    for i in range(open_at, len(stmt)):
        ch = stmt[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "[":
            quote = "]"
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return _Table(index, stmt[:open_at + 1], _split_top(stmt[open_at + 1:i]),
                              stmt[i:])
    return None


def _tables_by_statement(statements: list[str]) -> dict[str, int]:
    """Which statement creates which table, as SQLite sees it (quoting, IF NOT EXISTS)."""
    db = sqlite3.connect(":memory:")
    found: dict[str, int] = {}
    try:
        for i, stmt in enumerate(statements):
            try:
                db.execute(stmt)
            except sqlite3.Error:
                continue
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
                found.setdefault(name, i)
    finally:
        db.close()
    return found


def _distinct_ints(values: list[Any]) -> bool:
    return all(isinstance(x, int) and not isinstance(x, bool) for x in values) and \
        len(set(values)) == len(values)


def _scratch(statements: list[str], rows: dict[str, list[dict[str, Any]]] | None = None
             ) -> sqlite3.Connection:
    """An in-memory database with what of the draft SQLite accepts (no FK enforcement):
    enough to ask SQLite about tables, keys and values."""
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    for stmt in statements:
        try:
            db.execute(stmt)
        except sqlite3.Error:
            pass
    for table, table_rows in (rows or {}).items():
        for row in table_rows:
            if not isinstance(row, dict) or not row:
                continue
            cols = ", ".join(f'"{c}"' for c in row)
            try:
                db.execute(f'INSERT INTO "{table}" ({cols}) VALUES '
                           f"({', '.join('?' for _ in row)})",
                           [v if isinstance(v, (str, int, float, type(None))) else str(v)
                            for v in row.values()])
            except sqlite3.Error:
                pass
    return db


def _add_primary_keys(statements: list[str], rows: dict[str, list[dict[str, Any]]],
                      tables: dict[str, int]) -> list[Fix]:
    fixes: list[Fix] = []
    db = _scratch(statements)
    try:
        for name, i in tables.items():
            info = list(db.execute(f'PRAGMA table_info("{name}")'))
            if any(r["pk"] for r in info):
                continue
            parsed = _parse_table(i, statements[i])
            if parsed is None:
                continue
            key = f"{singular(name)}_id"
            table_rows = rows.get(name, [])
            given = [r.get(key) for r in table_rows if isinstance(r, dict)]
            at = parsed.column_item(key)
            if at is not None:
                item = parsed.items[at]
                m = re.match(r"^(\s*\S+)\s+INT(?:EGER)?\b(.*)$", item, re.I | re.S)
                if m is None or re.search(r"\b(REFERENCES|PRIMARY)\b", m.group(2), re.I):
                    continue
                numbered = all(x is None for x in given)
                if not numbered and not _distinct_ints(given):
                    continue
                parsed.items[at] = f"{m.group(1)} INTEGER PRIMARY KEY{m.group(2)}"
                change = f"made {key} its INTEGER PRIMARY KEY"
            else:
                numbered = not _distinct_ints(given) or not table_rows
                first = parsed.items[0]
                lead = first[:len(first) - len(first.lstrip())]
                parsed.items[0] = (lead or " ") + first.lstrip()
                parsed.items.insert(0, f"{lead}{key} INTEGER PRIMARY KEY")
                change = f"added `{key} INTEGER PRIMARY KEY` as its first column"
            if numbered and table_rows:
                rows[name] = [{key: n, **{k: v for k, v in r.items() if k != key}}
                              for n, r in enumerate(table_rows, 1)]
                change += f" and numbered its {len(table_rows)} rows 1..{len(table_rows)}"
            statements[i] = parsed.text()
            fixes.append(Fix("primary_key", name, change))
    finally:
        db.close()
    return fixes


def _add_references(statements: list[str], rows: dict[str, list[dict[str, Any]]],
                    tables: dict[str, int]) -> list[Fix]:
    fixes: list[Fix] = []
    db = _scratch(statements, rows)
    try:
        for child, column, parent in implied_relations(db, list(tables)):
            values = {r[0] for r in db.execute(
                f'SELECT DISTINCT "{column}" FROM "{child}" WHERE "{column}" IS NOT NULL')}
            if not values or child not in tables:
                continue
            pinfo = list(db.execute(f'PRAGMA table_info("{parent}")'))
            ctype = next((r["type"] for r in db.execute(f'PRAGMA table_info("{child}")')
                          if r["name"] == column), "")
            keys = [r for r in pinfo if r["pk"]] if sum(1 for r in pinfo if r["pk"]) == 1 else []
            candidates = keys + [r for r in pinfo if not r["pk"] and
                                 is_unique(db, parent, r["name"])]
            target = next((r["name"] for r in candidates
                           if affinity(r["type"]) == affinity(ctype) and values <= {
                               x[0] for x in db.execute(f'SELECT "{r["name"]}" FROM "{parent}"')}),
                          None)
            parsed = _parse_table(tables[child], statements[tables[child]])
            at = parsed.column_item(column) if parsed is not None and target else None
            if parsed is None or at is None or target is None:
                continue
            parsed.items[at] = parsed.items[at].rstrip() + f" REFERENCES {parent}({target})"
            statements[tables[child]] = parsed.text()
            fixes.append(Fix("implied_relation", child,
                             f"declared `{column} ... REFERENCES {parent}({target})`: every "
                             f"{child}.{column} value already is a {parent}.{target}"))
    finally:
        db.close()
    return fixes


def apply_fixes(draft: DatabaseDraft, checks: set[str]) -> tuple[DatabaseDraft, list[Fix]]:
    """The draft with the mechanical fixes for the failing `checks` applied, and the fixes.

    Returns the draft unchanged (and no fixes) when nothing applies. Only `primary_key` and
    `implied_relation` findings have mechanical fixes."""
    statements = split_statements(draft.ddl)
    rows = {t: [dict(r) if isinstance(r, dict) else r for r in rs]
            for t, rs in draft.rows.items()}
    tables = _tables_by_statement(statements)
    fixes: list[Fix] = []
    if "primary_key" in checks:
        fixes += _add_primary_keys(statements, rows, tables)
    if "implied_relation" in checks or fixes:
        fixes += _add_references(statements, rows, tables)
    if not fixes:
        return draft, []
    ddl = "\n".join(statements)
    return draft.model_copy(update={"ddl": ddl, "rows": rows}), fixes
