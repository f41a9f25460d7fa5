"""Reference-trajectory checks: is each BFCL ground-truth trajectory executable, grounded in
what the agent can know, aligned with the user's requests and with its base entry?

Every entry's ground truth is executed call by call on the release's own classes
(`eigencore.bfcl.reference.ReferenceEpisode`), recording each result and the public state
before and after it (`trace`). The checks read that trace; none needs an LLM:

Checks (severity in brackets):

1. `call_error` [error]: a call raises or returns an `{"error": ...}` dict; `call_failed`
   [error, warning for status texts]: its result reports failure (`*_status: false`, a
   `*failure` key, a status such as "Already retweeted").
2. `ungrounded_value` [error if the call changes state, else warning]: an argument value found
   in no source; `derived_value` [warning]: a number one arithmetic step from available
   numbers; `composed_value` [warning]: text not said verbatim (an exact wording the agent must
   guess); `skipped_lookup` [info]: reachable only by a read the reference does not make.
3. `unaddressed_turn` [error]: user text whose ground truth is empty outside the conventions
   below; `unrequested_call` [warning]: a state-changing call sharing no word with its turn's
   request (lexical; a judge may refine).
4. `variant_divergence` [warning; info when only the question differs or the long-context
   state explains it]: a variant's config, question or ground truth differs from its base
   beyond its convention; `clarification_mismatch` [warning]: miss_param's clarification does
   not supply what the question lost.
5. `withheld_function_used` [error]: a call to a function whose doc is not shown yet;
   `reveal_unused` [warning; info when another revealed function is used]: the reveal turn
   does not call a revealed function.
6. `order_independent` [info]: swapping two calls of a turn gives the same results and state
   (BFCL accepts both orders); `unused_read` [info]: a read no later call uses and the request
   does not name (BFCL still requires its result).
7. `information_turn` [info]: a turn that changes no state, with the facts its reads surfaced
   and whether the request asks for them; `no_obligation` [warning]: such a turn whose request
   asks for nothing; `owed_unrecognised` [warning]: such a turn asks to see a result in words
   `eigencore.evaluation.outcome.asks_for_information` misses, so today's outcome reference
   owes nothing there; `no_net_change` [warning]: the whole reference ends in the initial state.
8. `judge_unsupported` [warning]: an optional judge (`eigencore.audit.judge.LLMJudge`) says a
   turn's calls do not do what the user asked. It runs after the deterministic checks, on
   the most doubtful turns first (`JUDGE_TIERS`); an `unsure` verdict is no finding.
9. `replay_failed` [error]: the entry's scenario or ground truth cannot be executed at all.

All check ids carry the `trajectory.` prefix.

BFCL-V3 conventions, worked out from the release's data (and checked by
`trajectory.variant_divergence` on every variant):

* ids: the variants of `multi_turn_base_<n>` are `multi_turn_<category>_<n>`, same n.
* base: one user message per turn; every turn has calls (the three empty turns, base_167 t4
  and base_180 t3/t4, are reported as `unaddressed_turn`).
* miss_func: exactly one held-out reveal turn `t` = the only key of `missed_function`. The
  question gets an empty turn inserted at `t` (BFCL sends `HOLDOUT_PROMPT` and adds the docs
  there); the ground truth of turn `t-1` (the request that needs the held-out function) is
  empty and its calls move to turn `t`. Everything else equals the base.
* miss_param: BFCL marks the turn only by its empty ground truth (`missed_function` is `{}`):
  at turn `k` (the first turn with empty ground truth) the user's request loses a parameter and
  the reference makes no call (the agent should ask); turn `k+1` is inserted: the user's
  clarification, whose ground truth is the base's turn `k`. Everything else equals the base.
* long_context: same config, questions and ground truth as the base; BFCL loads the scenario
  with `long_context=True`, which extends the state at load time. Where that changes earlier
  results, ground-truth values that differ from the base and come from the longer state are
  `info` divergences, other differences `warning`.
* Empty-ground-truth turns that follow these conventions are not flagged (BFCL's checker skips
  empty turns). Question differences that vanish when only letters and digits are compared are
  not divergences.

Each check is a function `check_*(entry, analysis, ctx) -> list[Finding]` over an `Analysis`
(the trace plus value grounding); tests run them on synthetic entries. A semantic `Judge` may
be plugged in (`audit_trajectories(..., judge=..., judge_limit=N)`); the default `NoJudge` adds
nothing and costs nothing.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal, Protocol, runtime_checkable

from eigencore.audit.findings import Evidence, Finding, Severity
from eigencore.audit.grounding import (
    Grounding,
    Pool,
    currency_codes,
    iso_date,
    leaves,
    norm_text,
    words,
)
from eigencore.bfcl.calls import Call, CallParseError, format_call, parse_call
from eigencore.bfcl.reference import ERROR_PREFIX, ExecResult, ReferenceEpisode
from eigencore.bfcl.release import CATEGORIES, CLASS_DOC_FILES, Entry, Release, load_release

__all__ = [
    "Analysis",
    "AuditContext",
    "CallStep",
    "ItemJudge",
    "Judge",
    "JudgeItem",
    "NoJudge",
    "Trace",
    "TurnStep",
    "analyse",
    "audit_entries",
    "audit_entry",
    "audit_trajectories",
    "base_number",
    "judge_items",
    "request_text",
    "select_judge_items",
    "trace",
    "turn_roles",
]

State = dict[str, dict[str, Any]]
Verdict = Literal["supported", "unsupported", "unsure"]

_TEXT_LIMIT = 600
_MAX_FACTS = 12
_MAX_DIFF_LINES = 8


# --------------------------------------------------------------------------- judge seam


@runtime_checkable
class Judge(Protocol):
    """A semantic judge (e.g. an LLM behind a pluggable backend) of one reference turn."""

    def judge(
        self, question: str, calls: Sequence[str], results: Sequence[str]
    ) -> tuple[Verdict, str]:
        """Whether the calls (with their results) serve the question, and the reasoning."""
        ...


class NoJudge:
    """The default: no semantic judgement, so the deterministic checks stand alone."""

    def judge(
        self, question: str, calls: Sequence[str], results: Sequence[str]
    ) -> tuple[Verdict, str]:
        return "unsure", "no judge configured"


JUDGE_TIERS = ("unrequested_call", "precondition", "state_change", "read_only")
"""Why a turn is put to the judge, most doubtful first (the order a `judge_limit` keeps):
the lexical check flags a state-changing call; a state-changing call shares no word with the
request and passes only as a precondition of a later call; state-changing calls share words
with the request, which does not show they do what was asked; read-only calls."""


@dataclass(frozen=True)
class JudgeItem:
    """One semantic question: do a turn's reference calls do what the user asked?"""

    entry_id: str
    category: str
    turn: int
    request: str
    calls: tuple[str, ...]
    results: tuple[str, ...]
    earlier: tuple[str, ...] = ()
    """The user's earlier requests in the conversation (a request may refer back to them)."""
    tier: int = len(JUDGE_TIERS) - 1
    reason: str = ""

    @property
    def question_key(self) -> tuple[Any, ...]:
        """What the judge is shown: items with equal keys (a variant's turn that equals its
        base's) are one question, judged once."""
        return (self.request, self.calls, self.results, self.earlier)


@runtime_checkable
class ItemJudge(Protocol):
    """A judge that wants the whole item (entry, turn, context), e.g. to record its verdicts."""

    def judge_item(self, item: JudgeItem) -> tuple[Verdict, str]: ...


# --------------------------------------------------------------------------- trace


@dataclass(frozen=True)
class CallStep:
    turn: int
    index: int
    text: str
    call: Call | None
    result: ExecResult
    changed: bool
    """The public state differs after the call (what BFCL's state check sees)."""
    diff: tuple[str, ...] = ()


@dataclass(frozen=True)
class TurnStep:
    index: int
    calls: list[CallStep]
    before: State
    after: State

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class Trace:
    entry: Entry
    initial: State
    turns: list[TurnStep]

    def steps(self) -> Iterator[CallStep]:
        for turn in self.turns:
            yield from turn.calls


def trace(entry: Entry, release: Release | None = None) -> Trace:
    """Execute the ground truth call by call, keeping results and state before/after each."""
    episode = ReferenceEpisode(entry, release)
    initial = episode.state()
    state = initial
    turns: list[TurnStep] = []
    for t, texts in enumerate(entry.ground_truth):
        before = state
        steps: list[CallStep] = []
        for i, text in enumerate(texts):
            try:
                call: Call | None = parse_call(text)
            except CallParseError as exc:
                call = None
                text_out = f"{ERROR_PREFIX}unparseable: {exc}"
                result = ExecResult(value=None, text=text_out, error=True)
            else:
                result = episode.execute(call)
            after = episode.state()
            changed = after != state
            diff = tuple(_diff_lines(state, after)) if changed else ()
            steps.append(CallStep(t, i, text, call, result, changed, diff))
            state = after
        turns.append(TurnStep(t, steps, before, state))
    return Trace(entry, initial, turns)


def _diff_lines(before: Any, after: Any, path: str = "", limit: int = _MAX_DIFF_LINES) -> list[str]:
    """Compact `path: before -> after` lines of a state change."""
    out: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if len(out) >= limit or a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in list(a) + [k for k in b if k not in a]:
                sub = f"{where}.{key}" if where else str(key)
                if key not in a:
                    out.append(f"{sub}: (absent) -> {_short(b[key])}")
                elif key not in b:
                    out.append(f"{sub}: {_short(a[key])} -> (absent)")
                else:
                    walk(a[key], b[key], sub)
                if len(out) >= limit:
                    return
        else:
            out.append(f"{where}: {_short(a)} -> {_short(b)}")

    walk(before, after, path)
    return out


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _clip(text: str, limit: int = _TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- conventions


def base_number(entry: Entry) -> str:
    """The shared n of `multi_turn_<category>_<n>`."""
    return entry.id.rsplit("_", 1)[-1]


def turn_roles(entry: Entry) -> dict[int, str]:
    """Turns with a convention role: `await_function`/`reveal` (miss_func),
    `ask_missing`/`clarification` (miss_param); other turns are plain requests."""
    roles: dict[int, str] = {}
    for key in entry.missed_function:
        t = int(key)
        roles[t] = "reveal"
        if t > 0:
            roles.setdefault(t - 1, "await_function")
    if entry.category == "miss_param":
        empty = [t for t, calls in enumerate(entry.ground_truth) if not calls]
        if empty:
            roles[empty[0]] = "ask_missing"
            if empty[0] + 1 < len(entry.ground_truth):
                roles[empty[0] + 1] = "clarification"
    return roles


def _question(entry: Entry, turn: int) -> str:
    if not 0 <= turn < len(entry.question):
        return ""
    messages = entry.question[turn]
    return " ".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")


def request_text(entry: Entry, turn: int) -> str:
    """The user text a turn's calls answer: a reveal turn answers the held request before it,
    a clarification completes the request it follows."""
    role = turn_roles(entry).get(turn)
    if role in ("reveal", "clarification"):
        return f"{_question(entry, turn - 1)} {_question(entry, turn)}".strip()
    return _question(entry, turn)


# --------------------------------------------------------------------------- context


@dataclass
class AuditContext:
    """Release-wide lookups shared by all entries (function docs, tool flags, bases, judge)."""

    release: Release
    judge: Judge = field(default_factory=NoJudge)
    bases: dict[str, Entry] = field(default_factory=dict)
    swap_check: bool = True
    _analyses: dict[str, Analysis] = field(default_factory=dict, repr=False)
    # Pools depend only on the scenario (base, miss_func and miss_param share theirs), so they
    # are built once per scenario and lookup call.
    _pools: dict[tuple[str, ...], Pool | None] = field(default_factory=dict, repr=False)

    def pool(self, key: tuple[str, ...], build: Callable[[], Pool | None]) -> Pool | None:
        if key not in self._pools:
            self._pools[key] = build()
        return self._pools[key]

    @cached_property
    def docs(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Function name -> (class, BFCL function doc)."""
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for class_name in CLASS_DOC_FILES:
            for doc in self.release.func_docs(class_name):
                out.setdefault(doc["name"], (class_name, doc))
        return out

    @cached_property
    def read_only(self) -> dict[str, bool]:
        """Function name -> the port's `read_only` flag (absent when no port declares it)."""
        from environments.bfcl import by_class

        return {spec.name: spec.read_only for b in by_class().values() for spec in b.tools}

    def analysis(self, entry: Entry) -> Analysis:
        cached = self._analyses.get(entry.id)
        if cached is None or not (cached.entry is entry or cached.entry == entry):
            cached = analyse(entry, self)
            if entry.category == "base":
                self._analyses[entry.id] = cached
        return cached

    def class_of(self, function: str | None) -> str | None:
        return self.docs[function][0] if function in self.docs else None

    def param_names(self, function: str) -> list[str]:
        doc = self.docs.get(function, (None, {}))[1]
        return list(doc.get("parameters", {}).get("properties", {}))


def bind(call: Call, ctx: AuditContext) -> dict[str, Any]:
    """Keyword view of a call: positional arguments named by the doc's parameter order."""
    names = ctx.param_names(call.name)
    bound = {
        (names[i] if i < len(names) else f"arg{i}"): value for i, value in enumerate(call.args)
    }
    bound.update(call.kwargs)
    return bound


_QUOTED = re.compile(r"'([^']{1,80})'|\"([^\"]{1,80})\"")


def doc_pool(function: str, ctx: AuditContext) -> Pool:
    """Constants a function's doc offers: enum members, defaults, quoted examples, names."""
    doc = ctx.docs.get(function, (None, {}))[1]
    values: list[Any] = []
    texts: list[str] = []

    def walk(schema: dict[str, Any]) -> None:
        for name, prop in schema.get("properties", {}).items():
            values.append(name)
            if "default" in prop:
                values.append(prop["default"])
            if "enum" in prop:
                values.extend(prop["enum"])
            description = str(prop.get("description", ""))
            for match in _QUOTED.finditer(description):
                values.append(match[1] or match[2])
            enum = re.search(r"\[Enum\]:\s*(\[.*?\])", description)
            if enum:
                try:
                    values.extend(json.loads(enum[1]))
                except json.JSONDecodeError:
                    texts.append(enum[1])
            default = re.search(r"[Dd]efault(?:s)?(?: is| to be| to|:)?\s+([^\s,.;]+)", description)
            if default:
                texts.append(default[1])
            if isinstance(prop.get("items"), dict):
                walk({"properties": {"item": prop["items"]}})
            walk(prop)

    walk(doc.get("parameters", {}))
    return Pool.of(f"doc of {function}", "doc", texts=texts, values=values)


def scenario_key(entry: Entry) -> str:
    """What the initial state depends on: classes, config and the long-context flag."""
    config = json.dumps(entry.initial_config, sort_keys=True, default=str)
    return f"{sorted(entry.involved_classes)}|{entry.long_context}|{config}"


def class_docs_pool(entry: Entry, ctx: AuditContext) -> Pool:
    """Everything the docs of the involved classes say (e.g. that budgets are in USD)."""

    def build() -> Pool:
        texts = [
            json.dumps(doc, ensure_ascii=False)
            for class_name in entry.involved_classes
            if class_name in CLASS_DOC_FILES
            for doc in ctx.release.func_docs(class_name)
        ]
        return Pool.of(f"docs of {', '.join(entry.involved_classes)}", "doc", texts=texts)

    pool = ctx.pool(("docs", *entry.involved_classes), build)
    assert pool is not None
    return pool


_PHRASE = re.compile(r"\b[A-Z][\w'&.-]*(?:\s+[A-Z][\w'&.-]*){0,2}")
_MAX_PHRASES = 40


def _phrases(text: str) -> list[str]:
    """Candidate names in user text: capitalised runs (and their sub-runs), quoted strings."""
    out: dict[str, None] = {}
    for match in _PHRASE.finditer(text):
        parts = match[0].rstrip(".'").split()
        for i in range(len(parts)):
            for j in range(i + 1, len(parts) + 1):
                out[" ".join(parts[i:j])] = None
    for match in _QUOTED.finditer(text):
        out[(match[1] or match[2]).strip()] = None
    return list(out)


def lookup_functions(entry: Entry, ctx: AuditContext) -> tuple[list[str], list[str]]:
    """(no-argument reads, one-string-argument reads) of the involved classes."""
    none: list[str] = []
    one: list[str] = []
    for name, (class_name, doc) in ctx.docs.items():
        if class_name not in entry.involved_classes or not ctx.read_only.get(name, False):
            continue
        params = doc.get("parameters", {})
        props, required = params.get("properties", {}), params.get("required", [])
        if not required:
            none.append(name)
        elif len(props) == 1 and len(required) == 1 and next(iter(props.values())).get(
            "type") == "string":  # fmt: skip
            one.append(name)
    return none, one


def lookup_pools(entry: Entry, ctx: AuditContext) -> list[Pool]:
    """Results of reads the agent could make on the initial state: every no-argument read,
    and every one-string-argument read applied to each name the user has said so far. A value
    found only here is reachable, though the reference skips the lookup."""
    none, one = lookup_functions(entry, ctx)
    if not (none or one):
        return []
    scenario = scenario_key(entry)
    episode: ReferenceEpisode | None = None
    pools: list[Pool] = []
    seen: set[str] = set()

    def build(call: Call) -> Pool | None:
        nonlocal episode
        if episode is None:
            episode = ReferenceEpisode(entry, ctx.release)  # reads only: one episode serves all
        result = episode.execute(call)
        if result.error or result.reported_error or result.value in (None, "", [], {}):
            return None
        label = f"lookup {format_call(call)} -> {_clip(result.text, 120)}"
        return Pool.of(label, "lookup", values=[result.value])

    def run(call: Call, turn: int) -> None:
        pool = ctx.pool(("lookup", scenario, format_call(call)), lambda: build(call))
        if pool is not None:
            pools.append(replace(pool, position=(turn, -1)))

    for t in range(len(entry.question)):
        phrases = [p for p in _phrases(_question(entry, t)) if p not in seen][:_MAX_PHRASES]
        seen.update(phrases)
        for name in one:
            param = ctx.param_names(name)[0]
            for phrase in phrases:
                run(Call(name, kwargs={param: phrase}), t)
    # After the name lookups, so that evidence cites `get_nearest_airport_by_city('Chicago')`
    # before the bare `list_all_airports()`.
    for name in none:
        run(Call(name), 0)
    return pools


# --------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class ArgCheck:
    """One scalar of one argument of one reference call, and where it was found."""

    step: CallStep
    argument: str
    value: Any
    sources: tuple[Pool, ...]
    derivation: str | None = None
    """How a value found nowhere can be computed (one arithmetic step, calendar reasoning)."""
    composed: tuple[Pool, ...] = ()
    missing_words: tuple[str, ...] = ()

    @property
    def grounded(self) -> bool:
        return bool(self.sources)

    @property
    def only_by_lookup(self) -> bool:
        """Found only by a lookup the reference does not make."""
        return bool(self.sources) and all(p.kind == "lookup" for p in self.sources)


@dataclass
class Analysis:
    entry: Entry
    trace: Trace
    grounding: Grounding
    args: list[ArgCheck]
    output_pools: dict[tuple[int, int], Pool]

    def searched(self, step: CallStep) -> str:
        """Where a value of this call was looked for (for the evidence)."""
        turns = f"user turns 0-{step.turn}"
        outputs = sum(1 for pos in self.output_pools if pos < (step.turn, step.index))
        classes = ", ".join(sorted(self.trace.initial))
        return (
            f"searched: {turns}; initial state of {classes}; {outputs} earlier tool outputs; "
            f"docs of the involved classes; lookups by no-argument reads and by names said so far"
        )


def _skip_value(value: Any, default: Any) -> bool:
    if value is None or isinstance(value, bool):
        return True  # flags are choices, not facts to ground
    if isinstance(value, str) and not value.strip(" '\".,/"):
        return True
    return default is not _NO_DEFAULT and value == default


_NO_DEFAULT = object()


def _defaults(function: str, ctx: AuditContext) -> dict[str, Any]:
    doc = ctx.docs.get(function, (None, {}))[1]
    props = doc.get("parameters", {}).get("properties", {})
    return {name: prop["default"] for name, prop in props.items() if "default" in prop}


def analyse(entry: Entry, ctx: AuditContext) -> Analysis:
    """Trace the entry and locate every literal argument value of its reference calls."""
    tr = trace(entry, ctx.release)
    grounding = Grounding()
    for t in range(len(entry.question)):
        text = _question(entry, t)
        grounding.add(
            Pool.of(f"user turn {t}", "conversation", texts=[text],
                    values=sorted(currency_codes(text)), position=(t, -1))
        )  # fmt: skip
    state = ctx.pool(("state", scenario_key(entry)),
                     lambda: Pool.of("initial state", "state", values=[tr.initial]))  # fmt: skip
    assert state is not None
    grounding.add(state)
    grounding.add(class_docs_pool(entry, ctx))
    for pool in lookup_pools(entry, ctx):
        grounding.add(pool)
    outputs: dict[tuple[int, int], Pool] = {}
    docs: dict[str, Pool] = {}
    args: list[ArgCheck] = []
    for step in tr.steps():
        if step.call is not None:
            name = step.call.name
            if name not in docs:
                docs[name] = doc_pool(name, ctx)
            defaults = _defaults(name, ctx)
            for argument, value in bind(step.call, ctx).items():
                default = defaults.get(argument, _NO_DEFAULT)
                for path, leaf in leaves(value, (argument,)):
                    if _skip_value(leaf, default):
                        continue
                    args.append(_check_value(step, ".".join(path), leaf, grounding, docs[name]))
        pool = _output_pool(step)
        outputs[(step.turn, step.index)] = pool
        grounding.add(pool)
    return Analysis(entry, tr, grounding, args, outputs)


def _output_pool(step: CallStep) -> Pool:
    label = f"output of {_clip(step.text, 80)} (turn {step.turn})"
    result = step.result
    if result.value is not None and not isinstance(result.value, str):
        return Pool.of(label, "output", values=[result.value], position=(step.turn, step.index))
    return Pool.of(label, "output", texts=[result.text], position=(step.turn, step.index))


def _check_value(
    step: CallStep, argument: str, value: Any, grounding: Grounding, doc: Pool
) -> ArgCheck:
    sources = grounding.locate(value, step.turn, step.index, extra=[doc])
    if sources:
        return ArgCheck(step, argument, value, tuple(sources))
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.replace(",", ""))
        except ValueError:
            number = None
    date = iso_date(value)
    if date is not None:
        pool = grounding.date_reasoning(date[0], date[1], step.turn, step.index)
        reasoning = f"calendar reasoning: {pool.label} names {date[0]}-{date[1]:02d}, not the day"
        return ArgCheck(step, argument, value, (), derivation=reasoning if pool else None)
    if number is not None:
        derivation = grounding.derive(number, step.turn, step.index)
        return ArgCheck(step, argument, value, (),
                        derivation=str(derivation) if derivation else None)  # fmt: skip
    pools, missing = grounding.composed_from(str(value), step.turn, step.index, extra=[doc])
    found = len(words(str(value))) - len(missing)
    # Every word found (a reformatting such as `1.txt`), or a sentence most of whose words
    # are found (a paraphrase): composed. Otherwise the value is new information.
    if pools and (not missing or (found >= 3 and found >= len(missing))):
        return ArgCheck(step, argument, value, (), composed=tuple(pools),
                        missing_words=tuple(missing))  # fmt: skip
    return ArgCheck(step, argument, value, (), missing_words=tuple(missing))


# --------------------------------------------------------------------------- helpers


def _finding(
    check: str,
    entry: Entry,
    summary: str,
    *,
    severity: Severity = "error",
    turn: int | None = None,
    function: str | None = None,
    ctx: AuditContext | None = None,
    evidence: Evidence | None = None,
    suffix: str = "",
) -> Finding:
    where = entry.id + (f":t{turn}" if turn is not None else "") + (f":{suffix}" if suffix else "")
    return Finding(
        id=f"{check}:{where}",
        check=check,
        kind="trajectory",
        severity=severity,
        summary=summary,
        class_name=ctx.class_of(function) if ctx and function else None,
        function=function,
        entry_id=entry.id,
        category=entry.category,
        turn=turn,
        evidence=evidence or Evidence(),
    )


def _quote(text: str) -> str:
    return json.dumps(_clip(text), ensure_ascii=False)


_STOP = frozenset(
    "the and for with that this you your my me please could would can will have has from into "
    "to of a an in on at by be is are it its as all any some also then than there their them "
    "what which when where who how our out up so do does did not no yes if or but just now "
    "make sure need want like let i we us get set new one".split()
)


# Words users say for the functions' actions, mapped to one key so that "remove" meets `rm`
# and "purchase" meets `place_order(order_type='Buy')`. Only the lexical checks use it.
_SYNONYM_GROUPS = {
    "delete": "delete remove rm rmdir erase discard clear unfollow",
    "create": "create make new touch mkdir draft generate add open",
    "move": "move mv relocate transfer rename",
    "copy": "copy cp duplicate backup",
    "buy": "buy purchase procure acquire order",
    "cancel": "cancel reverse undo revoke withdraw",
    "start": "start ignite ignition engine",
    "navigate": "navigation navigate gps direct direction route course guide destination detour",
    "send": "send message notify inform buzz dispatch",
    "post": "post tweet share",
    "book": "book reserve reservation schedule arrange flight",
    "write": "write echo append jot log record",
    "lock": "lock secure",
    "brake": "brake handbrake parking",
    "compare": "compare comparison juxtapose diff difference disparity distinction deviation",
    "count": "count wc many number tally",
    "show": "show display reveal output print view peek cat",
    "search": "search grep find locate look identify",
}


def _strip_suffix(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "e"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


_SYNONYMS: dict[str, str] = {
    _strip_suffix(word): key for key, group in _SYNONYM_GROUPS.items() for word in group.split()
}


def _stem(word: str) -> str:
    stem = _strip_suffix(word)
    return _SYNONYMS.get(stem, stem)


def _content_words(text: str) -> set[str]:
    # Numbers count whatever their length ("50 shares" meets amount=50).
    return {_stem(w) for w in words(text) if (len(w) > 2 or w.isdigit()) and w not in _STOP}


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _name_words(name: str) -> set[str]:
    """Words of an identifier: `currentACTemperature` -> current, ac, temperature."""
    return _content_words(_CAMEL.sub(" ", name).replace("_", " "))


def _call_words(call: Call) -> set[str]:
    out = _name_words(call.name)
    for value in [*call.args, *call.kwargs.values()]:
        for _, leaf in leaves(value):
            if isinstance(leaf, str):
                out |= _content_words(leaf)
            elif isinstance(leaf, int | float) and not isinstance(leaf, bool):
                out.add(f"{leaf:g}")
    return out


# --------------------------------------------------------------------------- 1. failures

_FALSE_MEANS_FAILED = re.compile(r"(^|_)(status|success|successful|succeeded|ok|valid|verified)$")
_FAILURE_KEY = re.compile(r"fail")
_FAILURE_TEXT = re.compile(
    r"\b(fail\w*|already|denied|invalid|insufficient|unable|not allowed|cannot|rejected|error)\b",
    re.IGNORECASE,
)


def _snake(key: str) -> str:
    return _CAMEL.sub("_", key).lower()


def failure_reason(result: ExecResult) -> tuple[str, Severity, str] | None:
    """(check, severity, reason) when a result shows the call failed."""
    if result.error:
        return "trajectory.call_error", "error", "the call raised"
    if result.reported_error:
        return "trajectory.call_error", "error", "the call returned an error"
    if not isinstance(result.value, dict):
        return None
    for path, leaf in leaves(result.value):
        key = _snake(path[-1]) if path and path[-1] != "@key" else ""
        if not key:
            continue
        if leaf is False and _FALSE_MEANS_FAILED.search(key):
            return "trajectory.call_failed", "error", f"the result reports {path[-1]}: false"
        if _FAILURE_KEY.search(key) and leaf not in (None, "", False, 0):
            return "trajectory.call_failed", "error", f"the result reports {path[-1]}: {leaf!r}"
        if key.endswith("status") and isinstance(leaf, str) and _FAILURE_TEXT.search(leaf):
            return "trajectory.call_failed", "warning", f"the result's {path[-1]} is {leaf!r}"
    return None


def check_call_failures(entry: Entry, analysis: Analysis, ctx: AuditContext) -> list[Finding]:
    out = []
    for step in analysis.trace.steps():
        reason = failure_reason(step.result)
        if reason is None:
            continue
        check, severity, why = reason
        fn = step.call.name if step.call else None
        out.append(
            _finding(
                check, entry, f"reference call {fn or step.text!r} fails: {why}",
                severity=severity, turn=step.turn, function=fn, ctx=ctx, suffix=str(step.index),
                evidence=Evidence(
                    call=step.text, result=_clip(step.result.text),
                    notes=f"call {step.index + 1} of turn {step.turn}; request: "
                    f"{_quote(request_text(entry, step.turn))}",
                ),
            )
        )  # fmt: skip
    return out


# --------------------------------------------------------------------------- 2. grounding


def check_grounding(entry: Entry, analysis: Analysis, ctx: AuditContext) -> list[Finding]:
    out: list[Finding] = []
    lookups: dict[tuple[int, int], list[ArgCheck]] = {}
    seen: Counter[tuple[int, int, str]] = Counter()
    # A value found nowhere is reported once, where it first appears; its reuses are listed.
    first: dict[str, Finding] = {}
    for arg in analysis.args:
        if arg.grounded and not arg.only_by_lookup:
            continue
        step = arg.step
        if arg.only_by_lookup:
            lookups.setdefault((step.turn, step.index), []).append(arg)
            continue
        value_key = norm_text(repr(arg.value))
        if value_key in first:
            earlier = first[value_key].evidence
            earlier.notes = f"{earlier.notes}; reused by {step.text} (turn {step.turn})"
            continue
        fn = step.call.name if step.call else None
        searched = analysis.searched(step)
        if arg.derivation is not None:
            check, severity = "trajectory.derived_value", "warning"
            summary = f"{arg.argument}={arg.value!r} is stated nowhere; it must be computed"
            notes = f"{arg.derivation}; {searched}"
        elif arg.composed:
            check, severity = "trajectory.composed_value", "warning"
            summary = (
                f"{arg.argument}={_clip(repr(arg.value), 80)} is not stated verbatim anywhere; "
                "the exact wording must be guessed"
            )
            notes = f"words occur in: {', '.join(p.label for p in arg.composed)}"
            if arg.missing_words:
                notes += f"; words found nowhere: {', '.join(arg.missing_words)}"
                summary = summary.replace("verbatim", "even in words")
            notes += f"; {searched}"
        else:
            check = "trajectory.ungrounded_value"
            severity = "error" if step.changed else "warning"
            summary = f"{arg.argument}={_clip(repr(arg.value), 80)} comes from nowhere"
            if arg.missing_words:
                searched = f"words found nowhere: {', '.join(arg.missing_words)}; {searched}"
            notes = searched + (
                "" if step.changed else "; the call changes no state (BFCL compares its result)"
            )
        key = (step.turn, step.index, arg.argument)
        seen[key] += 1
        out.append(
            _finding(
                check, entry, f"{fn}: {summary}", severity=severity, turn=step.turn, function=fn,
                ctx=ctx, suffix=f"{step.index}:{arg.argument}:{seen[key]}",
                evidence=Evidence(
                    call=step.text, result=_clip(step.result.text, 300),
                    expected=f"{arg.argument} = {_clip(repr(arg.value), 300)}", notes=notes,
                ),
            )
        )  # fmt: skip
        first[value_key] = out[-1]
    for (turn, index), args in lookups.items():
        step = args[0].step
        fn = step.call.name if step.call else None
        values = ", ".join(f"{a.argument}={_clip(repr(a.value), 60)}" for a in args)
        sources = list(dict.fromkeys(p.label for a in args for p in a.sources))
        out.append(
            _finding(
                "trajectory.skipped_lookup", entry,
                f"{fn}: {values} only reachable by a lookup the reference does not make",
                severity="info", turn=turn, function=fn, ctx=ctx, suffix=str(index),
                evidence=Evidence(
                    call=step.text, expected=values,
                    notes="; ".join(sources[:4]) + f"; {analysis.searched(step)}",
                ),
            )
        )  # fmt: skip
    return out


# --------------------------------------------------------------------------- 3. requests


def check_requests(entry: Entry, analysis: Analysis, ctx: AuditContext) -> list[Finding]:
    out: list[Finding] = []
    roles = turn_roles(entry)
    for turn in analysis.trace.turns:
        t = turn.index
        text = _question(entry, t).strip()
        role = roles.get(t)
        if not turn.calls and text and role not in ("await_function", "ask_missing"):
            out.append(
                _finding(
                    "trajectory.unaddressed_turn", entry,
                    f"turn {t} has a user request but no reference call", turn=t,
                    evidence=Evidence(expected="[]", notes=f"question: {_quote(text)}"),
                )
            )  # fmt: skip
        if not text and role != "reveal":
            out.append(
                _finding(
                    "trajectory.unaddressed_turn", entry, f"turn {t} has no user text",
                    turn=t, severity="error" if turn.calls else "warning",
                    evidence=Evidence(call="; ".join(s.text for s in turn.calls) or None),
                )
            )  # fmt: skip
        request = request_text(entry, t)
        asked = _content_words(request)
        for step in turn.calls:
            if not step.changed or step.call is None:
                continue
            if _call_words(step.call) & asked:
                continue
            enables = _enables(entry, analysis, ctx, step)
            if enables:
                continue  # a precondition of a later call (doors locked before startEngine)
            out.append(
                _finding(
                    "trajectory.unrequested_call", entry,
                    f"{step.call.name} changes state but shares no word with the request",
                    severity="warning", turn=t, function=step.call.name, ctx=ctx,
                    suffix=str(step.index),
                    evidence=Evidence(
                        call=step.text, result=_clip(step.result.text, 300),
                        state_diff="\n".join(step.diff),
                        notes=f"request: {_quote(request)}; without this call every later call "
                        "of the turn returns the same result",
                    ),
                )
            )  # fmt: skip
    return out


def _enables(entry: Entry, analysis: Analysis, ctx: AuditContext, step: CallStep) -> list[str]:
    """Later calls of the step's turn whose result changes when the step is left out."""
    turn = analysis.trace.turns[step.turn]
    order = [i for i in range(len(turn.calls)) if i != step.index]
    results, _ = _turn_with_order(entry, ctx, step.turn, order)
    return [
        turn.calls[i].text
        for i, result in zip(order, results, strict=True)
        if i > step.index and result.text != turn.calls[i].result.text
    ]


# --------------------------------------------------------------------------- 4. alignment


@dataclass(frozen=True)
class _Expect:
    question: list[dict[str, Any]] | None
    """What the variant's question should be; None: changed by the convention."""
    ground_truth: list[str]
    base_turn: int | None


def expected_turns(entry: Entry, base: Entry) -> list[_Expect] | None:
    """Per variant turn, the base's question and ground truth the convention implies."""
    bq, bg = base.question, base.ground_truth
    if entry.category == "long_context":
        return [_Expect(bq[t], bg[t], t) for t in range(len(bq))]
    if entry.category == "miss_func" and len(entry.missed_function) == 1:
        (key,) = entry.missed_function
        r = int(key)
        if not 1 <= r <= len(bq):
            return None
        out = [_Expect(bq[t], bg[t], t) for t in range(r - 1)]
        out += [_Expect(bq[r - 1], [], r - 1), _Expect([], bg[r - 1], r - 1)]
        out += [_Expect(bq[t], bg[t], t) for t in range(r, len(bq))]
        return out
    if entry.category == "miss_param":
        empty = [t for t, calls in enumerate(entry.ground_truth) if not calls]
        if not empty or empty[0] >= len(bq):
            return None
        k = empty[0]
        out = [_Expect(bq[t], bg[t], t) for t in range(k)]
        out += [_Expect(None, [], k), _Expect(None, bg[k], k)]
        out += [_Expect(bq[t], bg[t], t) for t in range(k + 1, len(bq))]
        return out
    return None


def _alnum(messages: list[dict[str, Any]]) -> str:
    return "".join(words(" ".join(str(m.get("content", "")) for m in messages)))


def _canonical(calls: list[str], ctx: AuditContext) -> list[Any]:
    out: list[Any] = []
    for text in calls:
        try:
            call = parse_call(text)
        except CallParseError:
            out.append(text)
            continue
        out.append((call.name, json.dumps(bind(call, ctx), sort_keys=True, default=str)))
    return out


def check_alignment(entry: Entry, analysis: Analysis, ctx: AuditContext) -> list[Finding]:
    if entry.category == "base":
        return []
    base = ctx.bases.get(base_number(entry))
    if base is None:
        return []
    out: list[Finding] = []
    if entry.initial_config != base.initial_config:
        lines = _diff_lines(base.initial_config, entry.initial_config)
        out.append(
            _finding(
                "trajectory.variant_divergence", entry,
                f"initial_config differs from {base.id} ({entry.category} keeps it)",
                severity="warning", turn=0, suffix="config",
                evidence=Evidence(state_diff="\n".join(lines), notes=f"base {base.id} -> variant"),
            )
        )  # fmt: skip
    expect = expected_turns(entry, base)
    if expect is None or len(expect) != len(entry.question):
        out.append(
            _finding(
                "trajectory.variant_divergence", entry,
                f"turn structure does not follow the {entry.category} convention "
                f"({len(entry.question)} turns vs {len(base.question)} in {base.id})",
                severity="warning",
                evidence=Evidence(notes=f"missed_function={entry.missed_function}"),
            )
        )  # fmt: skip
        return out
    base_analysis = ctx.analysis(base) if entry.category == "long_context" else None
    for t, exp in enumerate(expect):
        q_diff = exp.question is not None and _alnum(entry.question[t]) != _alnum(exp.question)
        gt_diff = _canonical(entry.ground_truth[t], ctx) != _canonical(exp.ground_truth, ctx)
        if not (q_diff or gt_diff):
            continue
        severity: Severity = "warning" if gt_diff else "info"
        what = " and ".join(x for x, d in (("question", q_diff), ("ground truth", gt_diff)) if d)
        notes = [f"variant turn {t} vs {base.id} turn {exp.base_turn}"]
        if q_diff:
            notes.append(f"variant question: {_quote(_question(entry, t))}")
            notes.append(f"base question: {_quote(_question(base, exp.base_turn or 0))}")
        if gt_diff and base_analysis is not None:
            explained = _explained_by_long_context(entry, analysis, base_analysis, t)
            if explained:
                severity = "info" if not q_diff else severity
                notes.append(f"explained by the long-context state: {explained}")
        out.append(
            _finding(
                "trajectory.variant_divergence", entry,
                f"turn {t}: {what} differ from {base.id} beyond the {entry.category} convention",
                severity=severity, turn=t,
                evidence=Evidence(
                    call=_clip(json.dumps(entry.ground_truth[t]), 1500),
                    expected=_clip(json.dumps(exp.ground_truth), 1500),
                    notes="; ".join(notes),
                ),
            )
        )  # fmt: skip
    if entry.category == "miss_param":
        out += _check_clarification(entry, base, ctx)
    return out


def _leaf_set(calls: Iterable[str]) -> set[str]:
    out = set()
    for text in calls:
        try:
            call = parse_call(text)
        except CallParseError:
            continue
        for value in [*call.args, *call.kwargs.values()]:
            out |= {norm_text(str(leaf)) for _, leaf in leaves(value)}
    return out


def _explained_by_long_context(
    entry: Entry, variant: Analysis, base: Analysis, t: int
) -> str | None:
    """Why a long_context turn's ground truth may differ: each new value is in the variant's
    state or tool outputs verbatim, or every word of it that the base's trajectory lacks comes
    from the outputs (a listing of the extra files). None if some new value is not so explained.
    """
    new = _leaf_set(entry.ground_truth[t]) - _leaf_set(base.entry.ground_truth[t])
    if not new:
        return None
    base_pools = base.grounding.available(t + 1, -1)
    base_words = set().union(*(p.words for p in base_pools))
    for value in new:
        if any(pool.holds(value) for pool in base_pools):
            return None
        # Sources before the first call that uses the value (a call's output echoes its input).
        step = next((a.step for a in variant.args
                     if a.step.turn == t and norm_text(str(a.value)) == value), None)  # fmt: skip
        if step is None:
            return None
        available = variant.grounding.available(step.turn, step.index)
        extended = [p for p in available if p.kind in ("state", "output")]
        # Composed values must take their new words from what the reference's calls showed:
        # the long state's prose holds too many words to excuse a reworded text.
        shown = [p for p in extended if p.kind == "output"]
        if any(pool.holds(value) for pool in extended):
            continue
        fresh = set(words(value)) - base_words
        if not fresh or not all(any(w in p.words for p in shown) for w in fresh):
            return None
    return f"{len(new)} new value(s), taken from the longer state or its outputs"


# Values in user text: quoted strings (an apostrophe inside a word is not a quote), tokens
# with digits, file/identifier names, handles and tags.
_VALUE_TOKEN = re.compile(
    r"(?<!\w)'([^']{1,80}?)'(?!\w)|(?<!\w)\"([^\"]{1,80}?)\"(?!\w)"
    r"|([#@][\w.]+|[\w.@#$-]*\d[\w.@#$-]*|\b\w+[._]\w+\b)"
)


def _value_tokens(text: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for match in _VALUE_TOKEN.finditer(text):
        token = (match[1] or match[2] or match[3] or "").strip(" .,;:")
        if token:
            out[norm_text(token)] += 1
    return out


def _check_clarification(entry: Entry, base: Entry, ctx: AuditContext) -> list[Finding]:
    """miss_param: a value the question lost and the reference then uses must come back in the
    clarification (or have been said before the question)."""
    roles = turn_roles(entry)
    k = next((t for t, r in roles.items() if r == "ask_missing"), None)
    if k is None or k + 1 >= len(entry.question) or k >= len(base.question):
        return []
    base_q, asked, clarified = _question(base, k), _question(entry, k), _question(entry, k + 1)
    removed = _value_tokens(base_q) - _value_tokens(asked)
    used = _leaf_set(entry.ground_truth[k + 1])
    earlier = norm_text(" ".join(_question(entry, t) for t in range(k)) + " " + clarified)
    missing = sorted(
        token for token in removed
        if any(token == v or (len(token) > 3 and token in v) for v in used)
        and token.lstrip("#@") not in earlier  # '@VehicleGuru' is supplied by 'VehicleGuru'
    )  # fmt: skip
    if not missing:
        return []
    return [
        _finding(
            "trajectory.clarification_mismatch", entry,
            f"turn {k} drops {', '.join(map(repr, missing))}, which the reference then uses, but "
            f"the clarification (turn {k + 1}) does not supply it", severity="warning",
            turn=k + 1,
            evidence=Evidence(
                call=_clip(json.dumps(entry.ground_truth[k + 1]), 1500),
                notes=f"base {base.id} turn {k}: {_quote(base_q)}; variant turn {k}: "
                f"{_quote(asked)}; clarification: {_quote(clarified)}",
            ),
        )
    ]  # fmt: skip


# --------------------------------------------------------------------------- 5. withheld


def check_withheld(entry: Entry, analysis: Analysis, ctx: AuditContext) -> list[Finding]:
    out: list[Finding] = []
    for turn in analysis.trace.turns:
        withheld = entry.withheld_functions(turn.index)
        for step in turn.calls:
            if step.call is None or step.call.name not in withheld:
                continue
            reveal = min(int(t) for t, names in entry.missed_function.items()
                         if step.call.name in names)  # fmt: skip
            out.append(
                _finding(
                    "trajectory.withheld_function_used", entry,
                    f"turn {turn.index} calls {step.call.name}, whose doc is only shown at "
                    f"turn {reveal}", turn=turn.index, function=step.call.name, ctx=ctx,
                    suffix=str(step.index),
                    evidence=Evidence(
                        call=step.text, result=_clip(step.result.text, 300),
                        notes=f"missed_function={entry.missed_function}; an agent limited to "
                        "the functions it was shown cannot make this call",
                    ),
                )
            )  # fmt: skip
    for key, names in entry.missed_function.items():
        t = int(key)
        used = {s.call.name for s in analysis.trace.turns[t].calls if s.call} if t < len(
            analysis.trace.turns) else set()  # fmt: skip
        for name in names:
            if name not in used:
                # Held out together with a function the turn does use: a distractor, not a
                # reveal without purpose.
                severity: Severity = "info" if used & set(names) else "warning"
                out.append(
                    _finding(
                        "trajectory.reveal_unused", entry,
                        f"{name} is revealed at turn {t} but the turn's reference does not call it",
                        severity=severity, turn=t, function=name, ctx=ctx, suffix=name,
                        evidence=Evidence(
                            call="; ".join(entry.ground_truth[t]) if t < len(
                                entry.ground_truth) else None,
                            notes=f"missed_function={entry.missed_function}",
                        ),
                    )
                )  # fmt: skip
    return out


# --------------------------------------------------------------------------- 6. alternatives


def _turn_with_order(
    entry: Entry, ctx: AuditContext, t: int, order: list[int]
) -> tuple[list[ExecResult], State]:
    episode = ReferenceEpisode(entry, ctx.release)
    for prior in entry.ground_truth[:t]:
        episode.execute_all(prior)
    calls = entry.ground_truth[t]
    results = [episode.execute(calls[i]) for i in order]
    return results, episode.state()


def check_alternatives(entry: Entry, analysis: Analysis, ctx: AuditContext) -> list[Finding]:
    out: list[Finding] = []
    if ctx.swap_check:
        out += _order_independent(entry, analysis, ctx)
    out += _unused_reads(entry, analysis, ctx)
    return out


def _order_independent(entry: Entry, analysis: Analysis, ctx: AuditContext) -> list[Finding]:
    out: list[Finding] = []
    for turn in analysis.trace.turns:
        steps = turn.calls
        pairs: list[str] = []
        for i in range(len(steps) - 1):
            a, b = steps[i], steps[i + 1]
            if a.text == b.text or a.result.error or b.result.error:
                continue
            if not (a.changed or b.changed):
                continue  # two reads commute trivially; only reorderings of writes are news
            order = list(range(len(steps)))
            order[i], order[i + 1] = i + 1, i
            results, state = _turn_with_order(entry, ctx, turn.index, order)
            by_call = {order[j]: r.text for j, r in enumerate(results)}
            same_results = all(by_call[j] == s.result.text for j, s in enumerate(steps))
            if same_results and state == turn.after:
                pairs.append(f"{a.text} <-> {b.text}")
        if pairs:
            out.append(
                _finding(
                    "trajectory.order_independent", entry,
                    f"turn {turn.index}: {len(pairs)} adjacent call pair(s) can be swapped with "
                    "identical results and state; BFCL accepts either order",
                    severity="info", turn=turn.index,
                    evidence=Evidence(
                        call="\n".join(pairs),
                        notes="executed with each pair swapped: every call returns the same text "
                        "and the state after the turn equals the reference's",
                    ),
                )
            )  # fmt: skip
    return out


def _unused_reads(entry: Entry, analysis: Analysis, ctx: AuditContext) -> list[Finding]:
    out: list[Finding] = []
    used: set[tuple[int, int]] = set()
    for arg in analysis.args:
        for pool in arg.sources:
            if pool.kind == "output":
                used.add(pool.position)
    for turn in analysis.trace.turns:
        if not turn.changed:
            continue  # in an information turn the reads are the answer
        request = _content_words(request_text(entry, turn.index))
        for step in turn.calls:
            if step.call is None or step.changed or step.result.error:
                continue
            if not ctx.read_only.get(step.call.name, False):
                continue
            if (step.turn, step.index) in used:
                continue
            keys = {p[-1] for p, _ in leaves(step.result.value) if p and p[-1] != "@key"}
            named = _call_words(step.call) | set().union(*map(_name_words, keys or {""}))
            if named & request:
                continue
            out.append(
                _finding(
                    "trajectory.unused_read", entry,
                    f"{step.call.name}'s result is used by no later call and the request does "
                    "not name it", severity="info", turn=turn.index, function=step.call.name,
                    ctx=ctx, suffix=str(step.index),
                    evidence=Evidence(
                        call=step.text, result=_clip(step.result.text, 300),
                        notes="an agent that skips this read reaches the same state, but BFCL's "
                        "response check requires this result in the turn; request: "
                        + _quote(request_text(entry, turn.index)),
                    ),
                )
            )  # fmt: skip
    return out


# --------------------------------------------------------------------------- 7. information


def _asks(question: str) -> bool:
    """The outcome reference's own reading (`derive_owed` owes nothing when it says no)."""
    from eigencore.evaluation.outcome import asks_for_information

    return asks_for_information(question)


# Requests to see a result that the outcome heuristic's word list does not cover.
_ASKS_TO_SEE = re.compile(
    r"\b(reveal|output|display|show|print|compar|juxtapos|diff|search|grep|investigat|identif|"
    r"sort|articulat|review|peek|see|look|read|examin|analy[sz]|determin|locat|detect|"
    r"pinpoint|spot|extract|convert|estimat|inspect|assess|evaluat|explor|obtain|know|learn|"
    r"insight|breakdown|overview|information|detail)\w*",
    re.IGNORECASE,
)


def surfaced_facts(steps: Iterable[CallStep], ctx: AuditContext) -> list[tuple[str, Any]]:
    """(label, value) of the scalars the turn's read-only results show."""
    facts: list[tuple[str, Any]] = []
    for step in steps:
        if step.call is None or step.result.error or step.changed:
            continue
        value = step.result.value
        if value is None:
            continue
        # A result that repeats the call's own arguments (`cd` -> the folder) tells nothing.
        args = bind(step.call, ctx).values()
        echoed = {norm_text(str(v)) for arg in args for _, v in leaves(arg)}
        for path, leaf in leaves(value):
            if (path and path[-1] == "@key") or leaf is None or leaf == "":
                continue
            if norm_text(str(leaf)) in echoed:
                continue
            if isinstance(leaf, str) and len(leaf) > 80:
                leaf = _clip(leaf, 80)
            facts.append((f"{step.call.name}.{'.'.join(path)}".rstrip("."), leaf))
            if len(facts) >= _MAX_FACTS:
                return facts
    return facts


def check_information(entry: Entry, analysis: Analysis, ctx: AuditContext) -> list[Finding]:
    out: list[Finding] = []
    for turn in analysis.trace.turns:
        if not turn.calls or turn.changed:
            continue
        request = request_text(entry, turn.index)
        asks = _asks(request)
        wants_to_see = _ASKS_TO_SEE.search(request)
        # Writes (by the port's flags) that leave the state as it was: a listed stock added
        # again, a booking made and cancelled in the same turn.
        idle = [s.text for s in turn.calls
                if not ctx.read_only.get(s.call.name if s.call else "", True)]  # fmt: skip
        asked_words = _content_words(request)
        facts = surfaced_facts(turn.calls, ctx)
        named = [label for label, _ in facts
                 if _name_words(label.rsplit(".", 1)[-1]) & asked_words]  # fmt: skip
        listing = "; ".join(f"{label}={_clip(repr(v), 80)}" for label, v in facts)
        evidence = Evidence(
            call="\n".join(s.text for s in turn.calls),
            result=_clip("\n".join(s.result.text for s in turn.calls)),
            notes=f"asks for information (outcome heuristic): {'yes' if asks else 'no'}; "
            f"asks to see a result: {repr(wants_to_see[0]) if wants_to_see else 'no'}; "
            f"facts: {listing or 'none'}; "
            f"facts whose key the request names: {', '.join(named) or 'none'}; "
            f"request: {_quote(request)}",
        )
        out.append(
            _finding(
                "trajectory.information_turn", entry,
                f"turn {turn.index} changes no state"
                + (" (its writes change nothing here)" if idle else "")
                + f": an information turn ({len(facts)} fact(s) surfaced; request "
                f"{'asks' if asks or wants_to_see else 'does not ask'})",
                severity="info", turn=turn.index, evidence=evidence,
            )
        )  # fmt: skip
        if not asks and not wants_to_see:
            if idle:
                # e.g. add_to_watchlist of a stock already listed, book then cancel
                evidence = evidence.model_copy(update={
                    "notes": f"write calls that change nothing here: {'; '.join(idle)}; "
                    + (evidence.notes or "")})  # fmt: skip
            out.append(
                _finding(
                    "trajectory.no_obligation", entry,
                    f"turn {turn.index} changes no state and its request asks for no "
                    "information: a do-nothing agent passes it under a state check",
                    severity="warning", turn=turn.index, evidence=evidence,
                )
            )  # fmt: skip
        elif not asks and facts:
            verb = wants_to_see[0] if wants_to_see else ""
            out.append(
                _finding(
                    "trajectory.owed_unrecognised", entry,
                    f"turn {turn.index} asks to see a result ({verb!r}) "
                    "in words the outcome heuristic misses: it derives nothing owed, so a "
                    "do-nothing agent passes the turn", severity="warning", turn=turn.index,
                    evidence=evidence,
                )
            )  # fmt: skip
    tr = analysis.trace
    writes = [s for s in tr.steps() if s.changed]
    if writes and tr.turns and tr.turns[-1].after == tr.initial:
        out.append(
            _finding(
                "trajectory.no_net_change", entry,
                "the reference changes state but ends in the initial state: a do-nothing agent "
                "passes a final-state check", severity="warning", turn=len(tr.turns) - 1,
                evidence=Evidence(
                    call="\n".join(f"turn {s.turn}: {s.text}" for s in writes),
                    state_diff="\n".join(line for s in writes for line in s.diff[:2]),
                ),
            )
        )  # fmt: skip
    return out


# --------------------------------------------------------------------------- judge


def judge_items(
    entry: Entry, analysis: Analysis, ctx: AuditContext, found: Sequence[Finding] | None = None
) -> list[JudgeItem]:
    """The entry's turns with calls, as questions for a judge, each with its tier.

    `found` are the entry's deterministic findings (the `unrequested_call` ones set tier 0);
    without them the request check is run here.
    """
    if found is None:
        found = check_requests(entry, analysis, ctx)
    flagged = {f.turn for f in found if f.check == "trajectory.unrequested_call"}
    roles = turn_roles(entry)
    items: list[JudgeItem] = []
    for turn in analysis.trace.turns:
        t = turn.index
        request = request_text(entry, t)
        if not turn.calls or not request.strip():
            continue  # nothing to judge, or no request to judge against (`unaddressed_turn`)
        asked = _content_words(request)
        writes = [s for s in turn.calls if s.changed and s.call is not None]
        if t in flagged:
            tier = 0
        elif any(not (_call_words(s.call) & asked) for s in writes if s.call is not None):
            tier = 1
        else:
            tier = 2 if writes else 3
        # A reveal or clarification turn's request already includes the turn before it.
        first = t - 1 if roles.get(t) in ("reveal", "clarification") else t
        earlier = tuple(_clip(q, 300) for q in (_question(entry, k).strip()
                                                for k in range(first)) if q)
        items.append(JudgeItem(
            entry_id=entry.id, category=entry.category, turn=t, request=_clip(request),
            calls=tuple(s.text for s in turn.calls),
            results=tuple(_clip(s.result.text, 300) for s in turn.calls),
            earlier=earlier, tier=tier, reason=JUDGE_TIERS[tier],
        ))  # fmt: skip
    return items


def select_judge_items(items: Sequence[JudgeItem], limit: int | None = None) -> list[JudgeItem]:
    """The items to judge, in the order to judge them: distinct questions ranked by tier, then
    by audit order (category, entry, turn); `limit` keeps the first `limit` questions. Every
    item sharing a kept question is kept, right after the first one (a cache hit, no model
    call)."""
    rank: dict[tuple[Any, ...], tuple[int, int]] = {}
    for position, item in enumerate(items):
        key = item.question_key
        rank[key] = min(rank.get(key, (item.tier, position)), (item.tier, position))
    kept = sorted(rank, key=rank.__getitem__)
    if limit is not None:
        kept = kept[: max(limit, 0)]
    keep = set(kept)
    chosen = [(rank[it.question_key], n, it) for n, it in enumerate(items)
              if it.question_key in keep]
    return [it for _, _, it in sorted(chosen, key=lambda c: (c[0], c[1]))]


def judge_findings(items: Iterable[JudgeItem], judge: Judge) -> list[Finding]:
    """Ask the judge about each item; an `unsupported` verdict is a finding (`unsure` is not)."""
    out: list[Finding] = []
    for item in items:
        if isinstance(judge, ItemJudge):
            verdict, reasoning = judge.judge_item(item)
        else:
            verdict, reasoning = judge.judge(item.request, item.calls, item.results)
        if verdict != "unsupported":
            continue
        check = "trajectory.judge_unsupported"
        out.append(Finding(
            id=f"{check}:{item.entry_id}:t{item.turn}", check=check, kind="trajectory",
            severity="warning",
            summary=f"turn {item.turn}: the judge finds the calls do not do what the user asked",
            entry_id=item.entry_id, category=item.category, turn=item.turn,
            evidence=Evidence(
                call="\n".join(item.calls), result=_clip("\n".join(item.results), 600),
                judge=f"{verdict}: {reasoning}",
                notes=f"request: {_quote(item.request)}; judged as: {item.reason}",
            ),
        ))  # fmt: skip
    return out


def check_judge(entry: Entry, analysis: Analysis, ctx: AuditContext) -> list[Finding]:
    """Every turn of one entry put to the judge (no budget); `audit_entries` instead judges
    after all deterministic checks, most doubtful questions first, within `judge_limit`."""
    if isinstance(ctx.judge, NoJudge):
        return []
    return judge_findings(judge_items(entry, analysis, ctx), ctx.judge)


# --------------------------------------------------------------------------- driver

CHECKS = (
    check_call_failures,
    check_grounding,
    check_requests,
    check_alignment,
    check_withheld,
    check_alternatives,
    check_information,
)
"""The deterministic checks; the judge runs after them (`audit_entries`)."""


def _audit_entry(entry: Entry, ctx: AuditContext) -> tuple[list[Finding], Analysis | None]:
    try:
        analysis = ctx.analysis(entry)
    except Exception as exc:  # the scenario does not even load: that is the finding
        return [
            _finding(
                "trajectory.replay_failed", entry,
                f"the reference cannot be replayed: {type(exc).__name__}: {exc}",
                evidence=Evidence(notes=f"involved_classes={entry.involved_classes}"),
            )
        ], None  # fmt: skip
    return [finding for check in CHECKS for finding in check(entry, analysis, ctx)], analysis


def audit_entry(entry: Entry, ctx: AuditContext) -> list[Finding]:
    """The deterministic findings of one entry."""
    return _audit_entry(entry, ctx)[0]


def audit_entries(
    entries: Iterable[Entry], ctx: AuditContext, *, judge_limit: int | None = None
) -> list[Finding]:
    """Deterministic findings of each entry, then (with a judge) the judge's findings over the
    selected questions (`select_judge_items`)."""
    judging = not isinstance(ctx.judge, NoJudge)
    findings: list[Finding] = []
    items: list[JudgeItem] = []
    for entry in entries:
        found, analysis = _audit_entry(entry, ctx)
        findings += found
        if judging and analysis is not None:
            items += judge_items(entry, analysis, ctx, found)
    if judging:
        findings += judge_findings(select_judge_items(items, judge_limit), ctx.judge)
    return findings


def audit_trajectories(
    release: Release | None = None,
    *,
    judge: Judge | None = None,
    judge_limit: int | None = None,
    categories: Sequence[str] = CATEGORIES,
    entry_ids: Collection[str] | None = None,
    swap_check: bool = True,
) -> list[Finding]:
    """All trajectory findings over the release's multi-turn entries (800 for BFCL-V3), or
    over `entry_ids` only."""
    release = release if release is not None else load_release()
    ctx = AuditContext(
        release=release,
        judge=judge if judge is not None else NoJudge(),
        bases={base_number(e): e for e in release.entries("base")},
        swap_check=swap_check,
    )
    entries = [
        entry
        for category in categories
        for entry in (list(ctx.bases.values()) if category == "base"
                      else release.entries(category))
        if entry_ids is None or entry.id in entry_ids
    ]  # fmt: skip
    unknown = sorted(set(entry_ids or ()) - {e.id for e in entries})
    if unknown:
        raise ValueError(f"no such multi-turn entries: {', '.join(unknown)}")
    return audit_entries(entries, ctx, judge_limit=judge_limit)


def main() -> None:  # pragma: no cover - manual report
    started = time.perf_counter()
    findings = audit_trajectories()
    counts = Counter((f.check, f.category) for f in findings)
    for (check, category), n in sorted(counts.items()):
        print(f"{check:40} {category:14} {n}")
    print(f"{len(findings)} findings in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
