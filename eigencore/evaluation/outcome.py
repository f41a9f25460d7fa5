"""The reference outcome of a task: execute its reference calls on private databases and
record the state after every turn and the information each turn owes the user.

Owed information is taken from the task when it states it; otherwise it is derived from the
reference's read-only results: a scalar the result holds under a key that the user's question
mentions (e.g. "price" in "what is the price of AAPL?") is owed. That heuristic is
deterministic and conservative; the audit replaces it with reviewed statements per task.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from eigencore.bfcl.calls import parse_call
from eigencore.evaluation.facts import fact_given
from eigencore.evaluation.task import Fact, Task
from environments import registry
from environments.contract import DomainBundle, ToolSpec
from environments.envdb import EnvDb
from environments.state import StateDiff
from servers.publish import namespace_of

MAX_FACTS_PER_TURN = 8


@dataclass
class ReferenceCall:
    call: str
    domain: str
    tool: ToolSpec
    ok: bool
    value: Any
    error: dict[str, Any] | None = None


@dataclass
class ReferenceOutcome:
    task_id: str
    turn_states: list[dict[str, StateDiff]]
    """Per turn, per domain: the diff from the initial state after the turn."""
    owed: list[list[Fact]]
    calls: list[list[ReferenceCall]] = field(default_factory=list)

    @property
    def final_state(self) -> dict[str, StateDiff]:
        return self.turn_states[-1] if self.turn_states else {}

    def failed_calls(self) -> list[ReferenceCall]:
        return [c for turn in self.calls for c in turn if not c.ok]

    def is_trivial(self) -> bool:
        """A do-nothing agent would pass: no state change anywhere and nothing owed."""
        no_change = all(d.empty for d in self.final_state.values())
        return no_change and not any(self.owed)


def tool_table(task: Task) -> dict[str, tuple[DomainBundle, ToolSpec]]:
    """Tool name as the model sees it -> (bundle, spec)."""
    table: dict[str, tuple[DomainBundle, ToolSpec]] = {}
    for name in task.domains:
        bundle = registry.get(name)
        for spec in bundle.tools:
            shown = f"{namespace_of(bundle)}_{spec.name}" if task.namespaced else spec.name
            table[shown] = (bundle, spec)
    return table


def bind(spec: ToolSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    names = list(inspect.signature(spec.fn).parameters)[1:]
    bound = dict(zip(names, args, strict=False))
    bound.update(kwargs)
    return bound


def reference_outcome(task: Task) -> ReferenceOutcome:
    tools = tool_table(task)
    dbs = {d: EnvDb.open(registry.get(d), task.scenarios.get(d)) for d in task.domains}
    try:
        turn_states: list[dict[str, StateDiff]] = []
        calls: list[list[ReferenceCall]] = []
        for turn in task.turns:
            done: list[ReferenceCall] = []
            for text in turn.reference:
                call = parse_call(text)
                if call.name not in tools:
                    raise KeyError(f"{task.id}: reference calls unknown tool {call.name!r}")
                bundle, spec = tools[call.name]
                out = dbs[bundle.name].call(spec.name, bind(spec, call.args, call.kwargs))
                done.append(ReferenceCall(text, bundle.name, spec, out.ok, out.value, out.error))
            calls.append(done)
            turn_states.append({d: db.diff() for d, db in dbs.items()})
        owed = []
        for t, (turn, done) in enumerate(zip(task.turns, calls, strict=True)):
            if turn.owed is not None:
                owed.append(list(turn.owed))
                continue
            before = turn_states[t - 1] if t else {d: StateDiff() for d in dbs}
            changed = any(turn_states[t][d] != before[d] for d in dbs)
            owed.append(derive_owed(turn_text(turn.messages), done, info_only=not changed))
        return ReferenceOutcome(task.id, turn_states, owed, calls)
    finally:
        for db in dbs.values():
            db.close()


def turn_text(messages: list[dict[str, Any]]) -> str:
    return " ".join(str(m.get("content", "")) for m in messages)


_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if len(w) > 2}


def _plain(value: Any) -> Any:
    return value.model_dump() if isinstance(value, BaseModel) else value


def _leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    value = _plain(value)
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, str(k)))]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v, path)]
    if not isinstance(value, (str, int, float, bool)) and hasattr(value, "__float__"):
        value = float(value)  # Decimal, mpmath numbers: facts compare by value
    return [(path, value)]


def _said(value: Any, question: str) -> bool:
    return fact_given(Fact(value=value), question)


_ASKING = re.compile(
    r"\?|\b(tell|show|let me know|what|which|who|when|where|whether|how|list|report back|give me|"
    r"find|look up|pull up|retrieve|display|check|confirm|verify|calculate|compute|count|"
    r"fetch|get me|provide|share|inform|summar\w*|average|total)\b", re.IGNORECASE)
MAX_WHOLE_RESULT_FACTS = 8


def asks_for_information(question: str) -> bool:
    return bool(_ASKING.search(question))


def derive_owed(question: str, calls: list[ReferenceCall], *, info_only: bool = False
                ) -> list[Fact]:
    """Scalars from read-only reference results that sit under a key the question names,
    when the question asks for something at all (reads done only to act owe nothing). In a
    turn that only asks (the reference changes nothing) and names no key, the last read's
    result is owed whole when it is small."""
    if not asks_for_information(question):
        return []
    facts = _keyed_facts(question, calls)
    if facts or not info_only:
        return facts
    reads = [c for c in calls if c.ok and c.tool.read_only]
    if not reads:
        return []
    last = reads[-1]
    leaves = [(p, v) for p, v in _leaves(last.value) if _is_fact(v) and not _said(v, question)]
    if len(leaves) > MAX_WHOLE_RESULT_FACTS:
        return []
    return [Fact(value=v, label=f"{last.tool.name}.{'.'.join(p)}") for p, v in leaves]


def _is_fact(value: Any) -> bool:
    if isinstance(value, bool) or value is None or value == "":
        return False
    return not (isinstance(value, str) and len(value) > 80)  # prose is not a fact to repeat


def _keyed_facts(question: str, calls: list[ReferenceCall]) -> list[Fact]:
    asked = _words(question)
    facts: list[Fact] = []
    seen: set[str] = set()
    for c in calls:
        if not (c.ok and c.tool.read_only):
            continue
        for path, value in _leaves(c.value):
            if not _is_fact(value):
                continue
            key_words = set().union(*(_words(p.replace("_", " ")) for p in path)) if path else set()
            if not key_words & asked:
                continue
            ident = repr(value)
            if ident in seen or _said(value, question):
                continue  # the user cannot be owed what they said themselves
            seen.add(ident)
            facts.append(Fact(value=value, label=f"{c.tool.name}.{'.'.join(path)}"))
    return facts[:MAX_FACTS_PER_TURN]
