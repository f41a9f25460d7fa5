"""The short domain spec the synthesis agents start from, and its Markdown format.

A spec is plain Markdown (no YAML dependency), readable by a person and small enough to put
whole into a prompt:

    ---
    name: retail_orders          # optional header of `key: value` lines
    scale: 0.5                   # optional: multiply every volume (small models, tests)
    ---
    # Retail orders
    Free text: the description.

    ## Entities
    - customers (20): name, email, city, joined_on
    - orders (~40 rows): customer, placed_on, status (pending/shipped), total_cents

    ## Tools
    - get_order (read-only): an order with its lines
    - cancel_order (destructive): cancel a pending order and restock its products

    ## Rules
    - an order can be cancelled only while pending

Entities and tools may also be given as Markdown tables (columns `entity | volume | fields`
and `tool | kind | intent`, any order, extra columns ignored). A tool's kind is read-only,
write (the default) or destructive.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

ToolKind = Literal["read_only", "write", "destructive"]
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


class SpecError(ValueError):
    """The spec file cannot be read as a domain spec; the message says where and why."""


class EntitySpec(BaseModel):
    name: str = Field(description="table name, snake_case plural, e.g. `orders`")
    fields: list[str] = Field(default_factory=list, description="column hints, free text each")
    volume: int = Field(ge=1, description="rough number of seed rows wanted")

    @field_validator("name")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError(f"entity name {v!r} must be a snake_case identifier")
        return v


class ToolIntent(BaseModel):
    name: str
    intent: str
    kind: ToolKind = "write"

    @field_validator("name")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError(f"tool name {v!r} must be a snake_case identifier")
        return v

    @property
    def read_only(self) -> bool:
        return self.kind == "read_only"

    @property
    def destructive(self) -> bool:
        return self.kind == "destructive"


class DomainSpec(BaseModel):
    name: str
    title: str
    description: str
    entities: list[EntitySpec]
    tools: list[ToolIntent]
    rules: list[str] = Field(default_factory=list)
    scale: float = Field(1.0, gt=0, le=10)

    @field_validator("name")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError(f"domain name {v!r} must be a snake_case identifier")
        return v

    def min_rows(self, entity: str) -> int:
        """Seed rows required for a table after scaling (at least 1, at least 2 when the
        spec asked for several, so near-duplicates and FKs are exercised)."""
        e = next(e for e in self.entities if e.name == entity)
        return max(1 if e.volume == 1 else 2, math.ceil(e.volume * self.scale))

    def to_markdown(self) -> str:
        """A compact rendering for prompts (volumes already scaled)."""
        lines = [f"# {self.title} (`{self.name}`)", "", self.description, "", "## Entities"]
        for e in self.entities:
            lines.append(f"- {e.name} (at least {self.min_rows(e.name)} rows): "
                         + ", ".join(e.fields))
        lines += ["", "## Tools"]
        for t in self.tools:
            lines.append(f"- {t.name} ({t.kind.replace('_', '-')}): {t.intent}")
        if self.rules:
            lines += ["", "## Rules", *(f"- {r}" for r in self.rules)]
        return "\n".join(lines)


# -- parsing ---------------------------------------------------------------------------------
_HEADER = re.compile(r"^---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_BULLET = re.compile(r"^\s*[-*+]\s+`?([A-Za-z_][\w]*)`?\s*(?:\(([^)]*)\))?\s*(?:[:—–-]\s*(.*))?$")
_NUMBER = re.compile(r"\d+")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "domain"


def _kind(text: str, where: str) -> ToolKind:
    t = text.strip().lower().replace("_", "-").replace(" ", "-")
    if t in ("read-only", "readonly", "read", "ro", "query"):
        return "read_only"
    if t in ("destructive", "delete", "irreversible"):
        return "destructive"
    if t in ("", "write", "writes", "mutating", "update"):
        return "write"
    raise SpecError(f"{where}: unknown tool kind {text!r} (use read-only, write or destructive)")


def _volume(text: str, where: str) -> int:
    m = _NUMBER.search(text or "")
    if not m:
        raise SpecError(f"{where}: no volume (write e.g. `(20)` after the entity name)")
    return int(m.group())


def _split_fields(text: str) -> list[str]:
    # Commas separate fields, but not inside parentheses: "status (open, closed)".
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch in ",;" and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [f.strip() for f in out if f.strip()]


def _table_rows(lines: list[str]) -> list[dict[str, str]] | None:
    rows = [ln.strip() for ln in lines if ln.strip().startswith("|")]
    if len(rows) < 2:
        return None
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
    head = [h.lower() for h in cells[0]]
    body = [c for c in cells[1:] if not all(set(x) <= set("-: ") for x in c)]
    return [dict(zip(head, c, strict=False)) for c in body]


def _pick(row: dict[str, str], *names: str) -> str:
    for n in names:
        if n in row:
            return row[n]
    return ""


def _sections(body: str) -> tuple[str, str, dict[str, list[str]]]:
    title, intro, current = "", [], None
    sections: dict[str, list[str]] = {}
    for line in body.splitlines():
        if line.startswith("# ") and not title:
            title = line[2:].strip()
        elif line.startswith("## "):
            current = line[3:].strip().lower()
            sections[current] = []
        elif current is None:
            intro.append(line)
        else:
            sections[current].append(line)
    return title, "\n".join(intro).strip(), sections


def parse_spec(text: str, *, source: str = "<spec>") -> DomainSpec:
    header: dict[str, str] = {}
    m = _HEADER.match(text)
    if m:
        for ln in m.group(1).splitlines():
            ln = ln.split("#", 1)[0].strip()
            if ln:
                key, sep, value = ln.partition(":")
                if not sep:
                    raise SpecError(f"{source}: header line {ln!r} is not `key: value`")
                header[key.strip().lower()] = value.strip()
        text = text[m.end():]
    title, intro, sections = _sections(text)
    description = "\n".join(sections.get("description", [])).strip() or intro
    if not description:
        raise SpecError(f"{source}: no description (text under the title or a "
                        "## Description section)")

    entities: list[EntitySpec] = []
    lines = sections.get("entities", [])
    table = _table_rows(lines)
    if table is not None:
        for row in table:
            name = _pick(row, "entity", "name", "table")
            entities.append(EntitySpec(name=name.strip("`"), volume=_volume(
                _pick(row, "volume", "rows", "count"), f"{source}: entity {name}"),
                fields=_split_fields(_pick(row, "fields", "columns"))))
    else:
        for ln in lines:
            b = _BULLET.match(ln)
            if b:
                name, paren, rest = b.groups()
                entities.append(EntitySpec(name=name, volume=_volume(
                    paren or "", f"{source}: entity {name}"),
                    fields=_split_fields(rest or "")))
    tools: list[ToolIntent] = []
    lines = sections.get("tools", [])
    table = _table_rows(lines)
    if table is not None:
        for row in table:
            name = _pick(row, "tool", "name").strip("`")
            tools.append(ToolIntent(name=name, intent=_pick(row, "intent", "description"),
                                    kind=_kind(_pick(row, "kind", "type"), f"{source}: {name}")))
    else:
        for ln in lines:
            b = _BULLET.match(ln)
            if b:
                name, paren, rest = b.groups()
                tools.append(ToolIntent(name=name, intent=(rest or "").strip(),
                                        kind=_kind(paren or "", f"{source}: tool {name}")))
    rules = [re.sub(r"^\s*[-*+]\s+", "", ln).strip()
             for ln in sections.get("rules", []) if ln.strip()]
    if not entities:
        raise SpecError(f"{source}: no entities (a ## Entities section with bullets or a table)")
    if not tools:
        raise SpecError(f"{source}: no tools (a ## Tools section with bullets or a table)")
    try:
        return DomainSpec(
            name=header.get("name") or _slug(title or Path(source).stem),
            title=title or header.get("name", "Domain"),
            description=description,
            entities=entities, tools=tools, rules=rules,
            scale=float(header.get("scale", 1.0)),
        )
    except ValueError as e:
        raise SpecError(f"{source}: {e}") from e


def load_spec(path: str | Path, *, scale: float | None = None) -> DomainSpec:
    p = Path(path)
    spec = parse_spec(p.read_text(encoding="utf-8"), source=str(p))
    return spec.model_copy(update={"scale": scale}) if scale is not None else spec
