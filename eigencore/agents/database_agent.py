"""DatabaseAgent: from a `DomainSpec`, an LLM-designed SQLite schema and seed rows, validated
until they hold up.

The validator is deterministic and in-process (SQLite in memory, no generated code runs):
the DDL executes statement by statement; every table has a primary key; foreign keys name
existing tables and keys; the seed rows load under every CHECK, NOT NULL and UNIQUE and
`PRAGMA foreign_key_check` is clean; a column named like another table or its singular
(`orders.customer`) declares its REFERENCES; volumes reach the spec's (scaled) minimum; values are
plausible (emails, dates, non-negative amounts, unique identifiers, no near-duplicate rows).
Each failure is a `Finding` carrying its evidence (the statement and SQLite's error, the
offending rows), which is what the next round's prompt shows the model.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from eigencore.agents import Journal, StructuredMode, ask, resample
from eigencore.agents.spec import DomainSpec
from eigencore.llm.structured import LLM

MAX_EVIDENCE = 4
"""Offending rows shown per finding: enough to see the pattern, short enough for a prompt."""


class DatabaseDraft(BaseModel):
    """What the model returns: the schema and the seed rows."""

    ddl: str = Field(description="SQLite CREATE TABLE (and CREATE INDEX) statements, each "
                                 "ending with a semicolon; no INSERT statements")
    rows: dict[str, list[dict[str, Any]]] = Field(
        description="seed rows per table name: a list of objects mapping column name to value")
    notes: str = Field("", description="optional: what changed since the previous draft")


def draft_model(spec: DomainSpec) -> type[DatabaseDraft]:
    """The answer schema for one spec: `rows` has one required list per entity holding
    exactly the rows wanted. A grammar-constrained model then cannot stop early or run on
    (small models asked for "at least N" rows write until cut off), and any model's answer
    is held to the counts by validation."""
    fields: dict[str, Any] = {
        e.name: (list[dict[str, Any]], Field(min_length=spec.min_rows(e.name),
                                             max_length=spec.min_rows(e.name),
                                             description=f"the {e.name} rows"))
        for e in spec.entities}
    rows = create_model(f"{spec.name}_rows", __config__=ConfigDict(extra="forbid"), **fields)
    return create_model(  # type: ignore[call-overload,no-any-return]
        "DatabaseDraft", __base__=DatabaseDraft,
        rows=(rows, Field(description="seed rows per table: objects mapping column to value")))


def as_draft(answer: BaseModel) -> DatabaseDraft:
    """A per-spec answer as the plain draft the validator and the files use."""
    rows = answer.rows  # type: ignore[attr-defined]
    return DatabaseDraft(ddl=answer.ddl, notes=answer.notes,  # type: ignore[attr-defined]
                         rows=rows.model_dump() if isinstance(rows, BaseModel) else rows)


class Finding(BaseModel):
    """One validation problem, with what shows it."""

    check: str
    message: str
    table: str | None = None
    evidence: list[str] = Field(default_factory=list)

    def render(self) -> str:
        lines = [f"- [{self.check}] {self.message}"]
        lines += [f"    {e}" for e in self.evidence]
        return "\n".join(lines)


# -- validation ------------------------------------------------------------------------------
_ALLOWED_DDL = re.compile(r"^\s*CREATE\s+(TABLE|(UNIQUE\s+)?INDEX|VIEW|TRIGGER)\b", re.I)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_DATE_COL = re.compile(r"(_on|_at|_date|_time|^date|^dob|birthday|^created|^updated)$")
_AMOUNT_COL = re.compile(r"(amount|price|total|cost|cents|fee|balance|quantity|qty|stock)")
_UNIQUE_COL = re.compile(r"^(email|sku|code|tag|username|isbn|serial|[a-z]+_number)$")
"""Identifier-like columns. Whole names only: `comments.author_email` names someone else's
identifier, and a person writes many comments (a false finding the 0.5B run met)."""


def split_statements(ddl: str) -> list[str]:
    """SQL statements in order (SQLite decides where one ends, quotes and triggers included)."""
    out, buf = [], ""
    for ch in ddl:  # by character: models often put every statement on one line
        buf += ch
        if ch == ";" and sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip() and not all(ln.strip().startswith("--") for ln in buf.strip().splitlines()):
        out.append(buf.strip() + ";")
    return out


def _row_text(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, default=str)


def _user_tables(db: sqlite3.Connection) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY rowid")]


def _parse_when(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date() if len(value) > 10 \
            else date.fromisoformat(value)
    except ValueError:
        return None


def _load_order(db: sqlite3.Connection, tables: list[str]) -> list[str]:
    deps = {t: {r[2] for r in db.execute(f'PRAGMA foreign_key_list("{t}")')} & set(tables) - {t}
            for t in tables}
    ordered: list[str] = []
    while deps:
        ready = sorted(t for t, d in deps.items() if not d) or list(deps)[:1]
        ordered += ready
        for t in ready:
            deps.pop(t)
        for d in deps.values():
            d.difference_update(ready)
    return ordered


@dataclass
class Validation:
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, check: str, message: str, table: str | None = None,
            evidence: list[str] | None = None) -> None:
        self.findings.append(Finding(check=check, message=message, table=table,
                                     evidence=(evidence or [])[:MAX_EVIDENCE]))


def validate_draft(spec: DomainSpec, draft: DatabaseDraft) -> Validation:
    v = Validation()
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA foreign_keys = ON")
    try:
        _check_ddl(db, draft, v)
        tables = _user_tables(db)
        _check_structure(db, spec, tables, v)
        db.execute("BEGIN")
        db.execute("PRAGMA defer_foreign_keys = ON")
        _load_rows(db, draft, tables, v)
        _check_foreign_keys(db, v)
        _check_implied_relations(db, tables, v)
        _check_volumes(db, spec, tables, v)
        _check_values(db, tables, v)
        db.execute("ROLLBACK")
    finally:
        db.close()
    return v


def _check_ddl(db: sqlite3.Connection, draft: DatabaseDraft, v: Validation) -> None:
    statements = split_statements(draft.ddl)
    if not statements:
        v.add("ddl", "the ddl field holds no SQL statement")
    for i, stmt in enumerate(statements, 1):
        body = re.sub(r"^(\s*--[^\n]*\n)*", "", stmt)
        if not _ALLOWED_DDL.match(body):
            v.add("ddl", f"statement {i} is not a CREATE TABLE/INDEX/VIEW/TRIGGER (seed data "
                         "belongs in `rows`, not in the ddl)", evidence=[stmt[:300]])
            continue
        try:
            db.execute(stmt)
        except sqlite3.Error as e:
            v.add("ddl", f"statement {i} fails in SQLite: {e}", evidence=[stmt[:600]])


def _check_structure(db: sqlite3.Connection, spec: DomainSpec, tables: list[str],
                     v: Validation) -> None:
    for e in spec.entities:
        if e.name not in tables:
            v.add("entity", f"the spec's entity {e.name!r} has no table of that exact name "
                            f"(tables: {', '.join(tables) or 'none'})", table=e.name)
    for t in tables:
        info = list(db.execute(f'PRAGMA table_info("{t}")'))
        if not any(r["pk"] for r in info):
            key = f"{t.removesuffix('s')}_id"
            v.add("primary_key", f"table {t!r} has no primary key: add `{key} INTEGER PRIMARY "
                                 f"KEY` as its first column and give every {t} row a "
                                 f"distinct {key} (1, 2, 3, ...)", table=t)
        for fk in db.execute(f'PRAGMA foreign_key_list("{t}")'):
            parent, col, to = fk["table"], fk["from"], fk["to"]
            if parent not in tables:
                v.add("foreign_key", f"{t}.{col} references missing table {parent!r}", table=t,
                      evidence=[f"tables are: {', '.join(tables)}"])
                continue
            pinfo = list(db.execute(f'PRAGMA table_info("{parent}")'))
            pk = [r["name"] for r in sorted(pinfo, key=lambda r: r["pk"]) if r["pk"]]
            target = to or (pk[0] if len(pk) == 1 else None)
            if target is None or target not in {r["name"] for r in pinfo}:
                v.add("foreign_key", f"{t}.{col} references {parent}({to or '?'}), which is "
                                     f"not a column of {parent!r}", table=t,
                      evidence=[f"{parent} columns: {', '.join(r['name'] for r in pinfo)}"])
            elif [target] != pk and not is_unique(db, parent, target):
                v.add("foreign_key", f"{t}.{col} references {parent}({target}), which is "
                                     "neither its primary key nor UNIQUE", table=t)
            else:
                mine = affinity(next((r["type"] for r in info if r["name"] == col), ""))
                theirs = affinity(next(r["type"] for r in pinfo if r["name"] == target))
                if mine != theirs:
                    # The usual root cause of seed rows that "point at no existing row".
                    key = f"{parent.removesuffix('s')}_id"
                    v.add("foreign_key", f"{t}.{col} is {mine} but references "
                                         f"{parent}({target}), which is {theirs}: give "
                                         f"{parent} a `{key} INTEGER PRIMARY KEY` and make "
                                         f"{t}.{col} an INTEGER referencing {parent}({key}) "
                                         "with values that exist there", table=t)


def affinity(declared: str) -> str:
    """SQLite's type affinity of a declared column type (its documented rules, in order)."""
    t = (declared or "").upper()
    if "INT" in t:
        return "INTEGER"
    if any(x in t for x in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in t or not t:
        return "BLOB"
    if any(x in t for x in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def is_unique(db: sqlite3.Connection, table: str, column: str) -> bool:
    for idx in db.execute(f'PRAGMA index_list("{table}")'):
        if idx["unique"]:
            cols = [r["name"] for r in db.execute(f'PRAGMA index_info("{idx["name"]}")')]
            if cols == [column]:
                return True
    return False


def _load_rows(db: sqlite3.Connection, draft: DatabaseDraft, tables: list[str],
               v: Validation) -> None:
    unknown = [t for t in draft.rows if t not in tables]
    if unknown:
        v.add("rows", f"rows given for tables that do not exist: {unknown}")
    for t in _load_order(db, [t for t in draft.rows if t in tables]):
        cols = {r["name"] for r in db.execute(f'PRAGMA table_info("{t}")')}
        failures: dict[str, list[str]] = defaultdict(list)
        for i, row in enumerate(draft.rows[t]):
            if not isinstance(row, dict) or not row:
                failures["a row is not an object of column values"].append(f"row {i}: {row!r}")
                continue
            extra = sorted(set(row) - cols)
            if extra:
                failures[f"unknown columns {extra} (columns are: {', '.join(sorted(cols))})"
                         ].append(f"row {i}: {_row_text(row)}")
                continue
            names = list(row)
            values = [json.dumps(x) if isinstance(x, (dict, list)) else x for x in row.values()]
            try:
                db.execute(f'INSERT INTO "{t}" ({", ".join(chr(34) + c + chr(34) for c in names)})'
                           f" VALUES ({', '.join('?' for _ in names)})", values)
            except sqlite3.Error as e:
                failures[str(e)].append(f"row {i}: {_row_text(row)}")
        for error, rows in failures.items():
            check = "check_constraint" if "CHECK" in error else (
                "unique" if "UNIQUE" in error else "rows")
            v.add(check, f"{len(rows)} seed row(s) of {t!r} rejected: {error}", table=t,
                  evidence=rows)


def _check_foreign_keys(db: sqlite3.Connection, v: Validation) -> None:
    bad: dict[tuple[str, str], list[str]] = defaultdict(list)
    try:
        violations = db.execute("PRAGMA foreign_key_check").fetchall()
    except sqlite3.OperationalError as e:
        # "foreign key mismatch": a reference to a non-key column; the structure check has
        # already named it, and no row can be checked against it.
        v.add("foreign_key", f"foreign keys cannot be checked: {e}")
        return
    for r in violations:
        table, rowid, parent, fkid = r[0], r[1], r[2], r[3]
        fk = [f for f in db.execute(f'PRAGMA foreign_key_list("{table}")') if f["id"] == fkid]
        col = fk[0]["from"] if fk else "?"
        row = db.execute(f'SELECT * FROM "{table}" WHERE rowid = ?', (rowid,)).fetchone() \
            if rowid is not None else None
        target = (fk[0]["to"] if fk else None) or "rowid"
        bad[(table, f"{col} -> {parent}.{target}")].append(
            _row_text(dict(row)) if row is not None else f"rowid {rowid}")
    for (table, link), rows in bad.items():
        parent, target = link.split(" -> ")[1].split(".")
        try:
            have = [r[0] for r in db.execute(f'SELECT "{target}" FROM "{parent}" LIMIT 8')]
        except sqlite3.Error:
            have = []
        v.add("foreign_key", f"{len(rows)} row(s) of {table!r} point at no existing row "
                             f"({link}); {parent}.{target} holds {have!r}: use those values, "
                             "or reference the parent's integer id instead",
              table=table, evidence=rows)


def singular(name: str) -> str:
    """English singular of a snake_case table name, for the common plurals."""
    if name.endswith("ies") and len(name) > 4:
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "zes", "ches", "shes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


def implied_relations(db: sqlite3.Connection, tables: list[str]) -> list[tuple[str, str, str]]:
    """(child, column, parent) for each column named like another table or its singular
    (`orders.customer`, `order_items.product_id`) that declares no REFERENCES."""
    found = []
    for child in tables:
        declared = {fk["from"] for fk in db.execute(f'PRAGMA foreign_key_list("{child}")')}
        for col in db.execute(f'PRAGMA table_info("{child}")').fetchall():
            name = col["name"]
            parent = None if name in declared else next(
                (p for p in tables if p != child and name.lower() in {
                    singular(p), f"{singular(p)}_id", p, f"{p}_id"}), None)
            if parent is not None:
                found.append((child, name, parent))
    return found


def _check_implied_relations(db: sqlite3.Connection, tables: list[str],
                             v: Validation) -> None:
    """Relations the names imply but the DDL does not declare. SQLite then accepts rows
    that point nowhere, and tools join on a relation nothing enforces (the real 1.5B run
    ended with `orders.customer INTEGER` unreferenced)."""
    for child, name, parent in implied_relations(db, tables):
        col = next(r for r in db.execute(f'PRAGMA table_info("{child}")') if r["name"] == name)
        pinfo = list(db.execute(f'PRAGMA table_info("{parent}")'))
        pk = [r for r in sorted(pinfo, key=lambda r: r["pk"]) if r["pk"]]
        target = pk[0] if len(pk) == 1 else None
        key = target["name"] if target is not None else f"{singular(parent)}_id"
        ctype = (target["type"] if target is not None else "") or "INTEGER"
        clause = (f"{name} {ctype}{' NOT NULL' if col['notnull'] else ''} "
                  f"REFERENCES {parent}({key})")
        evidence = [f"column: {child}.{name} {col['type'] or '(no type)'}, no REFERENCES",
                    f"it names the entity {parent!r} (key {parent}.{key})",
                    f"declare it: `{clause}`"]
        if target is not None:
            orphans = [r[0] for r in db.execute(
                f'SELECT DISTINCT "{name}" FROM "{child}" WHERE "{name}" IS NOT NULL AND '
                f'"{name}" NOT IN (SELECT "{key}" FROM "{parent}") LIMIT 8')]
            evidence.append(
                f"values of {child}.{name} that are no {parent}.{key}: {orphans!r}"
                if orphans else f"every value of {child}.{name} is a {parent}.{key} "
                                "already: only the declaration is missing")
        v.add("implied_relation", f"{child}.{name} names the entity {parent!r} but "
                                  "declares no REFERENCES, so nothing enforces the "
                                  "relation", table=child, evidence=evidence)


def _check_volumes(db: sqlite3.Connection, spec: DomainSpec, tables: list[str],
                   v: Validation) -> None:
    for t in tables:
        v.counts[t] = db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
    for e in spec.entities:
        want = spec.min_rows(e.name)
        if e.name in tables and v.counts[e.name] < want:
            v.add("volume", f"table {e.name!r} has {v.counts[e.name]} valid seed rows, needs "
                            f"at least {want}", table=e.name)


def _check_values(db: sqlite3.Connection, tables: list[str], v: Validation) -> None:
    for t in tables:
        info = list(db.execute(f'PRAGMA table_info("{t}")'))
        pk = {r["name"] for r in info if r["pk"]}
        rows = [dict(r) for r in db.execute(f'SELECT * FROM "{t}"')]
        if not rows:
            continue
        for r in info:
            col, name = r["name"], r["name"].lower()
            values = [(row, row[col]) for row in rows if row[col] is not None]
            if "email" in name:
                bad = [row for row, x in values if not (isinstance(x, str) and _EMAIL.match(x))]
                if bad:
                    v.add("plausibility", f"{t}.{col} holds values that are not email "
                                          "addresses", t, [_row_text(b) for b in bad])
            if _DATE_COL.search(name):
                bad = [row for row, x in values
                       if (d := _parse_when(x)) is None or not 1900 <= d.year <= 2100]
                if bad:
                    v.add("plausibility", f"{t}.{col} holds values that are not ISO dates "
                                          "(YYYY-MM-DD[ HH:MM]) between 1900 and 2100", t,
                          [_row_text(b) for b in bad])
            if _AMOUNT_COL.search(name) and col not in pk and not name.endswith("_id"):
                bad = [row for row, x in values
                       if not isinstance(x, (int, float)) or isinstance(x, bool) or x < 0]
                if bad:
                    v.add("plausibility", f"{t}.{col} must hold non-negative numbers", t,
                          [_row_text(b) for b in bad])
            if _UNIQUE_COL.search(name) and col not in pk:
                seen: dict[Any, int] = defaultdict(int)
                for _, x in values:
                    seen[_norm(x)] += 1
                dupes = [x for x, n in seen.items() if n > 1]
                if dupes:
                    v.add("unique", f"{t}.{col} is an identifier but repeats values: "
                                    f"{dupes[:MAX_EVIDENCE]}", t)
        others = [r["name"] for r in info if r["name"] not in pk]
        if others:
            groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                groups[tuple(_norm(row[c]) for c in others)].append(row)
            dupes = [g for g in groups.values() if len(g) > 1]
            if dupes:
                v.add("duplicate", f"{t!r} has rows that differ only in their key "
                                   f"({sum(len(g) for g in dupes)} rows in {len(dupes)} "
                                   "group(s)); make every row distinct", t,
                      [_row_text(g[0]) + f" (x{len(g)})" for g in dupes])


def _norm(x: Any) -> Any:
    return " ".join(x.lower().split()) if isinstance(x, str) else x


# -- the agent -------------------------------------------------------------------------------
SYSTEM = ("You are a database engineer. You design SQLite schemas and realistic seed data "
          "for executable test environments of tool-using AI agents.")


def requirements(spec: DomainSpec) -> str:
    # "Exactly": small models asked for "at least" keep adding rows until cut off.
    volumes = "\n".join(f"  - {e.name}: exactly {spec.min_rows(e.name)} rows"
                        for e in spec.entities)
    return f"""Requirements:
- One table per entity, named exactly as the entity: {', '.join(e.name for e in spec.entities)}.
  Add a table only if the tools need it.
- Every table has an `INTEGER PRIMARY KEY` column named `<singular>_id` (e.g. `order_id`).
- A relation is a column `<singular>_id INTEGER NOT NULL REFERENCES <table>(<singular>_id)`.
- Enumerations are `TEXT NOT NULL CHECK (col IN (...))`; money is integer cents; counts and
  amounts get `CHECK (col >= 0)`; dates are ISO text `YYYY-MM-DD`, times `YYYY-MM-DD HH:MM`.
- Identifiers people type (emails, codes, SKUs) are `UNIQUE`.
- `ddl` holds only CREATE TABLE / CREATE INDEX statements, each ending with `;`.
- `rows` maps each table name to its seed rows, one JSON object per row with every column,
  explicit primary keys 1, 2, 3, ..., and relations that point at existing rows. Volumes:
{volumes}
- Values are realistic and varied (no two rows alike), obey every CHECK, emails look like
  `firstname.lastname@example.com`, dates fall in 2020-2026."""


def initial_prompt(spec: DomainSpec) -> str:
    return (f"Design the database for this domain.\n\n{spec.to_markdown()}\n\n"
            f"{requirements(spec)}")


def repair_prompt(spec: DomainSpec, draft: DatabaseDraft, findings: list[Finding], *,
                  requested: bool = False, fixed: list[str] | None = None) -> str:
    why = ("The tool developer cannot implement the tools against this schema and asks for "
           "these changes:" if requested else
           "Your previous draft fails validation. Problems, with evidence:")
    done = ("\n\nAlready fixed in the draft above (keep these changes):\n" + "\n".join(fixed)
            if fixed else "")
    return (f"{spec.to_markdown()}\n\n{requirements(spec)}\n\nYour previous draft:\n"
            f"```json\n{draft.model_dump_json(indent=1, exclude={'notes'})}\n```{done}\n\n"
            f"{why}\n"
            + "\n".join(f.render() for f in findings)
            + "\n\nReturn the complete corrected draft (all tables, all rows), fixing every "
              "problem listed while keeping what was right.")


def schema_text(spec: DomainSpec, draft: DatabaseDraft) -> str:
    body = "\n\n".join(split_statements(draft.ddl))
    return f"-- {spec.title}: schema generated by the DatabaseAgent, validated.\n{body}\n"


def scenario_of(draft: DatabaseDraft) -> dict[str, Any]:
    return {"tables": draft.rows}


@dataclass
class DatabaseResult:
    ok: bool
    draft: DatabaseDraft | None
    rounds: list[str]
    findings: list[Finding]
    """The last round's problems (empty when ok)."""
    stopped: str = ""

    @property
    def schema_sql(self) -> str:
        assert self.draft is not None
        return self.draft.ddl


class DatabaseAgent:
    def __init__(self, llm: LLM, journal: Journal, *, max_rounds: int = 4,
                 mode: StructuredMode = "text", fix_drafts: bool = True,
                 resample: bool = True):
        self.llm = llm
        self.mode = mode
        self.journal = journal
        self.max_rounds = max_rounds
        self.fix_drafts = fix_drafts
        """Apply the mechanical fixes (`draft_fixes`) to a failing draft before asking again."""
        self.resample = resample
        """Ask again sampled (`eigencore.agents.resample`) after an unchanged draft or a
        repeated prompt, instead of stopping the stage."""

    async def design(self, spec: DomainSpec, *, previous: DatabaseDraft | None = None,
                     requests: list[Finding] | None = None) -> DatabaseResult:
        """Draft, validate, repair until valid or out of rounds. With `previous` and
        `requests`, revise an accepted schema for the CodingAgent's findings."""
        draft, findings, requested = previous, list(requests or []), bool(requests)
        labels: list[str] = []
        asked: set[str] = set()
        fixed: list[str] = []
        answered: DatabaseDraft | None = None
        stuck = False
        for n in range(self.max_rounds):
            if draft is None:
                # Say what went wrong, or the same prompt would get the same (cached) answer.
                prompt = initial_prompt(spec) + "".join(
                    f"\n\nYour previous answer was unusable: {f.message}" for f in findings)
            else:
                prompt = repair_prompt(spec, draft, findings, requested=requested,
                                       fixed=fixed)
            if prompt in asked and not self.resample:
                # The same prompt again can only bring the same answer (deterministic
                # decoding, cached exchanges): stop instead of spending rounds on it.
                return DatabaseResult(False, draft, labels, findings, stopped=(
                    "the next prompt repeated an earlier one (the model kept giving the same "
                    "answer)"))
            sampling = resample(n) if self.resample and (stuck or prompt in asked) else None
            asked.add(prompt)
            rnd = self.journal.next_round("database")
            labels.append(rnd.label)
            answer, error = await ask(self.llm, rnd, prompt, draft_model(spec), system=SYSTEM,
                                      mode=self.mode, sampling=sampling)
            got = as_draft(answer) if answer is not None else None
            requested = False
            stuck = got is None
            if got is None:
                findings = [Finding(check="output", message=f"no valid draft: {error}")]
                rnd.write_json("validation.json", {"ok": False, "findings": [
                    f.model_dump() for f in findings]})
                continue
            # Unchanged: the same as the draft shown, or as the model's own last answer
            # (which the agent's fixes may have changed since).
            mine = got.model_dump(exclude={"notes"})
            unchanged = any(d is not None and d.model_dump(exclude={"notes"}) == mine
                            for d in (draft, answered))
            draft = answered = got
            stuck = unchanged
            v = validate_draft(spec, draft)
            record: dict[str, Any] = {}
            fixed = []
            if not v.ok and self.fix_drafts:
                draft, v, record = _with_fixes(spec, draft, v)
                fixed = record.get("fixes", [])
            findings = v.findings
            if unchanged and findings:
                findings = [Finding(check="unchanged", message=(
                    "your answer repeated the previous draft unchanged, so every problem is "
                    "still there: change the ddl and rows as each problem says")), *findings]
            rnd.write_json("validation.json", {"ok": v.ok, "counts": v.counts,
                                               "findings": [f.model_dump() for f in findings],
                                               **record})
            if v.ok:
                rnd.write_text("schema.sql", schema_text(spec, draft))
                rnd.write_json("scenario.json", scenario_of(draft))
                return DatabaseResult(True, draft, labels, [])
        return DatabaseResult(False, draft, labels, findings,
                              stopped=f"out of rounds ({self.max_rounds})")


def _with_fixes(spec: DomainSpec, draft: DatabaseDraft, v: Validation
                ) -> tuple[DatabaseDraft, Validation, dict[str, Any]]:
    """The draft after the mechanical fixes when they leave fewer problems, with the record
    that keeps the model's own findings apart from the agent's changes."""
    from eigencore.agents.draft_fixes import apply_fixes  # it builds on this module

    candidate, fixes = apply_fixes(draft, {f.check for f in v.findings})
    if not fixes:
        return draft, v, {}
    after = validate_draft(spec, candidate)
    if len(after.findings) >= len(v.findings):
        return draft, v, {}
    return candidate, after, {
        "fixes": [f.render() for f in fixes],
        "model_draft_findings": [f.model_dump() for f in v.findings]}
