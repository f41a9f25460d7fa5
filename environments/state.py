"""Canonical state snapshots and diffs under a domain's comparison rules.

Rows are identified by natural key; foreign keys that point at a table with its own
natural key are rewritten to that key, so a row created with a different surrogate id
still matches. Diffs come in two flavours: one episode against its own checkpoint (cost
proportional to the changes logged since, see `capture`), and two episodes that started
from the same scenario against each other (cost proportional to the rows either touched).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from environments import capture
from environments.capture import column_list
from environments.rules import ComparisonRules, TableRule, values_equal

Row = dict[str, Any]
Key = tuple[Any, ...]
TableRows = dict[str, dict[Key, Row]]


class ColumnChange(BaseModel):
    old: Any
    new: Any


class RowChange(BaseModel):
    table: str
    key: dict[str, Any]
    kind: Literal["inserted", "deleted", "updated"]
    columns: dict[str, ColumnChange] = {}
    row: dict[str, Any] | None = None


class StateDiff(BaseModel):
    """Row-level differences from state `a` to state `b`, comparison rules applied."""

    changes: list[RowChange] = []
    labels: tuple[str, str] = ("old", "new")

    @property
    def empty(self) -> bool:
        return not self.changes

    def tables(self) -> set[str]:
        return {c.table for c in self.changes}

    def to_text(self) -> str:
        if not self.changes:
            return "no differences"
        a, b = self.labels
        lines = []
        for c in self.changes:
            key = ", ".join(f"{k}={v!r}" for k, v in c.key.items())
            if c.kind == "updated":
                lines.append(f"~ {c.table}[{key}]")
                for col, ch in c.columns.items():
                    lines.append(f"    {col}: {a} {ch.old!r} -> {b} {ch.new!r}")
            else:
                sign = "+" if c.kind == "inserted" else "-"
                where = b if c.kind == "inserted" else a
                lines.append(f"{sign} {c.table}[{key}] (only in {where}) {c.row}")
        return "\n".join(lines)


@dataclass(frozen=True)
class TableMeta:
    name: str
    columns: tuple[str, ...]
    natural_key: tuple[str, ...]
    foreign_keys: dict[str, tuple[str, str]]
    """column -> (parent table, parent column)"""


def view_rows(db: sqlite3.Connection, rules: ComparisonRules, name: str) -> dict[Key, Row]:
    """A comparison view's rows by natural key."""
    cur = db.execute(rules.views[name])
    cols = [d[0] for d in cur.description]
    nk = rules.for_table(name).natural_key or tuple(cols)
    rows = (dict(zip(cols, r, strict=True)) for r in cur)
    return {tuple(_norm_key_value(r[c]) for c in nk): r for r in rows}


def view_snapshot(db: sqlite3.Connection, rules: ComparisonRules) -> TableRows:
    return {name: view_rows(db, rules, name) for name in rules.views}


def table_meta(db: sqlite3.Connection, rules: ComparisonRules) -> dict[str, TableMeta]:
    metas: dict[str, TableMeta] = {}
    for t in capture.user_tables(db):
        info = list(db.execute(f'PRAGMA table_info("{t}")'))
        cols = tuple(r[1] for r in info)
        pk = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        nk = rules.for_table(t).natural_key or pk or ("rowid",)
        fks = {r[3]: (r[2], r[4] or "rowid") for r in db.execute(f'PRAGMA foreign_key_list("{t}")')}
        metas[t] = TableMeta(t, cols, tuple(nk), fks)
    for name, sql in rules.views.items():
        cols = tuple(d[0] for d in db.execute(f"SELECT * FROM ({sql}) LIMIT 0").description)
        metas[name] = TableMeta(name, cols, rules.for_table(name).natural_key or cols, {})
    return metas


def _norm_key_value(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


class StateReader:
    """Reads one database's rows in canonical form under a domain's rules."""

    def __init__(self, db: sqlite3.Connection, rules: ComparisonRules,
                 meta: dict[str, TableMeta] | None = None):
        self.db = db
        self.rules = rules
        self.meta = meta if meta is not None else table_meta(db, rules)

    # -- single rows ------------------------------------------------------------------------
    def _select(self, table: str, where: str, args: Iterable[Any]) -> Row | None:
        cols = self.meta[table].columns
        cur = self.db.execute(
            f'SELECT {column_list(cols)} FROM "{table}" WHERE {where}', list(args)
        )
        r = cur.fetchone()
        return dict(zip(cols, r, strict=True)) if r is not None else None

    def row_by_rowid(self, table: str, rid: int) -> Row | None:
        return self._select(table, "rowid = ?", (rid,))

    def row_by_key(self, table: str, key: Key) -> Row | None:
        """Find a row by canonical natural key (FK parts given as the parent's key)."""
        m = self.meta[table]
        where, args = [], []
        for col, val in zip(m.natural_key, key, strict=True):
            raw = self._raw_fk_value(table, col, val)
            where.append(f'"{col}" IS ?')
            args.append(raw)
        return self._select(table, " AND ".join(where), args)

    def _raw_fk_value(self, table: str, col: str, canonical: Any) -> Any:
        fk = self.meta[table].foreign_keys.get(col)
        if fk is None or not self._fk_rewritten(fk):
            return canonical
        parent, pcol = fk
        pkey = canonical if isinstance(canonical, list) else [canonical]
        prow = self.row_by_key(parent, tuple(pkey))
        return prow[pcol] if prow is not None else canonical

    def _fk_rewritten(self, fk: tuple[str, str]) -> bool:
        parent, pcol = fk
        pm = self.meta.get(parent)
        return pm is not None and pm.natural_key != (pcol,)

    def canonical(self, table: str, row: Row) -> Row:
        """Rewrite FK values pointing at a natural-keyed parent into that parent's key."""
        m = self.meta[table]
        out = dict(row)
        for col, (parent, pcol) in m.foreign_keys.items():
            v = row.get(col)
            if v is None or not self._fk_rewritten((parent, pcol)):
                continue
            prow = self._select(parent, f'"{pcol}" = ?', (v,))
            if prow is not None:
                pk = [_norm_key_value(prow[c]) for c in self.meta[parent].natural_key]
                out[col] = pk[0] if len(pk) == 1 else pk
        return out

    def key_of(self, table: str, row: Row) -> Key:
        return tuple(_norm_key_value(row[c]) for c in self.meta[table].natural_key)

    # -- whole states -----------------------------------------------------------------------
    def snapshot(self) -> TableRows:
        """The full canonical state, rows ordered by natural key. Cost: the whole database."""
        out: TableRows = view_snapshot(self.db, self.rules)
        for t, m in self.meta.items():
            if self.rules.for_table(t).skip or t in self.rules.views:
                continue
            cur = self.db.execute(f'SELECT {column_list(m.columns)} FROM "{t}"')
            rows = [self.canonical(t, dict(zip(m.columns, r, strict=True))) for r in cur]
            keyed = sorted(((self.key_of(t, r), r) for r in rows), key=lambda kr: _sort_key(kr[0]))
            out[t] = dict(keyed)
        return out

    def changes_since(self, since: int) -> tuple[TableRows, TableRows]:
        """(before, after) for just the rows changed after checkpoint `since`."""
        before: TableRows = {}
        after: TableRows = {}
        for (t, rid), (op, old) in capture.first_changes_since(self.db, since).items():
            if t not in self.meta or self.rules.for_table(t).skip:
                continue
            if op != "I" and old is not None:
                r = self.canonical(t, json.loads(old))
                before.setdefault(t, {})[self.key_of(t, r)] = r
            cur = self.row_by_rowid(t, rid)
            if cur is not None:
                r = self.canonical(t, cur)
                after.setdefault(t, {})[self.key_of(t, r)] = r
        # A key touched on one side only still needs its value on the other side: a row
        # whose natural key moved away is gone from `after` under its old key.
        for t in set(before) | set(after):
            b, a = before.setdefault(t, {}), after.setdefault(t, {})
            for k in set(b) - set(a):
                row = self.row_by_key(t, k) if len(k) == len(self.meta[t].natural_key) else None
                if row is not None:
                    a[k] = self.canonical(t, row)
        return before, after


def _sort_key(key: Key) -> tuple[Any, ...]:
    # Mixed types (None, numbers, text) cannot be ordered directly: order by type first.
    return tuple((v is None, type(v).__name__, v if v is not None else 0) for v in key)


def diff_rows(
    a: TableRows,
    b: TableRows,
    rules: ComparisonRules,
    meta: dict[str, TableMeta],
    labels: tuple[str, str] = ("old", "new"),
) -> StateDiff:
    """Differences from `a` to `b` (rows matched by key), comparison rules applied."""
    changes: list[RowChange] = []
    for t in sorted(set(a) | set(b)):
        rule = rules.for_table(t)
        if rule.skip:
            continue
        ra, rb = a.get(t, {}), b.get(t, {})
        nk = meta[t].natural_key
        for k in sorted(set(ra) | set(rb), key=_sort_key):
            key = dict(zip(nk, k, strict=True))
            old, new = ra.get(k), rb.get(k)
            if old is not None and new is not None:
                cols = _changed_columns(old, new, rule, rules.tolerance_for(t))
                if cols:
                    changes.append(RowChange(table=t, key=key, kind="updated", columns=cols))
            elif new is not None:
                changes.append(
                    RowChange(table=t, key=key, kind="inserted", row=_visible(new, rule)))
            elif old is not None:
                changes.append(
                    RowChange(table=t, key=key, kind="deleted", row=_visible(old, rule)))
    return StateDiff(changes=changes, labels=labels)


def _visible(row: Row, rule: TableRule) -> Row:
    return {c: v for c, v in row.items() if c not in rule.ignore}


def _changed_columns(old: Row, new: Row, rule: TableRule, tol: float) -> dict[str, ColumnChange]:
    out = {}
    for c in old.keys() | new.keys():
        if c in rule.ignore:
            continue
        ov, nv = old.get(c), new.get(c)
        if not values_equal(ov, nv, tolerance=tol, free_text=c in rule.free_text):
            out[c] = ColumnChange(old=ov, new=nv)
    return dict(sorted(out.items()))


def diff_since(reader: StateReader, since: int) -> StateDiff:
    """What changed in one database since checkpoint `since`."""
    before, after = reader.changes_since(since)
    return diff_rows(before, after, reader.rules, reader.meta)


def compare(expected: StateReader, got: StateReader, since_expected: int = 0,
            since_got: int = 0) -> StateDiff:
    """Compare two databases that started from the same state: only touched rows are read."""
    exp_before, exp_after = expected.changes_since(since_expected)
    got_before, got_after = got.changes_since(since_got)
    a: TableRows = {}
    b: TableRows = {}
    tables = set(exp_after) | set(got_after) | set(exp_before) | set(got_before)
    for t in tables:
        keys = (set(exp_after.get(t, {})) | set(exp_before.get(t, {}))
                | set(got_after.get(t, {})) | set(got_before.get(t, {})))
        for k in keys:
            er = exp_after.get(t, {}).get(k)
            if er is None and k not in exp_before.get(t, {}):
                er = expected.row_by_key(t, k)  # untouched on the expected side
                er = expected.canonical(t, er) if er is not None else None
            gr = got_after.get(t, {}).get(k)
            if gr is None and k not in got_before.get(t, {}):
                gr = got.row_by_key(t, k)
                gr = got.canonical(t, gr) if gr is not None else None
            if er is not None:
                a.setdefault(t, {})[k] = er
            if gr is not None:
                b.setdefault(t, {})[k] = gr
    a.update(view_snapshot(expected.db, expected.rules))
    b.update(view_snapshot(got.db, got.rules))
    return diff_rows(a, b, expected.rules, expected.meta, labels=("expected", "got"))


def compare_snapshots(a: TableRows, b: TableRows, rules: ComparisonRules,
                      meta: dict[str, TableMeta]) -> StateDiff:
    return diff_rows(a, b, rules, meta, labels=("a", "b"))


def snapshot_json(rows: TableRows) -> dict[str, list[Row]]:
    """A snapshot as plain JSON: tables -> rows (already ordered by natural key)."""
    return {t: list(r.values()) for t, r in sorted(rows.items())}


def _changes_by_key(d: StateDiff) -> dict[tuple[str, str], RowChange]:
    return {(c.table, _key_id(c.key)): c for c in d.changes}


def _key_id(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, default=str)


def compare_diffs(expected: StateDiff, got: StateDiff, rules: ComparisonRules) -> StateDiff:
    """Compare two outcomes given as diffs from the SAME initial state (e.g. JSON from two
    remote episodes): rows either side touched, by natural key, under the comparison rules.

    A row touched by one side only is, on the other side, still at its initial value, which
    the touching side's diff records (`old` columns, or the deleted row).
    """
    exp, gotc = _changes_by_key(expected), _changes_by_key(got)
    out: list[RowChange] = []
    for k in sorted(set(exp) | set(gotc)):
        e, g = exp.get(k), gotc.get(k)
        table = (e or g).table  # type: ignore[union-attr]
        key = (e or g).key  # type: ignore[union-attr]
        rule = rules.for_table(table)
        tol = rules.tolerance_for(table)
        e_exists = _exists_after(e, g)
        g_exists = _exists_after(g, e)
        if e_exists and not g_exists:
            out.append(RowChange(table=table, key=key, kind="deleted",
                                 row=_after_row(e, g)))
        elif g_exists and not e_exists:
            out.append(RowChange(table=table, key=key, kind="inserted",
                                 row=_after_row(g, e)))
        elif e_exists and g_exists:
            ev, gv = _after_values(e, g), _after_values(g, e)
            cols = {}
            for c in sorted(set(ev) | set(gv)):
                if c in rule.ignore or c not in ev or c not in gv:
                    continue
                if not values_equal(ev[c], gv[c], tolerance=tol, free_text=c in rule.free_text):
                    cols[c] = ColumnChange(old=ev[c], new=gv[c])
            if cols:
                out.append(RowChange(table=table, key=key, kind="updated", columns=cols))
    return StateDiff(changes=out, labels=("expected", "got"))


def _exists_after(mine: RowChange | None, other: RowChange | None) -> bool:
    if mine is not None:
        return mine.kind != "deleted"
    # Untouched by this side: it exists iff it existed initially, i.e. unless the other side
    # inserted it.
    return other is not None and other.kind != "inserted"


def _initial_values(change: RowChange | None) -> dict[str, Any]:
    if change is None or change.kind == "inserted":
        return {}
    if change.kind == "deleted":
        return dict(change.row or {})
    return {c: ch.old for c, ch in change.columns.items()}


def _after_values(mine: RowChange | None, other: RowChange | None) -> dict[str, Any]:
    """Column values this side ends with, as far as the two diffs reveal them."""
    values = _initial_values(other)
    if mine is None:
        return values
    if mine.kind == "inserted":
        return dict(mine.row or {})
    values.update(_initial_values(mine))
    values.update({c: ch.new for c, ch in mine.columns.items()})
    return values


def _after_row(mine: RowChange | None, other: RowChange | None) -> dict[str, Any]:
    return _after_values(mine, other)
