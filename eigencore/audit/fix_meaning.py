"""Keep a repaired task's meaning when a code fix changes what its reference returns.

The `bfcl-v3-repaired` suite runs the port with its code fixes on (`code_fixes.FIXES`); BFCL's
checker runs the drop-in on the original classes. A fix that changes a result of a repaired
reference (`divergences`: the reference executed with and without the fixes) makes the two
disagree about the task. For a fix that enforces a limit the original never checks (its
`Guard`: the fare must not exceed the budget limit) this happens only when the limit in effect
is below the value the reference passes, and `reconcile` settles it by what the user said:

* the limit comes from the initial config (the user never set it, and cannot see it) and the
  user states no amount for it, or one at or above the value: the scenario contradicts the
  user's words, so the config's limit becomes the user's amount (the value when they state
  none);
* the limit was set by the user (a setter call the reference makes at their request), or the
  amount they state is below the value (or not in the limit's currency): the user's own words
  conflict under the fix, and no scenario edit can settle that without overruling them. Their
  words stay and the request is clarified: the user now also says to raise the limit to the
  value first, and the reference does so with the setter just before the guarded call.

The caller keeps a candidate only when `verify` passes (re-executed: no divergence left, and the
guarded call returns what the original code returned) and its re-audit adds no finding; a
difference that stays becomes a finding (`divergence_findings`), never silence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eigencore.audit.code_fixes import FIXES, CodeFix
from eigencore.audit.doc_code_repair import FixEffect, _shown, fix_effects
from eigencore.audit.findings import Evidence, Finding
from eigencore.bfcl.calls import Call, CallParseError, format_call, parse_call
from eigencore.bfcl.release import Entry
from eigencore.evaluation.task import Task

__all__ = [
    "CHECK",
    "Reconciliation",
    "divergence_findings",
    "divergences",
    "reconcile",
    "repaired_mode_task",
    "stated_amounts",
    "verify",
]

CHECK = "trajectory.fix_divergence"
_FIXED = frozenset(f.function for f in FIXES)
_QUOTE = 240


def repaired_mode_task(entry: Entry) -> Task:
    """The entry as a task whose scenarios switch the port's code fixes on."""
    from eigencore.bfcl.suite import entry_task

    task = entry_task(entry)
    task.scenarios = {d: {**s, "repaired": True} for d, s in task.scenarios.items()}
    return task


def _calls(entry: Entry) -> list[tuple[int, int, Call]]:
    out = []
    for t, calls in enumerate(entry.ground_truth):
        for i, text in enumerate(calls):
            try:
                out.append((t, i, parse_call(text)))
            except CallParseError:
                continue
    return out


def divergences(entry: Entry) -> list[FixEffect]:
    """The entry's reference results (and final state) that differ with and without the code
    fixes, by execution; none when the reference calls no fixed function."""
    if not any(c.name in _FIXED for _, _, c in _calls(entry)):
        return []
    return fix_effects([repaired_mode_task(entry)])


# --------------------------------------------------------------------------- the user's words


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_USD = re.compile(
    r"\$\s?(\d[\d,]*(?:\.\d+)?)|(\d[\d,]*(?:\.\d+)?)\s*(?:USD|US dollars?|dollars?)\b",
    re.IGNORECASE,
)
_FOREIGN = re.compile(
    r"\d[\d,]*(?:\.\d+)?\s*(?:(?!USD)[A-Z]{3}\b|(?i:(?:chinese )?yuan|euros?|pounds?|yen|"
    r"rupees?|pesos?|francs?|won)\b)",
)


def _user_text(entry: Entry, turn: int) -> str:
    return " ".join(
        str(m.get("content", "")) for m in entry.question[turn] if m.get("role") == "user"
    )


def stated_amounts(text: str, concept: str) -> tuple[list[tuple[float, str]], list[str], bool]:
    """In the sentences of `text` that name `concept`: the USD amounts (with their sentence),
    every such sentence, and whether one gives an amount in another currency."""
    amounts: list[tuple[float, str]] = []
    said: list[str] = []
    foreign = False
    word = re.compile(rf"\b{re.escape(concept)}", re.IGNORECASE)
    for sentence in (s.strip() for s in _SENTENCE.split(text)):
        if not sentence or not word.search(sentence):
            continue
        said.append(sentence)
        for m in _USD.finditer(sentence):
            amounts.append((float((m[1] or m[2]).replace(",", "")), sentence))
        foreign = foreign or bool(_FOREIGN.search(sentence))
    return amounts, said, foreign


def _clip(text: str, n: int = _QUOTE) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _quote(texts: Sequence[str]) -> str:
    return " ".join(f'"{_clip(t)}"' for t in texts)


# --------------------------------------------------------------------------- reconciliation


@dataclass(frozen=True)
class Reconciliation:
    """A candidate that keeps the task's meaning under both codes (`entry`), or why none
    applies (`entry` None)."""

    fix: str
    why: str
    entry: Entry | None = None
    turn: int | None = None
    before: Any = None
    after: Any = None
    call: str | None = None
    """The guarded call, which must return `expected` (its original-code result) again."""
    call_turn: int | None = None
    expected: str | None = None


def _guarded(effects: Sequence[FixEffect]) -> tuple[FixEffect, CodeFix] | None:
    """The first effect that is a guarded call refused by its fix but not by the original."""
    by_id = {f.id: f for f in FIXES}
    for e in effects:
        if e.call is None or e.turn is None:
            continue
        for fid in e.fixes:
            fix = by_id.get(fid)
            if fix is None or fix.guard is None:
                continue
            try:
                name = parse_call(e.call).name
            except CallParseError:
                continue
            if name == fix.function and fix.guard.refusal in e.repaired and (
                fix.guard.refusal not in e.original
            ):
                return e, fix
    return None


def _bound(call: Call, docs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    names = list(docs.get(call.name, {}).get("parameters", {}).get("properties", {}))
    out = {(names[i] if i < len(names) else f"arg{i}"): v for i, v in enumerate(call.args)}
    out.update(call.kwargs)
    return out


def reconcile(
    entry: Entry, effects: Sequence[FixEffect], docs: Mapping[str, Mapping[str, Any]]
) -> Reconciliation:
    """A scenario or request repair for the first guarded refusal among `effects` (the
    entry's divergences); `docs` maps function names to their BFCL docs (parameter order and
    required parameters). Not yet verified: the caller re-executes the candidate."""
    found = _guarded(effects)
    if found is None:
        fixes = sorted({f for e in effects for f in e.fixes})
        return Reconciliation(
            ",".join(fixes),
            "no fix among " + ", ".join(fixes) + " states a limit whose scenario could be "
            "checked against the user's words",
        )
    effect, fix = found
    guard = fix.guard
    assert guard is not None and effect.turn is not None and effect.call is not None
    turn = effect.turn
    if effect.call not in entry.ground_truth[turn]:
        return Reconciliation(fix.id, f"{effect.call} is not a call of turn {turn}")
    index = entry.ground_truth[turn].index(effect.call)
    guarded = parse_call(effect.call)
    args = _bound(guarded, docs)
    value = args.get(guard.argument)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return Reconciliation(fix.id, f"{guard.argument} of {effect.call} is not a number")
    setter = None
    for t, i, call in _calls(entry):
        if (t, i) >= (turn, index):
            break
        if call.name == guard.setter:
            setter = (t, call, _bound(call, docs).get(guard.setter_argument))
    ask = turn - 1 if str(turn) in entry.missed_function and turn > 0 else turn
    said = " ".join(_user_text(entry, t) for t in range(ask + 1))
    amounts, sentences, foreign = stated_amounts(said, guard.concept)
    before_turn = [_user_text(entry, t) for t in range(ask + 1) if _user_text(entry, t)]
    request = _user_text(entry, ask) or (before_turn[-1] if before_turn else "")
    later = len([e for e in effects if e is not effect])
    results = (
        f"`{effect.call}` (turn {turn}) returns {effect.original} under the original code but "
        f"{effect.repaired} under the fix" + (f", and {later} later result(s) follow" if later
                                              else "")
    )
    head = f"code fix {fix.id} changes this reference: {results}."
    config = entry.initial_config.get(guard.class_name, {})
    limit = config.get(guard.limit)
    stated = amounts[-1][0] if amounts else None
    if setter is None and isinstance(limit, int | float) and not foreign and (
        stated is None or stated >= value
    ):
        target = float(stated if stated is not None else value)
        if stated is not None:
            words = f"the user states it: {_quote([amounts[-1][1]])}"
        elif sentences:
            words = f"the user names no amount ({_quote(sentences)})"
        else:
            words = f"the user names no {guard.concept} (their request: {_quote([request])})"
        candidate = entry.model_copy(deep=True)
        candidate.initial_config[guard.class_name][guard.limit] = target
        where = f"{guard.class_name}.{guard.limit}"
        why = (
            f"{head} The {guard.value_noun} is {value} ({guard.argument}); the scenario's "
            f"{guard.limit} is {limit}, set in the initial config, which the user never sees "
            f"or sets; {words}. The scenario contradicts the user, whose words are "
            f"authoritative: {where} becomes {target:g}"
            + (", the amount they state" if stated is not None else f", the {guard.value_noun}")
            + f", so the {guard.value_noun} the user asks for is within the {guard.limit_noun} "
            "under both codes"
        )
        return Reconciliation(fix.id, why, candidate, turn, {where: limit}, {where: target},
                              effect.call, turn, effect.original)  # fmt: skip
    # The user's own words conflict with the fix: keep them, and have them settle it.
    if setter is not None:
        t0, call, amount = setter
        source = (
            f"the {guard.limit} in effect, {amount}, is the user's own: turn {t0} sets it "
            f"(`{format_call(call)}`) as they ask: {_quote(sentences or [_user_text(entry, t0)])}"
        )
    elif foreign:
        source = (
            f"the user states their {guard.concept} in another currency "
            f"({_quote(sentences)}), so the config's {guard.limit} ({limit}) cannot be "
            "matched to it without overruling their words"
        )
    elif stated is not None:
        source = (
            f"the user's own {guard.concept}, {stated:g} ({_quote([amounts[-1][1]])}), is below "
            f"the {guard.value_noun} they ask to book"
        )
    else:
        return Reconciliation(
            fix.id, f"{head} The scenario has no {guard.limit} of its own to repair"
        )
    required = docs.get(guard.setter, {}).get("parameters", {}).get("required", [])
    prior = _bound(setter[1], docs) if setter is not None else {}
    kwargs: dict[str, Any] = {}
    for name in docs.get(guard.setter, {}).get("parameters", {}).get("properties", {}):
        if name == guard.setter_argument:
            kwargs[name] = value
        elif name in args:
            kwargs[name] = args[name]
        elif name in prior:
            kwargs[name] = prior[name]
        elif name in required:
            return Reconciliation(fix.id, f"{head} {guard.setter} needs {name}, which nothing "
                                  "gives")  # fmt: skip
    raise_call = format_call(Call(guard.setter, (), kwargs))
    sentence = (
        f"(If the {guard.value_noun} is above my {guard.limit_noun}, raise the "
        f"{guard.limit_noun} to the {guard.value_noun} first.)"
    )
    candidate = entry.model_copy(deep=True)
    messages = candidate.question[ask]
    users = [m for m in messages if m.get("role") == "user"]
    if not users:
        return Reconciliation(fix.id, f"{head} No user turn asks for {effect.call}")
    users[-1]["content"] = f"{str(users[-1].get('content', '')).rstrip()} {sentence}"
    candidate.ground_truth[turn].insert(index, raise_call)
    why = (
        f"{head} The {guard.value_noun} is {value} ({guard.argument}); {source}. Raising the "
        f"scenario's limit would not settle it and changing the amount would overrule the "
        f"user, so their words stay and the request is clarified: the user now says to raise "
        f"the {guard.limit_noun} to the {guard.value_noun} first, and the reference does so "
        f"(`{raise_call}`) before `{guarded.name}`, which then succeeds under both codes"
    )
    before = {"question": {ask: _user_text(entry, ask)},
              "ground_truth": {turn: list(entry.ground_truth[turn])}}  # fmt: skip
    after = {"question": {ask: _user_text(candidate, ask)},
             "ground_truth": {turn: list(candidate.ground_truth[turn])}}  # fmt: skip
    return Reconciliation(fix.id, why, candidate, ask, before, after, effect.call, turn,
                          effect.original)  # fmt: skip


def verify(found: Reconciliation) -> str | None:
    """Why a candidate does not keep the task's meaning (None: it does): re-executed, every
    result must be equal with and without the fixes, and the guarded call must return what it
    returned on the original code before the repair (a limit that made both codes refuse would
    agree, and change the task)."""
    from eigencore.evaluation.outcome import reference_outcome

    if found.entry is None:
        return found.why
    left = divergences(found.entry)
    if left:
        e = left[0]
        return (
            f"the candidate ({found.before} -> {found.after}) still differs: "
            f"{e.call or 'the final state'} returns {e.original} on the original code, "
            f"{e.repaired} with the fixes"
        )
    if found.call is None or found.call_turn is None:
        return None
    outcome = reference_outcome(repaired_mode_task(found.entry))
    got = [_shown(c.ok, c.value, c.error) for c in outcome.calls[found.call_turn]
           if c.call == found.call]  # fmt: skip
    if got and got[0] != found.expected:
        return (
            f"the candidate ({found.before} -> {found.after}) makes both codes agree, but "
            f"`{found.call}` then returns {got[0]} where the original code returned "
            f"{found.expected}: the task would change"
        )
    return None


# --------------------------------------------------------------------------- findings


def divergence_findings(
    effects: Sequence[FixEffect], reasons: Mapping[str, str] | None = None
) -> list[Finding]:
    """Each reference result that still differs with and without the code fixes, as a
    finding (`reasons`: per task, why no reconciliation was kept)."""
    reasons = reasons or {}
    seen: dict[str, int] = {}
    out = []
    for e in effects:
        where = f"{e.task_id}:t{e.turn}" if e.turn is not None else f"{e.task_id}:final"
        seen[where] = seen.get(where, 0) + 1
        out.append(
            Finding(
                id=f"{CHECK}:{where}:{seen[where]}",
                check=CHECK,
                kind="trajectory",
                severity="error",
                summary=(
                    f"the reference means something else with the code fixes "
                    f"({', '.join(e.fixes)}) than on the original code"
                ),
                entry_id=e.task_id,
                category=_category(e.task_id),
                turn=e.turn,
                evidence=Evidence(
                    call=e.call,
                    result=e.repaired,
                    expected=e.original,
                    notes=reasons.get(e.task_id),
                ),
            )
        )
    return out


def _category(task_id: str) -> str | None:
    m = re.match(r"multi_turn_(.+)_\d+$", task_id)
    return m[1] if m else None
