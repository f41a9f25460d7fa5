"""Task generation grounded in a domain's database, and the verifiable outcome of a task.

A generator LLM sees real rows sampled from the episode database and writes a multi-turn user
goal as structured output: per turn the user's message, the calls that accomplish it (its
plan) and the information the reply owes; for the whole task, assertions over the final
database state. A task may use a BFCL-style variant: a parameter the user holds back until
asked (`miss_param`), or a tool that only appears at a later turn (`miss_func`).

Nothing the generator claims is trusted. The plan is executed on a private copy of the
database: every call must succeed, every assertion must hold afterwards, every owed fact
must appear in that turn's results, and a task a do-nothing agent would pass (assertions
already true initially, nothing owed) is rejected as trivial. Each problem becomes a
`Failure` whose text is what the prompt optimiser learns from.
"""

from __future__ import annotations

import difflib
import json
import random
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_core import to_jsonable_python

from clients.models.base import ModelError
from eigencore.bfcl.calls import CallParseError, parse_call
from eigencore.evaluation.facts import fact_given
from eigencore.evaluation.outcome import bind
from eigencore.evaluation.task import Fact, Task, Turn
from eigencore.llm.structured import LLM, StructuredOutputError
from environments import registry
from environments.contract import DomainBundle, Scenario
from environments.envdb import EnvDb, arguments_model
from environments.rules import values_equal
from environments.state import TableMeta

Row = dict[str, Any]
State = dict[str, list[Row]]
"""A canonical database state as JSON: table -> rows (foreign keys as the parent's key)."""

Variant = Literal["base", "miss_param", "miss_func"]
VARIANTS: tuple[Variant, ...] = ("base", "miss_param", "miss_func")

MISSING_TOOL_PROMPT = "I have updated some more functions you can choose from. What about now?"
"""BFCL's message for the turn at which a held-out tool appears."""

FailureKind = Literal[
    # the task itself (before any rollout)
    "generation_failed", "invalid_task", "plan_error", "invalid_assertion", "invalid_fact",
    "trivial",
    # the synthesized trajectory
    "run_error", "tool_error", "incomplete", "state_mismatch", "unexpected_change",
    "info_not_given", "simulator_leak", "judge_disagrees", "near_duplicate",
]


class EnvIssue(BaseModel):
    """A failure the environment caused rather than the generator or the assistant."""

    category: Literal["tool_bug", "missing_tool", "schema_gap"]
    tool: str | None = None
    table: str | None = None
    column: str | None = None
    error: dict[str, Any] | None = None
    call: dict[str, Any] | None = None


class Failure(BaseModel):
    kind: FailureKind
    message: str
    env: EnvIssue | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


# -- assertions over the final state ------------------------------------------------------------
class Assertion(BaseModel):
    """A check on the database after the task. `where` selects rows by column values (a
    foreign key holds the parent's key, e.g. a member's card number)."""

    table: str
    where: dict[str, Any] = Field(default_factory=dict,
                                  description="column -> value selecting the rows")
    kind: Literal["row", "absent", "count"] = Field(
        "row", description="row: some selected row has the `expect` values; "
                           "absent: no row is selected; count: exactly `count` rows are")
    expect: dict[str, Any] = Field(default_factory=dict,
                                   description="for kind=row: column -> value it must have")
    count: int | None = None

    def describe(self) -> str:
        where = ", ".join(f"{k}={v!r}" for k, v in self.where.items()) or "any row"
        if self.kind == "absent":
            return f"no {self.table} row with {where}"
        if self.kind == "count":
            return f"{self.count} {self.table} rows with {where}"
        expect = ", ".join(f"{k}={v!r}" for k, v in self.expect.items())
        return f"a {self.table} row with {where}" + (f" has {expect}" if expect else "")


@dataclass
class DomainContext:
    """One domain's initial state and table layout, as the generator and verifier see it."""

    bundle: DomainBundle
    scenario: Scenario | None
    initial: State
    meta: dict[str, TableMeta]

    @classmethod
    def load(cls, domain: str, scenario: Scenario | None = None) -> DomainContext:
        bundle = registry.get(domain)
        env = EnvDb.open(bundle, scenario)
        try:
            return cls(bundle, scenario, env.snapshot_json(), dict(env.reader.meta))
        finally:
            env.close()

    @property
    def name(self) -> str:
        return self.bundle.name

    def tables(self) -> list[str]:
        return [t for t in self.meta if not self.bundle.rules.for_table(t).skip]

    def columns(self, table: str) -> list[str]:
        """Columns an assertion may name: generated ids are never comparable."""
        ignore = self.bundle.rules.for_table(table).ignore
        return [c for c in self.meta[table].columns if c not in ignore]

    def fk_target(self, table: str, column: str) -> str | None:
        """`parent.key` whose value a foreign-key column holds in canonical rows."""
        fk = self.meta[table].foreign_keys.get(column)
        if fk is None:
            return None
        parent, pcol = fk
        pm = self.meta.get(parent)
        if pm is not None and pm.natural_key != (pcol,):
            return f"{parent}.{'/'.join(pm.natural_key)}"
        return f"{parent}.{pcol}"


def _key(values: list[Any]) -> str:
    return json.dumps(values, sort_keys=True, default=str)


def state_after(ctx: DomainContext, changes: list[dict[str, Any]]) -> State:
    """The state reached from the initial one by a diff's row changes (as JSON).

    Works from the harness's recorded diffs, so a remote episode that is already closed can
    still be checked; ignored columns are absent from diffs, and assertions never name them.
    """
    rows: dict[str, dict[str, Row]] = {}
    for table, table_rows in ctx.initial.items():
        nk = ctx.meta[table].natural_key
        rows[table] = {_key([r.get(c) for c in nk]): dict(r) for r in table_rows}
    for ch in changes:
        table = ch["table"]
        nk = ctx.meta[table].natural_key
        key = _key([ch["key"].get(c) for c in nk])
        current = rows.setdefault(table, {})
        if ch["kind"] == "inserted":
            current[key] = dict(ch.get("row") or {})
        elif ch["kind"] == "deleted":
            current.pop(key, None)
        else:
            row = current.setdefault(key, dict(ch["key"]))
            row.update({c: v["new"] for c, v in (ch.get("columns") or {}).items()})
    return {t: list(r.values()) for t, r in rows.items()}


def _same(expected: Any, got: Any, free_text: bool) -> bool:
    # Generators write numbers as text now and then ("325"); compare those by value.
    if isinstance(expected, str) and isinstance(got, (int, float)) and not isinstance(got, bool):
        try:
            expected = float(expected)
        except ValueError:
            return False
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(
            _same(e, g, free_text) for e, g in zip(expected, got, strict=True))
    return values_equal(expected, got, free_text=free_text)


def assertion_problems(a: Assertion, ctx: DomainContext) -> list[str]:
    """Why an assertion cannot be evaluated at all (unknown table or column, missing count)."""
    if a.table not in ctx.meta:
        return [f"there is no table {a.table!r}; tables are {', '.join(ctx.tables())}"]
    cols = ctx.columns(a.table)
    ignored = ctx.bundle.rules.for_table(a.table).ignore
    problems = []
    for c in [*a.where, *a.expect]:
        if c in ignored:
            problems.append(f"{a.table}.{c} is a generated id, never compared; select the row "
                            f"by {', '.join(ctx.meta[a.table].natural_key)} instead")
        elif c not in cols:
            problems.append(f"table {a.table} has no column {c!r}; its columns are "
                            f"{', '.join(cols)}")
    if a.kind == "count" and a.count is None:
        problems.append("a count assertion needs `count`")
    if a.kind == "row" and not a.where and not a.expect:
        problems.append("a row assertion needs `where` or `expect`")
    return problems


def _matches(row: Row, values: dict[str, Any], free: frozenset[str]) -> bool:
    return all(c in row and _same(v, row[c], c in free) for c, v in values.items())


def assertion_failure(a: Assertion, state: State, ctx: DomainContext) -> str | None:
    """None when the assertion holds in `state`, else what was found instead."""
    problems = assertion_problems(a, ctx)
    if problems:
        return "; ".join(problems)
    free = ctx.bundle.rules.for_table(a.table).free_text
    selected = [r for r in state.get(a.table, []) if _matches(r, a.where, free)]
    if a.kind == "absent":
        return None if not selected else f"expected {a.describe()}, found {len(selected)}"
    if a.kind == "count":
        return None if len(selected) == a.count else (
            f"expected {a.describe()}, found {len(selected)}")
    if not selected:
        return f"expected {a.describe()}, but no {a.table} row matches the selection"
    if any(_matches(r, a.expect, free) for r in selected):
        return None
    found = [{c: r.get(c) for c in a.expect} for r in selected[:3]]
    return f"expected {a.describe()}, but the selected rows have {found}"


def assertion_failures(assertions: list[Assertion], state: State,
                       ctx: DomainContext) -> list[str]:
    return [f for a in assertions if (f := assertion_failure(a, state, ctx)) is not None]


# -- what the generator writes ------------------------------------------------------------------
class OwedFact(BaseModel):
    value: str | int | float | bool = Field(description="a value the reply must state")
    label: str = Field("", description="where it comes from, e.g. return_copy.fine_charged_cents")


class GenTurn(BaseModel):
    user: str = Field(description="the user's message for this turn")
    calls: list[str] = Field(default_factory=list,
                             description="calls that accomplish the turn, in Python syntax "
                                         "with keyword arguments, e.g. get_member(card_number="
                                         "'C-1001')")
    owed: list[OwedFact] = Field(default_factory=list,
                                 description="information this turn's reply must give")


class HeldBack(BaseModel):
    turn: int = Field(description="index of the turn whose message leaves the value out")
    argument: str = Field(description="the call argument the user leaves out")
    value: str | int | float | bool = Field(description="its value, said only when asked")


class MissingTool(BaseModel):
    turn: int = Field(description="index of the turn that needs the tool")
    tool: str


class GeneratedTask(BaseModel):
    goal: str = Field(description="one sentence: what the user wants overall")
    turns: list[GenTurn] = Field(min_length=1)
    assertions: list[Assertion] = Field(default_factory=list,
                                        description="checks on the database after the task")
    held_back: HeldBack | None = None
    missing_tool: MissingTool | None = None


SEED_INSTRUCTION = (
    "Write one realistic request that a person brings to this system, spread over the given "
    "number of turns. Ground it in the sample records: use their real identifiers. Mix turns "
    "that ask for information with turns that change something."
)

GENERATOR_SYSTEM = (
    "You design evaluation tasks for tool-using assistants. Every value you write must come "
    "from the records shown or from what the calls you list would return."
)

_VARIANT_TEXT: dict[str, str] = {
    "base": "All tools are available from the start and the user gives every detail needed. "
            "Leave held_back and missing_tool empty.",
    "miss_param": "In one turn (held_back.turn) the user leaves out one argument value that "
                  "the calls need (held_back.argument, held_back.value): that turn's message "
                  "must not contain the value; the user gives it only when the assistant asks.",
    "miss_func": "One tool the calls of turn missing_tool.turn need is unavailable at first: "
                 "the assistant sees that turn's request without it; the tool is added in the "
                 "next exchange. Earlier turns must not use it.",
}


def _type_text(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "|".join(repr(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_type_text(s) for s in schema["anyOf"])
    if "const" in schema:
        return repr(schema["const"])
    return str(schema.get("type", "any"))


def tool_lines(bundle: DomainBundle) -> list[str]:
    lines = []
    for spec in bundle.tools:
        schema = arguments_model(spec).model_json_schema()
        required = set(schema.get("required", []))
        params = ", ".join(
            f"{name}: {_type_text(p)}" + ("" if name in required else " = optional")
            for name, p in (schema.get("properties") or {}).items())
        doc = " ".join(spec.description.strip().split("\n\n")[0].split())
        flag = " [read-only]" if spec.read_only else ""
        lines.append(f"- {spec.name}({params}){flag}: {doc}")
    return lines


def table_lines(ctx: DomainContext) -> list[str]:
    lines = []
    for t in ctx.tables():
        cols = []
        for c in ctx.columns(t):
            target = ctx.fk_target(t, c)
            cols.append(f"{c} -> {target}" if target else c)
        lines.append(f"- {t}({', '.join(cols)}); rows identified by "
                     f"{', '.join(ctx.meta[t].natural_key)}")
    return lines


def sample_entities(ctx: DomainContext, rng: random.Random, per_table: int = 3,
                    whole_below: int = 8) -> State:
    """Real rows to ground a task in: small tables whole, a few rows of the others."""
    out: State = {}
    for t in ctx.tables():
        rows = ctx.initial.get(t, [])
        keep = set(ctx.columns(t))
        picked = rows if len(rows) <= whole_below else rng.sample(rows, per_table)
        out[t] = [{c: v for c, v in r.items() if c in keep} for r in picked]
    return out


def build_prompt(instruction: str, ctx: DomainContext, sample: State, variant: Variant,
                 n_turns: int) -> str:
    """The generation request. Only the `## Instructions` section is evolved; the rest is
    the fixed, factual description of the domain and of the output."""
    return "\n".join([
        "## Instructions", instruction.strip(), "",
        "## Task shape", f"Turns: {n_turns}", f"Variant {variant}: {_VARIANT_TEXT[variant]}", "",
        "## The system", ctx.bundle.description,
        "Tools:", *tool_lines(ctx.bundle),
        "Tables (a column `x -> t.k` holds the key k of a row of table t):",
        *table_lines(ctx), "",
        "## Sample records (real rows of the database)",
        json.dumps(sample, ensure_ascii=False, default=str), "",
        "## Output",
        "goal; turns: per turn the user's message, the calls that accomplish it and the "
        "information the reply owes; assertions: checks on the database after the last turn "
        "(kind row / absent / count, rows selected by `where`); held_back or missing_tool as "
        "the variant requires.",
    ])


# -- validation: run the plan, check every claim -------------------------------------------------
class PlanCall(BaseModel):
    call: str
    ok: bool
    value: Any = None
    error: dict[str, Any] | None = None


class TaskAttempt(BaseModel):
    """One generation: the task if it is sound, else why not (kept either way)."""

    task_id: str
    round: int = 0
    index: int = 0
    variant: Variant = "base"
    prompt_version: int = 0
    generated: GeneratedTask | None = None
    task: Task | None = None
    failures: list[Failure] = Field(default_factory=list)
    plan: list[list[PlanCall]] = Field(default_factory=list)
    raw: str | None = None
    """The last LLM text when no valid object came back."""

    @property
    def ok(self) -> bool:
        return self.task is not None and not self.failures


def _call_text(name: str, arguments: dict[str, Any]) -> str:
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})"


ENV_ERROR_KINDS = {"internal_error", "read_only_violation", "constraint_violation"}
"""Error kinds that mean the tool itself misbehaved: a domain refusal is a `ToolError`."""


def validate(gen: GeneratedTask, ctx: DomainContext, variant: Variant
             ) -> tuple[list[Failure], list[list[PlanCall]], list[dict[str, Any]]]:
    """Every problem with a generated task, the executed plan, and the plan's final diff."""
    failures: list[Failure] = []
    n = len(gen.turns)
    failures += _variant_problems(gen, variant, n)
    parsed: list[list[tuple[str, str, dict[str, Any]]]] = []
    for t, turn in enumerate(gen.turns):
        calls = []
        for text in turn.calls:
            try:
                call = parse_call(text)
            except CallParseError as e:
                failures.append(Failure(kind="invalid_task",
                                        message=f"turn {t}: call {text!r} does not parse: {e}"))
                continue
            try:
                spec = ctx.bundle.tool(call.name)
            except KeyError:
                failures.append(Failure(
                    kind="invalid_task",
                    message=f"turn {t}: there is no tool {call.name!r}; tools are "
                            f"{', '.join(s.name for s in ctx.bundle.tools)}",
                    env=EnvIssue(category="missing_tool", tool=call.name,
                                 call={"name": call.name, "arguments": dict(call.kwargs)})))
                continue
            calls.append((text, spec.name, bind(spec, call.args, call.kwargs)))
        parsed.append(calls)
    if failures:
        return failures, [], []

    plan: list[list[PlanCall]] = []
    env = EnvDb.open(ctx.bundle, ctx.scenario)
    try:
        for t, calls in enumerate(parsed):
            done = []
            for text, name, kwargs in calls:
                out = env.call(name, kwargs)
                value = to_jsonable_python(out.value, fallback=str)
                done.append(PlanCall(call=text, ok=out.ok, value=value, error=out.error))
                if not out.ok:
                    err = out.error or {}
                    issue = None
                    if err.get("kind") in ENV_ERROR_KINDS:
                        issue = EnvIssue(category="tool_bug", tool=name, error=err,
                                         call={"name": name, "arguments": kwargs})
                    failures.append(Failure(
                        kind="plan_error", env=issue,
                        message=f"turn {t}: {text} failed: {err.get('kind')}: "
                                f"{err.get('message')}"))
            plan.append(done)
        changes = [c.model_dump(mode="json") for c in env.diff().changes]
    finally:
        env.close()
    if failures:
        return failures, plan, changes

    final = state_after(ctx, changes)
    for a in gen.assertions:
        problems = assertion_problems(a, ctx)
        if problems:
            failures += [Failure(kind="invalid_assertion", message=p,
                                 env=_schema_gap(a, p, ctx)) for p in problems]
            continue
        why = assertion_failure(a, final, ctx)
        if why is not None:
            failures.append(Failure(kind="invalid_assertion",
                                    message=f"does not hold after the task's own calls: {why}"))
    for t, (turn, done) in enumerate(zip(gen.turns, plan, strict=True)):
        results = json.dumps([c.value for c in done], ensure_ascii=False, default=str)
        for f in turn.owed:
            if not fact_given(Fact(value=f.value), results):
                failures.append(Failure(
                    kind="invalid_fact",
                    message=f"turn {t}: owed value {f.value!r} ({f.label}) is not in the "
                            f"results of that turn's calls: {results[:300]}"))
            elif fact_given(Fact(value=f.value), turn.user):
                failures.append(Failure(kind="invalid_fact",
                                        message=f"turn {t}: owed value {f.value!r} is already "
                                                "in the user's own message"))
    failures += _held_back_problems(gen, parsed)
    if not failures:
        initially = assertion_failures(gen.assertions, ctx.initial, ctx)
        if not initially and not any(t.owed for t in gen.turns):
            failures.append(Failure(
                kind="trivial",
                message="a do-nothing assistant would pass: every assertion already holds in "
                        "the initial state and no turn owes the user any information "
                        f"({len(gen.assertions)} assertions; the calls change "
                        f"{len(changes)} rows)"))
    return failures, plan, changes


def _near_miss(name: str, existing: list[str]) -> bool:
    """A misspelt or renamed existing name (`return_date` for `returned_on`, `due_date` for
    `due_on`): the generator's error, not something the schema lacks."""
    stem = name.split("_")[0]
    return bool(difflib.get_close_matches(name, existing, n=1, cutoff=0.6)) or (
        len(stem) >= 3 and any(e.split("_")[0].startswith(stem) for e in existing))


def _schema_gap(a: Assertion, problem: str, ctx: DomainContext) -> EnvIssue | None:
    # A column the generator expects but the schema lacks may be a gap in the schema; the
    # pipeline reports it only when several tasks independently ask for it.
    if a.table not in ctx.meta:
        return None if _near_miss(a.table, list(ctx.meta)) else EnvIssue(
            category="schema_gap", table=a.table)
    columns = list(ctx.meta[a.table].columns)
    for c in [*a.where, *a.expect]:
        if c not in columns and repr(c) in problem and not _near_miss(c, columns):
            return EnvIssue(category="schema_gap", table=a.table, column=c)
    return None


def _variant_problems(gen: GeneratedTask, variant: Variant, n: int) -> list[Failure]:
    out = []
    if variant == "miss_param" and gen.held_back is None:
        out.append("variant miss_param needs held_back")
    if variant == "miss_func" and gen.missing_tool is None:
        out.append("variant miss_func needs missing_tool")
    if gen.held_back is not None and not 0 <= gen.held_back.turn < n:
        out.append(f"held_back.turn {gen.held_back.turn} is not a turn index (0..{n - 1})")
    if gen.missing_tool is not None and not 0 <= gen.missing_tool.turn < n:
        out.append(f"missing_tool.turn {gen.missing_tool.turn} is not a turn index")
    if gen.held_back is not None and gen.missing_tool is not None:
        out.append("use either held_back or missing_tool, not both")
    return [Failure(kind="invalid_task", message=m) for m in out]


def _held_back_problems(gen: GeneratedTask, parsed: list[list[tuple[str, str, dict[str, Any]]]]
                        ) -> list[Failure]:
    out = []
    if gen.held_back is not None:
        hb = gen.held_back
        used = [kw.get(hb.argument) for _, _, kw in parsed[hb.turn]]
        if not any(v is not None and _same(hb.value, v, False) for v in used):
            out.append(f"held_back: no call of turn {hb.turn} passes {hb.argument}={hb.value!r}")
        said = [t for t in range(hb.turn + 1)
                if fact_given(Fact(value=hb.value), gen.turns[t].user)]
        if said:
            out.append(f"held_back: the user already says {hb.value!r} in turn {said[0]}")
    if gen.missing_tool is not None:
        mt = gen.missing_tool
        if not any(name == mt.tool for _, name, _ in parsed[mt.turn]):
            out.append(f"missing_tool: turn {mt.turn} does not call {mt.tool}")
        if any(name == mt.tool for calls in parsed[:mt.turn] for _, name, _ in calls):
            out.append(f"missing_tool: {mt.tool} is already used before turn {mt.turn}")
    return [Failure(kind="invalid_task", message=m) for m in out]


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def reveal_text(hb: HeldBack) -> str:
    return f"The {hb.argument.replace('_', ' ')} is {hb.value}."


def to_task(gen: GeneratedTask, ctx: DomainContext, task_id: str, *, suite: str,
            variant: Variant, changes: list[dict[str, Any]],
            meta: dict[str, Any] | None = None) -> Task:
    """The evaluation form: BFCL-style static turns (a held-back value is given in the turn
    after the request; a missing tool is added in the turn after), the plan as reference,
    the assertions and the plan's outcome in `meta`."""
    turns: list[Turn] = []
    roles: list[str] = []
    for t, g in enumerate(gen.turns):
        owed = [Fact(value=f.value, label=f.label) for f in g.owed]
        reference = [str(parse_call(c)) for c in g.calls]
        if gen.held_back is not None and gen.held_back.turn == t:
            turns += [Turn(messages=_user(g.user), owed=[]),
                      Turn(messages=_user(reveal_text(gen.held_back)), reference=reference,
                           owed=owed)]
            roles += ["request", "reveal"]
        elif gen.missing_tool is not None and gen.missing_tool.turn == t:
            turns += [Turn(messages=_user(g.user), owed=[]),
                      Turn(messages=_user(MISSING_TOOL_PROMPT), reference=reference, owed=owed,
                           added_tools=[gen.missing_tool.tool])]
            roles += ["request", "tool_added"]
        else:
            turns.append(Turn(messages=_user(g.user), reference=reference, owed=owed))
            roles.append("request")
    return Task(
        id=task_id, suite=suite, category=variant, domains=[ctx.name],
        scenarios={ctx.name: ctx.scenario} if ctx.scenario is not None else {},
        turns=turns,
        withheld=[gen.missing_tool.tool] if gen.missing_tool is not None else [],
        meta={
            "goal": gen.goal,
            "assertions": [a.model_dump(mode="json") for a in gen.assertions],
            "expected_changes": {ctx.name: changes},
            "turn_roles": roles,
            "held_back": gen.held_back.model_dump(mode="json") if gen.held_back else None,
            **(meta or {}),
        },
    )


async def generate_task(llm: LLM, instruction: str, ctx: DomainContext, *, task_id: str,
                        variant: Variant, rng: random.Random, n_turns: int = 2,
                        suite: str | None = None, round: int = 0, index: int = 0,
                        prompt_version: int = 0) -> TaskAttempt:
    """Ask for one task under `instruction` and validate it against the database."""
    attempt = TaskAttempt(task_id=task_id, round=round, index=index, variant=variant,
                          prompt_version=prompt_version)
    prompt = build_prompt(instruction, ctx, sample_entities(ctx, rng), variant, n_turns)
    try:
        gen = await llm.structured(prompt, GeneratedTask, system=GENERATOR_SYSTEM)
    except StructuredOutputError as e:
        attempt.raw = e.attempts[-1] if e.attempts else None
        attempt.failures.append(Failure(kind="generation_failed", message=str(e)))
        return attempt
    except ModelError as e:  # e.g. a prompt over the context window: this task, not the run
        attempt.failures.append(Failure(kind="generation_failed", message=f"model error: {e}"))
        return attempt
    attempt.generated = gen
    failures, plan, changes = validate(gen, ctx, variant)
    attempt.failures, attempt.plan = failures, plan
    if not failures:
        attempt.task = to_task(gen, ctx, task_id, suite=suite or f"synth-{ctx.name}",
                               variant=variant, changes=changes,
                               meta={"round": round, "prompt_version": prompt_version})
    return attempt


def task_assertions(task: Task) -> list[Assertion]:
    return [Assertion.model_validate(a) for a in task.meta.get("assertions", [])]


def _changes(diff: Any) -> list[dict[str, Any]]:
    """A diff as JSON row changes, whether recorded as JSON or as a `StateDiff`."""
    if diff is None:
        return []
    if isinstance(diff, BaseModel):
        return list(diff.model_dump(mode="json").get("changes", []))
    return [c.model_dump(mode="json") if isinstance(c, BaseModel) else c for c in diff]


def task_assertion_failures(task: Task, final_changes: dict[str, Any]) -> list[str]:
    """For the scorer: the task's assertions checked against an episode's final diff per
    domain (as the harness records it in `TurnRecord.state`). Empty when they all hold."""
    try:
        assertions = task_assertions(task)
    except ValueError as e:  # a hand-edited suite file: say so instead of crashing the run
        return [f"the task's assertions are malformed: {e}"]
    out = []
    for domain in task.domains:
        ctx = DomainContext.load(domain, task.scenarios.get(domain))
        state = state_after(ctx, _changes(final_changes.get(domain)))
        mine = [a for a in assertions if a.table in ctx.meta]
        out += assertion_failures(mine, state, ctx)
        assertions = [a for a in assertions if a not in mine]
    out += [f"no domain of the task has a table {a.table!r} ({a.describe()})"
            for a in assertions]
    return out
