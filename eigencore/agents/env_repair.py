"""Repairs an accepted environment bundle for the findings data synthesis routed to it.

The DataAgent writes `EnvironmentFinding`s for problems the environment caused: a tool that
misbehaved (`tool_bug`), a tool the generated tasks keep needing (`missing_tool`), both for
the CodingAgent, and a column several tasks expect (`schema_gap`), for the DatabaseAgent.
`repair` hands them to those agents through their public entry points, starting from the
bundle as it is on disk:

- a schema gap becomes a request to `DatabaseAgent.design(previous=..., requests=...)`,
  whose validated revision the code is then adapted to;
- a missing tool is added to the spec's tool list (kind guessed from its name), so the
  CodingAgent's contract checks require it;
- the CodingAgent starts from the bundle's current code as its previous answer, with the
  findings and their evidence (calls, errors) as the note.

The CodingAgent's own checks accept code that still shows the finding (the bundle passed
them before), so after its build every finding is re-checked on the repaired bundle (the
tool exists, the column exists, the evidence calls no longer fail as bugs); what remains goes
back to it once more. Every round is journaled under the repair's directory, so a killed
repair replays from disk.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from eigencore.agents import Journal, StructuredMode, write_atomic
from eigencore.agents.coding_agent import (
    GENERATED_MARK,
    TESTS_PREAMBLE,
    TOOLS_PREAMBLE,
    CodeDraft,
    CodingAgent,
    load_bundle_dir,
)
from eigencore.agents.data.evolve import EnvironmentFinding
from eigencore.agents.data.tasks import ENV_ERROR_KINDS
from eigencore.agents.database_agent import (
    DatabaseAgent,
    DatabaseDraft,
    Finding,
    scenario_of,
    schema_text,
)
from eigencore.agents.sandbox import Sandbox
from eigencore.agents.spec import DomainSpec, ToolIntent, ToolKind
from eigencore.llm.structured import LLM
from environments.conformance import check_bundle
from environments.contract import DomainBundle
from environments.envdb import EnvDb, TemplateCache

_READ_VERBS = ("get", "list", "find", "search", "lookup", "look", "show", "count", "check",
               "view", "describe", "fetch", "read")
_DESTRUCTIVE_VERBS = ("delete", "remove", "cancel", "purge", "drop", "void", "revoke")


class RepairResult(BaseModel):
    ok: bool
    findings: list[str]
    """The ids of the findings this repair was given."""
    routed: dict[str, list[str]] = Field(default_factory=dict)
    """Agent -> the finding ids it was handed."""
    bundle: str | None = None
    added_tools: list[str] = Field(default_factory=list)
    schema_revised: bool = False
    still_present: list[str] = Field(default_factory=list)
    outcome: str = ""
    rounds: list[str] = Field(default_factory=list)


def guess_kind(tool: str) -> ToolKind:
    verb = tool.split("_", 1)[0]
    if verb in _READ_VERBS:
        return "read_only"
    return "destructive" if verb in _DESTRUCTIVE_VERBS else "write"


def _call_text(call: dict[str, Any] | None) -> str:
    if not call:
        return ""
    args = ", ".join(f"{k}={v!r}" for k, v in (call.get("arguments") or {}).items())
    return f"{call.get('name')}({args})"


def spec_with_tools(spec: DomainSpec, findings: Sequence[EnvironmentFinding]
                    ) -> tuple[DomainSpec, list[str]]:
    """The spec with a tool added per missing-tool finding whose tool it lacks."""
    have = {t.name for t in spec.tools}
    added: list[ToolIntent] = []
    for f in findings:
        if f.category != "missing_tool" or not f.tool or f.tool in have:
            continue
        calls = [c for c in (_call_text(e.call) for e in f.evidence) if c][:2]
        intent = ("needed by tasks generated over this domain"
                  + (f", called as {' and '.join(calls)}" if calls else ""))
        try:
            added.append(ToolIntent(name=f.tool, intent=intent, kind=guess_kind(f.tool)))
        except ValueError:
            continue  # not an identifier a tool could have: nothing to implement
        have.add(f.tool)
    return spec.model_copy(update={"tools": [*spec.tools, *added]}), [t.name for t in added]


def _body(text: str, preamble: str) -> str:
    """A generated file's model-written part (what follows the fixed preamble)."""
    text = text.removeprefix(GENERATED_MARK)
    return text[len(preamble):] if text.startswith(preamble) else text


def current_code(bundle_dir: Path, spec: DomainSpec) -> CodeDraft:
    tools = (bundle_dir / "tools.py").read_text(encoding="utf-8")
    tests_path = bundle_dir / "test_tools.py"
    tests = tests_path.read_text(encoding="utf-8") if tests_path.is_file() else ""
    return CodeDraft(tools_code=_body(tools, TOOLS_PREAMBLE.format(title=spec.title)),
                     test_code=_body(tests, TESTS_PREAMBLE.format()))


def current_schema(bundle_dir: Path) -> tuple[str, dict[str, Any]]:
    """(DDL without the header comment `schema_text` adds, scenario)."""
    lines = (bundle_dir / "schema.sql").read_text(encoding="utf-8").splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    scenario = json.loads((bundle_dir / "scenario.json").read_text(encoding="utf-8"))
    return "\n".join(lines) + "\n", scenario


def still_present(finding: EnvironmentFinding, bundle: DomainBundle) -> str | None:
    """What shows the finding on `bundle` still, or None when it is gone."""
    tools = {t.name for t in bundle.tools}
    if finding.category == "missing_tool":
        return None if finding.tool in tools else f"there is still no tool {finding.tool!r}"
    # A private template: the shared cache is keyed by name, and holds the previous version.
    env = EnvDb.open(bundle, templates=TemplateCache(capacity=1))
    try:
        if finding.category == "schema_gap":
            meta = env.reader.meta
            if finding.table not in meta:
                return f"there is still no table {finding.table!r}"
            if finding.column and finding.column not in meta[finding.table].columns:
                return f"table {finding.table} still has no column {finding.column!r}"
            return None
        for e in finding.evidence:
            if not e.call:
                continue
            name = e.call.get("name")
            if name not in tools:
                return f"the tool {name!r} the finding is about no longer exists"
            out = env.call(name, e.call.get("arguments") or {})
            kind = (out.error or {}).get("kind")
            if not out.ok and kind in ENV_ERROR_KINDS:
                return (f"{_call_text(e.call)} still fails with {kind}: "
                        f"{(out.error or {}).get('message', '')}"[:300])
        return None
    finally:
        env.close()


def coder_note(findings: Sequence[EnvironmentFinding], *, schema_revised: bool,
               added: Sequence[str]) -> str:
    lines = ["Synthesizing data over this environment showed problems in it. Fix each one, "
             "keep every other tool working, and add a test for each fix."]
    if schema_revised:
        lines.append("The schema above was revised for these problems: adapt the code to it.")
    for f in findings:
        lines.append(f"- [{f.category}] {f.summary}")
        for e in f.evidence[:2]:
            if e.call:
                lines.append(f"    e.g. {_call_text(e.call)}"
                             + (f" -> {json.dumps(e.error, ensure_ascii=False)[:200]}"
                                if e.error else ""))
    if added:
        lines.append(f"The tool list above now includes {', '.join(added)}: implement "
                     f"{'them' if len(added) > 1 else 'it'}.")
    lines.append("A tool must refuse what it cannot do with ToolError, never crash or break a "
                 "constraint.")
    return "\n".join(lines)


def _database_request(f: EnvironmentFinding) -> Finding:
    return Finding(check="from_data_synthesis", table=f.table,
                   message=f"data synthesis: {f.summary}; add it if the domain needs it",
                   evidence=[e.message[:200] for e in f.evidence[:3]])


async def repair(spec: DomainSpec, bundle_dir: Path, findings: Sequence[EnvironmentFinding],
                 llm: LLM, out_dir: Path, *, sandbox: Sandbox | None = None,
                 mode: StructuredMode = "text", db_rounds: int = 3,
                 code_rounds: int = 4) -> tuple[RepairResult, DomainSpec]:
    """Repair `bundle_dir` for `findings` into `out_dir/<name>/`; returns the result and the
    spec the repaired bundle implements (tools may have been added)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "findings.json", json.dumps(
        [f.model_dump(mode="json", by_alias=True) for f in findings], indent=1))
    new_spec, added = spec_with_tools(spec, findings)
    write_atomic(out_dir / "spec.json", new_spec.model_dump_json(indent=1))
    result = RepairResult(ok=False, findings=[f.id for f in findings], added_tools=added)
    for f in findings:
        result.routed.setdefault(f.route_to, []).append(f.id)
    journal = Journal(out_dir)
    ddl, scenario = current_schema(bundle_dir)
    schema_sql = (bundle_dir / "schema.sql").read_text(encoding="utf-8")

    gaps = [f for f in findings if f.route_to == "DatabaseAgent"]
    if gaps:
        dba = DatabaseAgent(llm, journal, max_rounds=db_rounds, mode=mode)
        db = await dba.design(new_spec, previous=DatabaseDraft(ddl=ddl, rows=scenario["tables"]),
                              requests=[_database_request(f) for f in gaps])
        result.rounds += db.rounds
        if db.ok and db.draft is not None:
            schema_sql, scenario = schema_text(new_spec, db.draft), scenario_of(db.draft)
            result.schema_revised = True
        else:
            result.outcome = f"database stage ended: {db.stopped}; "

    coder = CodingAgent(llm, journal, sandbox or Sandbox(), max_rounds=code_rounds, mode=mode)
    coder.draft = current_code(bundle_dir, spec)  # its previous answer: the code as it is
    note = coder_note(findings, schema_revised=result.schema_revised, added=added)
    repaired: Path | None = None
    for _ in range(2):
        # The schema is settled above: a request to change it again is not taken here.
        coding = await coder.build(new_spec, schema_sql, scenario, schema_note=note,
                                   schema_frozen=True)
        result.rounds += coding.rounds
        if not coding.ok or coding.bundle_dir is None:
            result.outcome += f"coding stage ended: {coding.stopped}"
            break
        repaired = coding.bundle_dir
        bundle = load_bundle_dir(repaired)
        remaining = {f.id: why for f in findings if (why := still_present(f, bundle))}
        result.still_present = [f"{k}: {v}" for k, v in remaining.items()]
        if not remaining:
            break
        note = ("The checks pass, but these problems are still there:\n"
                + "\n".join(f"- {v}" for v in remaining.values()))

    if repaired is not None and not result.still_present:
        final = out_dir / spec.name
        if final.exists():
            shutil.rmtree(final)
        shutil.copytree(repaired, final, ignore=shutil.ignore_patterns("__pycache__",
                                                                       "junit.xml"))
        problems = check_bundle(load_bundle_dir(final))
        result.ok = not problems
        result.bundle = str(final) if not problems else None
        result.outcome = "repaired" if not problems else f"final check: {problems}"
    elif repaired is not None:
        result.outcome += "findings still present after the repair"
    write_atomic(out_dir / "summary.json", result.model_dump_json(indent=1))
    return result, new_spec
