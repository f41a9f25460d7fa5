"""Per-tool coding: the CodingAgent's mode for small models.

Instead of one JSON answer holding the whole module (which a 1.5B model could not give: it
answered `"None"`), the model is asked for one tool at a time: the function and one or two
tests, as plain Python in a fenced block (`eigencore.llm.code`), a few hundred tokens. Each
tool is checked in the sandbox as it comes, together with the tools accepted before it
(import, `check_bundle`, the contract checks by execution for the tools written so far, and
all their tests), so a failure is this tool's (or its clash with an earlier one's), and the
feedback goes back for this tool only. When every tool has had its turn, the module is
assembled and the full checks run once more with the whole spec.

Rounds: `rounds/coding-<tool>-<n>/` per model answer, `coding-recheck-<n>` when a schema
revision sends the accepted tools through the checks again, `coding-assembled-<n>` for the
final check. A sandbox verdict is stored with the hash of what it checked and reused when
the same code is checked again, so a resumed run repeats neither model calls nor sandbox
runs. A tool that cannot be written against the schema is answered with a line
`SCHEMA CHANGE: ...`, which goes to the DatabaseAgent as in the whole mode.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from clients.models.base import Sampling
from eigencore.agents import (
    Journal,
    Round,
    ask_recorded,
    prompt_record,
    request_id,
    resample,
)
from eigencore.agents.coding_agent import (
    EXAMPLE,
    CodeCheck,
    CodeDraft,
    CodingResult,
    render_feedback,
    run_checks,
    write_bundle,
)
from eigencore.agents.database_agent import Finding
from eigencore.agents.pieces import Piece, assemble, decorator, split_piece
from eigencore.agents.sandbox import Sandbox
from eigencore.agents.spec import DomainSpec, ToolIntent
from eigencore.llm.code import CodeAnswer, CodeOutputError, code_answer
from eigencore.llm.structured import LLM

SYSTEM = ("You are a senior Python engineer. You write one small, correct tool function over "
          "SQLite at a time, with its pytest tests, for an executable test environment of "
          "tool-using AI agents. You reply with one ```python code block.")

_SCHEMA_CHANGE = re.compile(r"^\W*SCHEMA CHANGE\s*:[\s*_]*(.+)$", re.I | re.M)
SCHEMA_HINT = ("Use only the schema's tables and columns; if the tool truly needs them, reply "
               "with one line `SCHEMA CHANGE: <what is needed>` instead of code.")
CHECK_FIELDS = ("ok", "problems", "failed_tests", "tests_run", "missing", "output_tail",
                "sandbox")
IMPORTED = ("json, sqlite3, Annotated, Any, Literal, BaseModel, Field, Db, ToolError, tool "
            "(and, for the tests, pytest, env, ok, refused)")


def schema_change(text: str) -> str | None:
    m = _SCHEMA_CHANGE.search(text)
    return m.group(1).strip() if m else None


CODE_MAX_TOKENS = 1200
"""Output cap of a code answer (one function and its tests). Set after the 0.5B ran to 4,096
tokens twice in a row on one tool, 6 minutes each; under the cap the 1.5B's 54 code answers
took 115-1,200 tokens (median 682, 15 cut off at the cap)."""


async def ask_code(llm: LLM, rnd: Round, prompt: str, *, system: str,
                   sampling: Sampling | None = None) -> tuple[CodeAnswer | None, str | None]:
    """One code request, recorded in (or replayed from) the round's directory, as `ask`
    does for structured answers."""
    return await ask_recorded(
        llm, rnd, request_id("code", system, prompt, sampling, CODE_MAX_TOKENS),
        prompt_record(system, prompt, sampling),
        lambda: code_answer(llm, prompt, system=system, sampling=sampling,
                            max_tokens=CODE_MAX_TOKENS,
                            accept_text=lambda t: schema_change(t) is not None),
        dump=lambda a: {"code": a.code, "text": a.text}, load=lambda v: CodeAnswer(**v),
        invalid=(CodeOutputError,))


def _samples(scenario: dict[str, Any], per_table: int = 2) -> str:
    return "\n".join(f"{table}: " + "; ".join(json.dumps(r, ensure_ascii=False)
                                              for r in rows[:per_table])
                     for table, rows in scenario.get("tables", {}).items())


def tool_prompt(spec: DomainSpec, tool: ToolIntent, schema_sql: str, scenario: dict[str, Any],
                earlier: list[Piece]) -> str:
    rules = "\n".join(f"- {r}" for r in spec.rules) or "- (none beyond the schema)"
    kind = tool.kind.replace("_", "-")
    written = ""
    if earlier:
        helpers = sorted({h for p in earlier for h in p.helpers})
        written = ("\nTools already written (your tests may call them with ok(env, ...)):\n"
                   + "\n".join(f"- {p.signature}" for p in earlier if p.signature)
                   + (f"\nHelpers already defined (call them, do not redefine them): "
                      f"{', '.join(helpers)}\n" if helpers else "\n"))
    return f"""Write the tool `{tool.name}` of the `{spec.name}` environment, in Python over \
this SQLite database.

{tool.name} ({kind}): {tool.intent}

{spec.description}

Business rules:
{rules}

Schema:
```sql
{schema_sql.strip()}
```

Seed rows (first two of each table):
{_samples(scenario)}
{written}
Rules:
- Define `def {tool.name}(db: Db, ...)` decorated `{decorator(tool)}`. Every parameter after
  `db` has a type annotation and a line in the docstring's `Args:` section.
- `db` is a sqlite3 connection; rows are sqlite3.Row. Parameterised SQL only. Never commit,
  rollback or executescript.
- Refuse unknown ids and rule violations with
  `raise ToolError("why", kind="not_found" or "not_allowed" or "invalid_request", field="arg")`.
- Return a dict, or a list of dicts (`dict(row)`). Never read the clock.
- Already imported, do not import them again: {IMPORTED}.
- After the function, write one or two tests `def test_{tool.name}_...(env):` using the seed
  rows: `ok(env, "{tool.name}", arg=value)` returns the tool's result,
  `refused(env, "{tool.name}", arg=value)` returns the error, a dict with "kind".

Example of a tool and its test:
```python
{EXAMPLE}


def test_get_customer(env):
    assert ok(env, "get_customer", customer_id=1)["customer_id"] == 1
    assert refused(env, "get_customer", customer_id=999)["kind"] == "not_found"
```

Reply with one ```python block: the function `{tool.name}` (and any small helper it needs)
followed by its tests. If it cannot be written against this schema (a table or column it
needs is missing), reply instead with one line: `SCHEMA CHANGE: <the tables and columns
needed>`."""


@dataclass
class ToolState:
    """Where one tool stands: its last code and the feedback on it."""

    used: int = 0
    code: str = ""
    feedback: str = ""
    last_missing: set[str] = field(default_factory=set)
    asked: set[str] = field(default_factory=set)
    stuck: bool = False
    """The last answer repeated the one before or had no code: ask the next one sampled."""
    rounds: list[str] = field(default_factory=list)
    accepted_in: str | None = None
    stopped: str = ""


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() + b"\x00")
    return h.hexdigest()


class PerToolCodingAgent:
    """Same interface as `CodingAgent` (`build` → `CodingResult`); keeps its accepted tools
    and per-tool state across calls, so it resumes after a schema revision."""

    def __init__(self, llm: LLM, journal: Journal, sandbox: Sandbox | None = None, *,
                 rounds_per_tool: int = 3, resample: bool = True):
        self.llm = llm
        self.journal = journal
        self.sandbox = sandbox or Sandbox()
        self.rounds_per_tool = rounds_per_tool
        self.resample = resample
        """Ask again sampled (`eigencore.agents.resample`) when the model is stuck, instead
        of stopping the tool on a repeated prompt."""
        self.accepted: dict[str, Piece] = {}
        self.state: dict[str, ToolState] = {}

    def status(self) -> dict[str, dict[str, Any]]:
        """Per spec tool: accepted or not, in which round, rounds used, why it stopped."""
        return {name: {"ok": name in self.accepted, "accepted_in": s.accepted_in,
                       "rounds": s.rounds, "stopped": s.stopped}
                for name, s in self.state.items()}

    @staticmethod
    def order(spec: DomainSpec) -> list[ToolIntent]:
        # Read-only tools first: the tests of the write tools can then use them to look.
        return sorted(spec.tools, key=lambda t: not t.read_only)

    def _earlier(self, spec: DomainSpec) -> list[Piece]:
        return [self.accepted[t.name] for t in self.order(spec) if t.name in self.accepted]

    async def build(self, spec: DomainSpec, schema_sql: str, scenario: dict[str, Any], *,
                    schema_note: str = "", schema_frozen: bool = False) -> CodingResult:
        result = CodingResult(ok=False)
        for t in spec.tools:
            self.state.setdefault(t.name, ToolState())
        if schema_note and self.accepted:
            self._recheck(spec, schema_sql, scenario, result)
        for tool in self.order(spec):
            if tool.name in self.accepted or self.state[tool.name].stopped:
                continue
            finding = await self._write(spec, tool, schema_sql, scenario, schema_frozen,
                                        result, note=schema_note)
            if finding is not None:
                result.schema_request = finding
                return result
        return self._assemble(spec, schema_sql, scenario, result)

    async def _write(self, spec: DomainSpec, tool: ToolIntent, schema_sql: str,
                     scenario: dict[str, Any], frozen: bool, result: CodingResult, *,
                     note: str) -> Finding | None:
        st = self.state[tool.name]
        while st.used < self.rounds_per_tool:
            earlier = self._earlier(spec)
            prompt = tool_prompt(spec, tool, schema_sql, scenario, earlier)
            if note and st.used:  # a tool asked before must adapt to the revised schema
                prompt += "\n\n" + note
            if st.code:
                prompt += f"\n\nYour previous code:\n```python\n{st.code.strip()}\n```"
            if st.feedback:
                prompt += "\n\n" + st.feedback
            if st.code or st.feedback:
                prompt += ("\n\nReply with the corrected function and its tests in one "
                           "```python block.")
            sampling: Sampling | None = None
            if prompt in st.asked or st.stuck:
                if not self.resample and prompt in st.asked:
                    st.stopped = ("the next prompt repeated an earlier one (the model kept "
                                  "giving the same answer)")
                    return None
                # Greedy decoding would give the same answer to (nearly) the same prompt.
                sampling = resample(st.used) if self.resample else None
            st.asked.add(prompt)
            st.used += 1
            st.stuck = False
            rnd = self.journal.next_round(f"coding-{tool.name}")
            st.rounds.append(rnd.label)
            result.rounds.append(rnd.label)
            answer, error = await ask_code(self.llm, rnd, prompt, system=SYSTEM,
                                           sampling=sampling)
            if answer is None:
                st.stuck = True
                st.feedback = f"Your previous reply had no usable code: {error}"
                rnd.write_json("validation.json", {"ok": False, "problems": [st.feedback]})
                continue
            if not answer.code:
                request = schema_change(answer.text) or answer.text.strip()
                if not frozen:
                    finding = Finding(check="from_coding", message=f"{tool.name}: {request}")
                    rnd.write_json("validation.json", {"ok": False, "routed": "database",
                                                       "schema_request": finding.model_dump()})
                    st.feedback, note = "", ""
                    return finding
                st.feedback = ("The schema cannot change any more: write the tool against it "
                               "as it is.")
                rnd.write_json("validation.json", {"ok": False, "problems": [st.feedback]})
                continue
            st.stuck = bool(st.code) and answer.code.strip() == st.code.strip()
            st.code = answer.code
            note = ""
            piece, problems = split_piece(answer.code, tool, all_tools=[
                t.name for t in spec.tools], earlier=earlier)
            if problems:
                st.feedback = ("Your code cannot be used yet. Fix these problems:\n"
                               + "\n".join(f"- {p}" for p in problems))
                rnd.write_json("validation.json", {"ok": False, "problems": problems,
                                                   "piece": piece.to_json()})
                continue
            check = self._check(rnd, spec, schema_sql, scenario, [*earlier, piece],
                                extra={"piece": piece.to_json()})
            if check.ok:
                self.accepted[tool.name] = piece
                st.accepted_in, st.feedback = rnd.label, ""
                return None
            st.feedback = render_feedback(check, schema_hint=SCHEMA_HINT)
            if st.stuck:
                st.feedback = ("Your code repeated the previous one unchanged, so every problem "
                               "is still there.\n\n" + st.feedback)
            repeated = set(check.missing) & st.last_missing
            st.last_missing = set(check.missing)
            if repeated and not frozen:
                # The same missing name twice: more likely a schema gap than a typo.
                st.last_missing = set()
                return Finding(check="missing_column",
                               message=f"{tool.name} needs " + ", ".join(sorted(repeated))
                               + ", which the schema does not have; add it if the spec's "
                                 "tools need it", evidence=check.problems[:4])
        st.stopped = st.stopped or f"out of rounds ({self.rounds_per_tool} for this tool)"
        return None

    def _check(self, rnd: Round, spec: DomainSpec, schema_sql: str, scenario: dict[str, Any],
               pieces: list[Piece], *, extra: dict[str, Any] | None = None,
               expect: list[ToolIntent] | None = None) -> CodeCheck:
        tools_code, test_code = assemble(pieces)
        names = {p.tool for p in pieces}
        tools = expect if expect is not None else [t for t in spec.tools if t.name in names]
        bundle_dir = write_bundle(rnd.path / "bundle" / spec.name, spec, schema_sql, scenario,
                                  CodeDraft(tools_code=tools_code, test_code=test_code))
        digest = _digest(schema_sql, json.dumps(scenario, sort_keys=True), tools_code,
                         test_code, json.dumps([[t.name, t.kind] for t in tools]))
        recorded = rnd.read_json("validation.json")
        if recorded is not None and recorded.get("checked_sha256") == digest:
            # The same code against the same schema: the same verdict, no sandbox run.
            return CodeCheck.from_json({k: recorded[k] for k in CHECK_FIELDS})
        check = run_checks(self.sandbox, bundle_dir, spec, tools)
        rnd.write_json("validation.json", {**check.to_json(), "checked_sha256": digest,
                                           **(extra or {})})
        return check

    def _recheck(self, spec: DomainSpec, schema_sql: str, scenario: dict[str, Any],
                 result: CodingResult) -> None:
        """After a schema revision: the accepted tools against the new schema. Those a
        problem or a failing test points at go back to be written again, with that
        feedback; if nothing points anywhere (the module does not import), all do."""
        rnd = self.journal.next_round("coding-recheck")
        result.rounds.append(rnd.label)
        pieces = self._earlier(spec)
        check = self._check(rnd, spec, schema_sql, scenario, pieces)
        if check.ok:
            return
        failing = {t["name"] for t in check.failed_tests}
        blamed = [p for p in pieces if any(f"'{p.tool}'" in q for q in check.problems)
                  or failing & set(p.tests)]
        for p in blamed or pieces:
            del self.accepted[p.tool]
            st = self.state[p.tool]
            st.code, st.accepted_in, st.used = p.code, None, 0
            st.feedback = ("After the schema revision your code fails the checks.\n\n"
                           + render_feedback(check, schema_hint=SCHEMA_HINT))

    def _assemble(self, spec: DomainSpec, schema_sql: str, scenario: dict[str, Any],
                  result: CodingResult) -> CodingResult:
        rnd = self.journal.next_round("coding-assembled")
        result.rounds.append(rnd.label)
        pieces = self._earlier(spec)
        check = self._check(rnd, spec, schema_sql, scenario, pieces, expect=list(spec.tools))
        tools_code, test_code = assemble(pieces)
        result.draft = CodeDraft(tools_code=tools_code, test_code=test_code)
        result.check = check
        if check.ok:
            result.ok, result.bundle_dir = True, rnd.path / "bundle" / spec.name
            return result
        missing = [t.name for t in spec.tools if t.name not in self.accepted]
        result.stopped = ("tools not accepted: " + ", ".join(
            f"{n} ({self.state[n].stopped or 'not reached'})" for n in missing)
            if missing else "the assembled module fails the full checks")
        return result
