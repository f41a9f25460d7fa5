"""Repair the BFCL-V3 multi-turn entries from their audit findings, deterministically.

`repair(release, findings)` applies one rule per trajectory check, validates every edit by
re-executing the entry (the edit must remove what it targets and add no error or warning of
another kind), mirrors each base's edits onto its variants (base entries are repaired first),
sets every turn's owed information explicitly, re-audits the repaired entries
and gives every finding a disposition: `repaired`, `accepted` (kept on purpose: not a defect,
or the failure is the answer) or `unrepaired` (a defect that stays), each with its reason.
Nothing is dropped.

Rules (by check, in the order they run):

* `variant_divergence` / `clarification_mismatch`: the variant is realigned to its (repaired)
  base: config, the turns' ground truth (and question when it differs too), miss_param's turn
  structure when the questions line up with another split, the clarification's value. A
  long_context turn stays when its longer state changes what the agent sees.
* `withheld_function_used`: the function is shown from the start when the reveal turn keeps
  another held-out function to test; otherwise the call moves to the reveal turn.
* `call_failed` / `call_error`: kept when the failure is the answer (a read the user asked to
  verify, or the turn's only call; its result is then owed); otherwise removed when execution
  shows nothing later depends on it.
* `unaddressed_turn`: the function whose name the request names, with arguments taken from
  earlier calls and results, is added when it executes without failure; otherwise unrepaired.
* `ungrounded_value`: a near-miss of a value the user said ('notes.md' for 'note.md') replaces
  it; otherwise the user text is clarified ("(The insurance type is 'comprehensive'.)").
* `composed_value` in a state-changing call, when the text is a sentence or has words found
  nowhere: the user's quoted text replaces it when they differ only in case and punctuation,
  otherwise the user text states it ("(Use exactly this message: '...'.)"); text copied from
  one result or short reformatting stays (accepted).
* owed information (`information_turn`, `owed_unrecognised`, `no_obligation`,
  `no_net_change`): every turn gets an explicit `owed` list from the port's execution of the
  repaired reference: in a turn that changes nothing, the facts whose key the request names,
  else the facts its reads surface; in a state-changing turn that asks, the named facts of its
  reads; a kept failure's facts; and, for a task that would still be passable by doing
  nothing, the identifiers its writes returned.

* code fixes that change a reference (`fix_meaning`, run first on every entry): when the
  port's code fixes change what the entry's reference returns, the scenario is checked against
  the user's words and repaired so that the task means the same under both codes: a limit of
  the initial config that the user never set is raised to the amount they state (or the
  value, when they state none); a limit the user set themselves stays and the request is
  clarified (the user says to raise it, the reference does). Kept only when re-execution
  shows every result equal with and without the fixes; a difference that stays is a finding
  (`RepairResult.divergent`).

Everything else (derived values, reachable lookups, order-independent pairs, unused reads,
unneeded reveals) is accepted or unrepaired with the reason. Schema findings are settled by the
schema patch (`schema_patch.patch_docs`, run here when the findings include schema ones) and
implementation findings by the port's code fixes (`code_fixes.FIXES`), each with its true
disposition (`doc_code_repair`). The repaired tasks run the port in repaired mode (the fixes on),
so their outcome references (final state, owed facts) are computed under the same mode; every
reference that behaves differently with and without the fixes is listed under its fix.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from eigencore.audit import fix_meaning
from eigencore.audit.doc_code_repair import (
    CodeChange,
    FixEffect,
    SchemaChange,
    code_changes,
    dispose,
    fix_effects,
    schema_changes,
)
from eigencore.audit.findings import Finding
from eigencore.audit.grounding import leaves, norm_text, words
from eigencore.audit.trajectory import (
    _ASKS_TO_SEE,
    Analysis,
    AuditContext,
    Trace,
    audit_entry,
    base_number,
    bind,
    expected_turns,
    failure_reason,
    request_text,
    trace,
    turn_roles,
)
from eigencore.bfcl.calls import Call, CallParseError, format_call, parse_call
from eigencore.bfcl.reference import ReferenceEpisode
from eigencore.bfcl.release import CATEGORIES, Entry, Release
from eigencore.evaluation.facts import fact_given
from eigencore.evaluation.task import Fact, Task

__all__ = [
    "REPAIR_VERSION",
    "SUITE",
    "Change",
    "Disposition",
    "OwedReference",
    "RepairResult",
    "owed_for",
    "repair",
    "repaired_task",
]

REPAIR_VERSION = "3"
"""Bumped whenever a rule changes, so cached repaired benchmarks are regenerated."""
SUITE = "bfcl-v3-repaired"
MAX_OWED = 8
_MAX_FACT_CHARS = 160  # one line of a file or a grep hit; longer prose is not quoted
NOOP_REPLY = "Sorry, I can't help with that."  # NoopAdapter's reply: owed facts must not be in it

ChangeKind = Literal[
    "edit_call",
    "add_call",
    "remove_call",
    "move_call",
    "clarify_text",
    "realign",
    "reveal_function",
    "set_config",
    "set_owed",
    "reconcile",
]
Status = Literal["repaired", "accepted", "unrepaired"]
_BLOCKING = ("error", "warning")
_OWED_CHECKS = {
    "trajectory.information_turn",
    "trajectory.owed_unrecognised",
    "trajectory.no_obligation",
    "trajectory.no_net_change",
}


class Change(BaseModel):
    """One edit of one entry: what it was, what it is now, why, and the findings it answers."""

    id: str
    entry_id: str
    turn: int | None = None
    change: ChangeKind
    before: Any = None
    after: Any = None
    why: str
    finding_ids: list[str] = Field(default_factory=list)


class Disposition(BaseModel):
    finding_id: str
    check: str
    severity: str
    entry_id: str | None = None
    turn: int | None = None
    status: Status
    reason: str
    changes: list[str] = Field(default_factory=list)


class RepairResult(BaseModel):
    release: str
    sha256: str
    repair_version: str = REPAIR_VERSION
    entries: list[Entry]
    """All entries in category order, repaired or unchanged."""
    owed: dict[str, list[list[Fact]]]
    changelog: list[Change]
    dispositions: list[Disposition]
    remaining: list[Finding] = Field(default_factory=list)
    """Error/warning findings the re-audit still reports on the repaired entries."""
    new: list[Finding] = Field(default_factory=list)
    """Error/warning findings of the re-audit that the original audit did not have."""
    trivial: list[str] = Field(default_factory=list)
    """Tasks a do-nothing agent would still pass (no net change and nothing owed)."""
    schema_changes: list[SchemaChange] = Field(default_factory=list)
    """The schema patch's entries (applied edits and the reasons for the others)."""
    schema_docs: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    """Patched function docs per class (only classes with an applied edit)."""
    code_changes: list[CodeChange] = Field(default_factory=list)
    """The port's code fixes, each with the repaired references it changes."""
    fix_effects: list[FixEffect] = Field(default_factory=list)
    """Every reference result that differs with and without the code fixes."""
    divergent: list[Finding] = Field(default_factory=list)
    """`fix_effects` as findings (`fix_meaning.CHECK`): a task whose meaning depends on the
    code, with why no reconciliation was kept."""

    def tasks(self, categories: Sequence[str] | None = None) -> list[Task]:
        wanted = set(categories or CATEGORIES)
        changes: dict[str, list[str]] = {}
        for c in self.changelog:
            changes.setdefault(c.entry_id, []).append(c.id)
        return [
            repaired_task(e, self.owed[e.id], changes.get(e.id, []))
            for e in self.entries
            if e.category in wanted
        ]

    def status_counts(self) -> dict[str, dict[str, int]]:
        """Per check: how many findings were repaired, accepted, unrepaired."""
        out: dict[str, Counter[str]] = {}
        for d in self.dispositions:
            out.setdefault(d.check, Counter())[d.status] += 1
        return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}


def repaired_task(entry: Entry, owed: list[list[Fact]], change_ids: Sequence[str] = ()) -> Task:
    """The EigenData task of a repaired entry, with its owed facts stated per turn."""
    from eigencore.bfcl.suite import entry_task

    task = entry_task(entry, suite=SUITE)
    # The repaired suite runs the port with its code fixes on (`code_fixes`).
    task.scenarios = {d: {**s, "repaired": True} for d, s in task.scenarios.items()}
    for turn, facts in zip(task.turns, owed, strict=True):
        turn.owed = list(facts)
    task.meta.update({"changes": list(change_ids), "repair_version": REPAIR_VERSION})
    return task


# --------------------------------------------------------------------------- entry edits


def _copy(entry: Entry, **update: Any) -> Entry:
    return entry.model_copy(update=update, deep=True)


def _set_turn(entry: Entry, turn: int, calls: list[str]) -> Entry:
    truth = [list(t) for t in entry.ground_truth]
    truth[turn] = list(calls)
    return _copy(entry, ground_truth=truth)


def _set_question(entry: Entry, turn: int, messages: list[dict[str, Any]]) -> Entry:
    question = [list(q) for q in entry.question]
    question[turn] = [dict(m) for m in messages]
    return _copy(entry, question=question)


def _user_text(entry: Entry, turn: int) -> str:
    return " ".join(
        str(m.get("content", "")) for m in entry.question[turn] if m.get("role") == "user"
    )


def _append_text(entry: Entry, turn: int, sentence: str) -> Entry:
    messages = [dict(m) for m in entry.question[turn]]
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not users:
        messages.append({"role": "user", "content": sentence})
    else:
        last = messages[users[-1]]
        last["content"] = f"{str(last.get('content', '')).rstrip()} {sentence}"
    return _set_question(entry, turn, messages)


def _turn_view(entry: Entry, turn: int) -> dict[str, Any]:
    return {"question": _user_text(entry, turn), "ground_truth": entry.ground_truth[turn]}


def _replace_leaf(value: Any, old: Any, new: Any) -> Any:
    if isinstance(value, dict):
        return {k: _replace_leaf(v, old, new) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_replace_leaf(v, old, new) for v in value)
    return new if value == old and type(value) is type(old) else value


def _replace_in_call(text: str, old: Any, new: Any) -> str:
    call = parse_call(text)
    args = tuple(_replace_leaf(a, old, new) for a in call.args)
    kwargs = {k: _replace_leaf(v, old, new) for k, v in call.kwargs.items()}
    if args == call.args and kwargs == call.kwargs:
        return text  # keep BFCL's own spelling of calls that do not change
    return format_call(Call(call.name, args, kwargs))


# --------------------------------------------------------------------------- words


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_GENERIC = frozenset(
    "get set list all by of the and for with info information status current user add new "
    "update display make find check".split()
)


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _word_set(text: str) -> set[str]:
    return {_stem(w) for w in words(text) if len(w) > 2 or w.isdigit()}


def _name_words(name: str) -> set[str]:
    return _word_set(_CAMEL.sub(" ", name).replace("_", " "))


def _arg_words(argument: str) -> str:
    """`fuelAmount` -> 'fuel amount', `updates.priority` -> 'priority'."""
    last = argument.rsplit(".", 1)[-1]
    return _CAMEL.sub(" ", last).replace("_", " ").lower().strip() or "value"


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"' if "'" in value else f"'{value}'"
    return str(value)


def _edit_distance(a: str, b: str, limit: int = 2) -> int:
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


_USER_TOKEN = re.compile(
    r"(?<!\w)'([^']{1,80}?)'(?!\w)|(?<!\w)\"([^\"]{1,80}?)\"(?!\w)"
    r"|\b([\w-]+\.[A-Za-z0-9]{1,5})\b"
)


def _user_tokens(text: str) -> list[str]:
    return [(m[1] or m[2] or m[3]).strip() for m in _USER_TOKEN.finditer(text)]


def _near_miss(value: str, said: str) -> str | None:
    """A value the user said that differs from `value` by a letter or two, with the same
    extension: the reference misspelled the user's name ('note.md' for 'notes.md')."""
    if len(value) < 5 or "." not in value:
        return None
    suffix = value.rsplit(".", 1)[-1].lower()
    hits = {t for t in _user_tokens(said)
            if t != value and "." in t and t.rsplit(".", 1)[-1].lower() == suffix
            and _edit_distance(t.lower(), value.lower()) <= 2}  # fmt: skip
    return hits.pop() if len(hits) == 1 else None


def _said_otherwise(value: str, said: str) -> str | None:
    """A quoted user text equal to `value` but for case and punctuation ('I am on my way' for
    'I am on my way.'): the user's own wording."""
    alnum = "".join(words(value))
    hits = {t for t in _user_tokens(said) if t != value and "".join(words(t)) == alnum}
    return hits.pop() if len(hits) == 1 else None


# --------------------------------------------------------------------------- one entry


_VERIFY = re.compile(
    r"\b(verif\w*|check\w*|confirm\w*|double-check\w*|ensur\w*|make sure|"
    r"validat\w*)\b",
    re.IGNORECASE,
)


def _key(f: Finding) -> tuple[Any, ...]:
    """Identity of a finding across audits of edited entries (call indices may shift)."""
    return (f.check, f.entry_id, f.turn, f.function, f.evidence.expected)


@dataclass
class _EntryRepair:
    """The repair state of one entry: the current version, its changes and decisions."""

    entry: Entry
    ctx: AuditContext
    base: Entry | None
    log: Callable[..., Change]
    decisions: dict[tuple[Any, ...], tuple[Status, str]] = field(default_factory=dict)
    informative: dict[int, list[str]] = field(default_factory=dict)
    cited: dict[str, list[str]] = field(default_factory=dict)
    rejected: str = ""
    """Why the last rejected candidate was rejected (the findings it would add)."""
    unreconciled: str = ""
    """Why a code fix's change of the reference was not reconciled (`keep_meaning`)."""
    reconciled: tuple[str, str] | None = None
    """(code fix id, change id) of the reconciliation `keep_meaning` kept."""
    _audit: list[Finding] | None = None

    # ---- validation

    def findings(self, entry: Entry | None = None) -> list[Finding]:
        if entry is None or entry is self.entry:
            if self._audit is None:
                self._audit = audit_entry(self.entry, self.ctx)
            return self._audit
        return audit_entry(entry, self.ctx)

    def _counts(self, found: Iterable[Finding], target: str) -> tuple[Counter[str], int]:
        found = list(found)
        blocking = Counter(f.check for f in found if f.severity in _BLOCKING)
        return blocking, sum(1 for f in found if f.check == target)

    def accept(
        self,
        candidate: Entry,
        target: str | None,
        *,
        any_severity: bool = False,
        allow: Collection[str] = (),
    ) -> bool:
        """Adopt the candidate when it removes a `target` finding (error/warning, or any
        severity; no target: nothing to remove) and adds no error or warning of any kind but
        `allow` (what the edit necessarily causes)."""
        old_block, old_all = self._counts(self.findings(), target or "")
        new_found = self.findings(candidate)
        new_block, new_all = self._counts(new_found, target or "")
        if target is None:
            fewer = True
        elif any_severity:
            fewer = new_all < old_all
        else:
            fewer = new_block[target] < old_block[target]
        tolerated = set(allow)
        if not fewer or any(new_block[c] > old_block[c] for c in new_block if c not in tolerated):
            added = [f.summary for f in new_found if f.severity in _BLOCKING
                     and new_block[f.check] > old_block[f.check]]  # fmt: skip
            self.rejected = "; ".join(sorted(set(added))[:2]) or "it removes nothing"
            return False
        self.entry, self._audit = candidate, new_found
        return True

    def note(self, finding: Finding, status: Status, reason: str) -> None:
        self.decisions[_key(finding)] = (status, reason)

    def change(
        self,
        turn: int | None,
        kind: ChangeKind,
        before: Any,
        after: Any,
        why: str,
        findings: Sequence[Finding],
    ) -> Change:
        change = self.log(self.entry.id, turn, kind, before, after, why, [f.id for f in findings])
        for f in findings:
            self.cited.setdefault(f.id, []).append(change.id)
        return change

    def current(self, check: str, severities: Sequence[str] = _BLOCKING) -> list[Finding]:
        return [f for f in self.findings() if f.check == check and f.severity in severities]

    # ---- 0. the base's repairs, mirrored

    def mirror(self, base: Entry, changes: Sequence[Change]) -> None:
        """Apply the base's text clarifications and call edits to the variant's corresponding
        turns, so that base and variant stay aligned (the variant has the same defects)."""
        expect = expected_turns(self.entry, base)
        if expect is None or len(expect) != len(self.entry.question):
            return
        for c in changes:
            if c.turn is None or c.change not in ("clarify_text", "edit_call", "remove_call"):
                continue
            turns = [t for t, e in enumerate(expect) if e.base_turn == c.turn]
            candidate = self.entry
            if c.change == "clarify_text":
                said = [t for t in turns if _user_text(self.entry, t)]
                target = said[-1] if said else None
                head = str(c.before).rstrip()
                sentence = str(c.after)[len(head):].strip() if str(c.after).startswith(
                    head) else ""  # fmt: skip
                if target is None or not sentence or norm_text(sentence) in norm_text(
                        _user_text(self.entry, target)):  # fmt: skip
                    continue
                candidate = _append_text(self.entry, target, sentence)
            elif c.change == "edit_call":
                later = {t for t, e in enumerate(expect)
                         if e.base_turn is not None and e.base_turn >= c.turn}  # fmt: skip
                truth = [
                    [_replace_in_call(x, c.before, c.after) if t in later else x for x in calls]
                    for t, calls in enumerate(self.entry.ground_truth)
                ]
                candidate = _copy(self.entry, ground_truth=truth)
            else:
                where = [t for t in turns if c.before in self.entry.ground_truth[t]]
                if not where:
                    continue
                calls = list(self.entry.ground_truth[where[0]])
                calls.remove(str(c.before))
                candidate = _set_turn(self.entry, where[0], calls)
            if candidate == self.entry:
                continue
            target_turn = next((t for t in turns if candidate.question[t] != self.entry.question[t]
                                or candidate.ground_truth[t] != self.entry.ground_truth[t]),
                               turns[0] if turns else None)  # fmt: skip
            before = self.entry
            if self.accept(candidate, None):
                t = target_turn if target_turn is not None else c.turn
                self.change(
                    t,
                    c.change,
                    _turn_view(before, t),
                    _turn_view(self.entry, t),
                    f"mirrors {c.id} of {base.id}: {c.why}",
                    [],
                )

    # ---- 0b. code fixes that change the reference

    def keep_meaning(self) -> None:
        """Repair the scenario or request when the code fixes change what the reference
        returns (`fix_meaning.reconcile`); kept only when `fix_meaning.verify` passes (every
        result equal with and without the fixes, the guarded call's original result kept)
        and the re-audit adds nothing."""
        effects = fix_meaning.divergences(self.entry)
        if not effects:
            return
        docs = {name: doc for name, (_, doc) in self.ctx.docs.items()}
        found = fix_meaning.reconcile(self.entry, effects, docs)
        problem = fix_meaning.verify(found)
        if problem is not None or found.entry is None:
            self.unreconciled = problem or found.why
            return
        if not self.accept(found.entry, None):
            self.unreconciled = f"the candidate repair adds findings: {self.rejected}"
            return
        change = self.change(
            found.turn,
            "reconcile",
            found.before,
            found.after,
            f"{found.why}. Re-executed: every result of the repaired reference is now equal "
            "with and without the fixes",
            [],
        )
        self.reconciled = (found.fix, change.id)

    # ---- 1. alignment

    def realign(self) -> None:
        base = self.base
        if base is None or self.entry.category == "base":
            return
        config = [f for f in self.current("trajectory.variant_divergence")
                  if f.id.endswith(":config")]  # fmt: skip
        if config:
            candidate = _copy(self.entry, initial_config=base.initial_config)
            if self.accept(candidate, "trajectory.variant_divergence"):
                self.change(0, "set_config", config[0].evidence.state_diff, "base's config",
                            f"{self.entry.category} keeps the base's initial_config; the variant's "
                            f"differs ({config[0].evidence.state_diff}) without a convention "
                            "that explains it", config)  # fmt: skip
            else:
                self.note(
                    config[0],
                    "unrepaired",
                    f"realigning the config to the base's adds: {self.rejected} (the variant's "
                    "ground truth depends on its own config)",
                )
        if self.entry.category == "miss_param":
            self._realign_miss_param(base)
        for f in self.current("trajectory.variant_divergence"):
            if f.turn is None or f.id.endswith(":config"):
                continue
            self._realign_turn(base, f)
        for f in self.current("trajectory.clarification_mismatch"):
            self._fix_clarification(base, f)

    def _realign_turn(self, base: Entry, f: Finding) -> None:
        expect = expected_turns(self.entry, base)
        t = f.turn
        if expect is None or t is None or len(expect) != len(self.entry.question):
            self.note(
                f,
                "unrepaired",
                "the variant's turn structure does not follow its "
                "category's convention, so no base turn corresponds",
            )
            return
        exp = expect[t]
        if self.entry.category == "long_context":
            shown = self._long_state_shows(base, t)
            if shown is not None:
                self.note(
                    f,
                    "accepted",
                    f"the long-context state changes what the agent sees "
                    f"({shown}); the variant's own value follows it",
                )
                return
        candidate = _set_turn(self.entry, t, exp.ground_truth)
        question_too = "question" in f.summary.split(" differ ")[0]
        if question_too and exp.question is not None:
            candidate = _set_question(candidate, t, exp.question)
        before = {
            "ground_truth": self.entry.ground_truth[t],
            **({"question": _user_text(self.entry, t)} if question_too else {}),
        }
        if self.accept(candidate, "trajectory.variant_divergence"):
            after = {
                "ground_truth": exp.ground_truth,
                **({"question": _user_text(candidate, t)} if question_too else {}),
            }
            self.change(
                t,
                "realign",
                before,
                after,
                f"turn {t} of {self.entry.id} must equal {base.id} turn {exp.base_turn} "
                f"under the {self.entry.category} convention; it differs without cause "
                f"({f.evidence.notes or f.summary})",
                [f],
            )
            return
        why = self.rejected
        self.note(
            f,
            "unrepaired",
            f"realigning to {base.id} turn {exp.base_turn} is rejected "
            f"by re-execution: {why}"
            + (
                " (the variant's own value follows its longer state)"
                if self.entry.category == "long_context"
                else ""
            ),
        )

    def _long_state_shows(self, base: Entry, t: int) -> str | None:
        """A call of turns 0..t, made alike by base and variant, whose result differs in the
        variant's longer state (None: the state explains no divergence up to turn t)."""
        mine = self.ctx.analysis(self.entry).trace.turns
        theirs = self.ctx.analysis(base).trace.turns
        for a, b in zip(mine[: t + 1], theirs[: t + 1], strict=False):
            for x, y in zip(a.calls, b.calls, strict=False):
                if x.text == y.text and x.result.text != y.result.text:
                    return f"{x.text[:80]} returns {x.result.text[:80]}..."
        return None

    def _realign_miss_param(self, base: Entry) -> None:
        """miss_param marks its ask-missing turn only by an empty ground truth; when a base
        has empty turns too the ground truth can sit one split off its questions. Realign it
        to the split under which the most questions equal the base's."""

        def alnum(messages: list[dict[str, Any]]) -> str:
            return "".join(words(" ".join(str(m.get("content", "")) for m in messages)))

        n = len(base.question)
        if len(self.entry.question) != n + 1:
            return

        def score(k: int) -> int:
            qs = [*range(k), *range(k + 1, n)]
            # variant turn of base turn b: b before k, b+1 after (k and k+1 are new texts)
            return sum(alnum(self.entry.question[b if b < k else b + 1]) == alnum(base.question[b])
                       for b in qs)  # fmt: skip

        empty = [t for t, calls in enumerate(self.entry.ground_truth) if not calls]
        if not empty or empty[0] >= n:
            return
        current = empty[0]
        best = max(range(n), key=lambda k: (score(k), k == current))
        if best == current or score(best) < score(current) + 2:
            return
        truth = [
            *base.ground_truth[:best],
            [],
            base.ground_truth[best],
            *base.ground_truth[best + 1 :],
        ]
        infos = [f for f in self.current("trajectory.variant_divergence", ("info",))]
        candidate = _copy(self.entry, ground_truth=[list(t) for t in truth])
        before = self.entry.ground_truth
        if self.accept(candidate, "trajectory.variant_divergence", any_severity=True):
            self.change(
                None,
                "realign",
                before,
                truth,
                f"the ground truth follows the miss_param split at turn {current} but the "
                f"questions follow the split at turn {best} ({score(best)} of {n - 1} base "
                f"questions line up there, {score(current)} at turn {current}): the "
                "ground truth is realigned to the questions",
                infos,
            )

    def _fix_clarification(self, base: Entry, f: Finding) -> None:
        t = f.turn
        dropped = re.findall(r"'([^']+)'", f.summary.split(", which")[0])
        if t is None or not dropped:
            self.note(f, "unrepaired", "the dropped value could not be read from the finding")
            return
        text = _user_text(self.entry, t)
        value = dropped[0]
        # A clarification naming one other value names the wrong one: swap it for the dropped
        # value; otherwise the dropped value is added.
        named = [tok for tok in _user_tokens(text) if tok != value]
        new_text = (
            text.replace(named[0], value)
            if len(named) == 1
            else f"{text.rstrip()} (It is '{value}'.)"
        )
        candidate = _set_question(self.entry, t, [{"role": "user", "content": new_text}])
        if self.accept(candidate, "trajectory.clarification_mismatch"):
            wrong = f"; it named {named[0]!r} instead" if len(named) == 1 else ""
            self.change(
                t,
                "clarify_text",
                text,
                new_text,
                f"the clarification must supply {value!r}, which turn {t - 1} dropped "
                f"from {base.id}'s question and the reference then uses{wrong}",
                [f],
            )
        else:
            self.note(f, "unrepaired", "re-execution rejects the rewritten clarification")

    # ---- 2. withheld functions

    def withheld(self) -> None:
        for f in self.current("trajectory.withheld_function_used"):
            name, t = f.function, f.turn
            if name is None or t is None:
                continue
            reveals = sorted(int(k) for k, names in self.entry.missed_function.items()
                             if name in names)  # fmt: skip
            if not reveals:
                continue
            r = reveals[0]
            held = self.entry.missed_function[str(r)]
            used_at_reveal = {parse_call(c).name for c in self.entry.ground_truth[r]}
            others = [n for n in held if n != name and n in used_at_reveal]
            if others:
                missed = {k: [n for n in v if n != name] for k, v in
                          self.entry.missed_function.items()}  # fmt: skip
                candidate = _copy(self.entry, missed_function=missed)
                if self.accept(candidate, "trajectory.withheld_function_used"):
                    self.change(
                        r,
                        "reveal_function",
                        {str(r): held},
                        {str(r): missed[str(r)]},
                        f"turn {t} calls {name}, held out until turn {r}; the reveal still "
                        f"tests {', '.join(others)}, so {name} is shown from the start",
                        [f],
                    )
                    continue
            calls = list(self.entry.ground_truth[t])
            text = next((c for c in calls if parse_call(c).name == name), None)
            if text is None:
                continue
            calls.remove(text)
            candidate = _set_turn(self.entry, t, calls)
            candidate = _set_turn(candidate, r, [*candidate.ground_truth[r], text])
            # Moving the call is the point: the variant then differs from its base there.
            if self.accept(
                candidate,
                "trajectory.withheld_function_used",
                allow=("trajectory.variant_divergence",),
            ):
                self.change(
                    t,
                    "move_call",
                    {"turn": t, "call": text},
                    {"turn": r, "call": text},
                    f"{name} is held out until turn {r}: the call moves to the reveal turn",
                    [f],
                )
            else:
                self.note(
                    f,
                    "unrepaired",
                    f"neither showing {name} earlier nor moving the call "
                    f"to turn {r} passes re-execution",
                )

    # ---- 3. failing calls

    def failures(self) -> None:
        for f in [*self.current("trajectory.call_failed"),
                  *self.current("trajectory.call_error")]:  # fmt: skip
            t = f.turn
            tr = self.ctx.analysis(self.entry).trace
            if t is None or t >= len(tr.turns):
                continue
            steps = [s for s in tr.turns[t].calls
                     if s.call is not None and s.call.name == f.function
                     and failure_reason(s.result) is not None]  # fmt: skip
            if not steps:
                continue
            step = steps[0]
            request = request_text(self.entry, t)
            asked = _VERIFY.search(request)
            if not step.changed and (asked or len(tr.turns[t].calls) == 1):
                why = (
                    f"the user asks to {asked[0].lower()}"
                    if asked
                    else "it is the turn's only call"
                )
                self.informative.setdefault(t, []).append(step.text)
                self.note(
                    f,
                    "accepted",
                    f"the failure is the answer: {why}, and the result "
                    f"({step.result.text[:160]}) is what the user must be told; it is "
                    "owed in this turn",
                )
                continue
            calls = list(self.entry.ground_truth[t])
            calls.pop(step.index)
            candidate = _set_turn(self.entry, t, calls)
            problem = _removal_changes(tr, trace(candidate, self.ctx.release), t, step.index)
            if problem is None and self.accept(candidate, f.check):
                self.change(
                    t,
                    "remove_call",
                    step.text,
                    None,
                    f"{step.text} fails ({step.result.text[:160]}) and changes nothing: "
                    "without it every later call returns the same result and every "
                    "turn ends in the same state",
                    [f],
                )
            else:
                self.note(
                    f,
                    "unrepaired",
                    f"removing the failing call {problem or 'adds findings'}"
                    "; the failure stays in the reference",
                )

    # ---- 4. unaddressed turns

    def unaddressed(self) -> None:
        for f in self.current("trajectory.unaddressed_turn"):
            t = f.turn
            if t is None or self.entry.ground_truth[t]:
                continue
            call, problems = _candidate_call(self.entry, t, self.ctx)
            if call is not None:
                candidate = _set_turn(self.entry, t, [call])
                # A turn that gains a read becomes an information turn: the owed facts set
                # afterwards settle its information warnings.
                if self.accept(candidate, "trajectory.unaddressed_turn", allow=_OWED_CHECKS):
                    self.change(
                        t,
                        "add_call",
                        [],
                        [call],
                        f"turn {t} asks for something and the reference does nothing; "
                        f"{call} does it (executed: it succeeds on the state after the "
                        "previous turns)",
                        [f],
                    )
                    continue
                problems.append(f"{call} adds findings")
            self.note(
                f,
                "unrepaired",
                "no call accomplishes the request: "
                # what execution refused first, then missing values, then mere repeats
                + (
                    "; ".join(sorted(problems, key=lambda p: ("returns" not in p, "repeat" in p)))
                    or "no function of the involved classes matches it"
                ),
            )

    # ---- 5. grounding

    def grounding(self) -> None:
        analysis = self.ctx.analysis(self.entry)
        pending = [
            f
            for f in self.findings()
            if f.check in ("trajectory.ungrounded_value", "trajectory.composed_value")
        ]
        for arg in _flagged_args(analysis):
            kind = (
                "trajectory.ungrounded_value" if not arg.composed else "trajectory.composed_value"
            )
            matches = [
                f
                for f in pending
                if f.check == kind
                and f.turn == arg.step.turn
                and _same_value(f.evidence.expected, arg.argument, arg.value)
            ]
            if kind == "trajectory.composed_value":
                reason = _composed_reason(arg)
                if reason is not None:
                    for f in matches:
                        self.note(f, "accepted", reason)
                    continue
            self._clarify_value(arg, kind, matches)

    def _clarify_value(self, arg: Any, kind: str, matches: list[Finding]) -> None:
        step = arg.step
        t = step.turn
        said = " ".join(
            _user_text(self.entry, i) for i in range(min(t + 1, len(self.entry.question)))
        )
        value = arg.value
        if isinstance(value, str):
            said_as = (
                _near_miss(value, said)
                if kind == "trajectory.ungrounded_value"
                else _said_otherwise(value, said)
            )
            if said_as is not None:
                truth = [
                    [_replace_in_call(c, value, said_as) if i >= t else c for c in calls]
                    for i, calls in enumerate(self.entry.ground_truth)
                ]
                candidate = _copy(self.entry, ground_truth=truth)
                if self.accept(candidate, kind):
                    how = (
                        "one or two letters apart"
                        if kind == "trajectory.ungrounded_value"
                        else "the same words, other case or punctuation"
                    )
                    self.change(
                        t,
                        "edit_call",
                        value,
                        said_as,
                        f"{arg.argument}={value!r} is said nowhere; the user said "
                        f"{said_as!r} ({how}): the reference uses the user's text from "
                        "this turn on",
                        matches,
                    )
                    return
        q = t - 1 if turn_roles(self.entry).get(t) == "reveal" else t
        if q < 0 or not self.entry.question[q]:
            for f in matches:
                self.note(f, "unrepaired", "no user turn to clarify")
            return
        if kind == "trajectory.ungrounded_value":
            sentence = f"(The {_arg_words(arg.argument)} is {_shown(value)}.)"
        else:
            sentence = f"(Use exactly this {_arg_words(arg.argument)}: {_shown(value)}.)"
        before = _user_text(self.entry, q)
        if norm_text(sentence) in norm_text(before):
            return
        candidate = _append_text(self.entry, q, sentence)
        if self.accept(candidate, kind):
            why = (
                f"{arg.argument}={_shown(value)} is needed by {step.text[:120]} but said "
                "nowhere before it"
                if kind == "trajectory.ungrounded_value"
                else f"{arg.argument}={_shown(value)[:120]} must match exactly (BFCL and the "
                "outcome verdict compare it) but its wording is not given"
            )
            self.change(
                q,
                "clarify_text",
                before,
                _user_text(self.entry, q),
                why + "; the user now states it",
                matches,
            )
        else:
            for f in matches:
                self.note(f, "unrepaired", f"the clarified text adds: {self.rejected}")


def _same_value(expected: str | None, argument: str, value: Any) -> bool:
    """Does a grounding finding's `expected` ("arg = repr", clipped) name this value?"""
    if not expected or not expected.startswith(f"{argument} = "):
        return False
    shown = expected[len(argument) + 3 :]
    full = repr(value)
    return shown == full or (shown.endswith("...") and full.startswith(shown[:-3]))


def _flagged_args(analysis: Analysis) -> list[Any]:
    """First occurrences of values found nowhere (ungrounded) or not verbatim (composed)."""
    out: list[Any] = []
    seen: set[str] = set()
    for arg in analysis.args:
        if arg.sources or arg.derivation is not None:
            continue
        key = norm_text(repr(arg.value))
        if key in seen:
            continue
        seen.add(key)
        out.append(arg)
    return out


def _composed_reason(arg: Any) -> str | None:
    """Why a composed value stays (None: its wording must be given to the agent)."""
    if not arg.step.changed:
        return (
            "an argument of a call that changes no state: the outcome verdict does not compare it"
        )
    value = arg.value
    if not isinstance(value, str):
        return "not text"
    if arg.missing_words:
        return None
    kinds = {p.kind for p in arg.composed}
    if len(words(value)) < 4:
        return (
            "a short value assembled from what the agent has seen ("
            + ", ".join(sorted(p.label for p in arg.composed))[:160]
            + "): reformatting it is part of the task"
        )
    if len(arg.composed) == 1 and kinds <= {"output", "state"}:
        return (
            f"copied from one source the agent reads ({arg.composed[0].label[:120]}): "
            "part of the task"
        )
    return None


def _removal_changes(before: Trace, after: Trace, t: int, index: int) -> str | None:
    """What leaving out call `index` of turn `t` changes (None: nothing)."""
    for turn_before, turn_after in zip(before.turns, after.turns, strict=True):
        steps = [s for s in turn_before.calls if not (s.turn == t and s.index == index)]
        for old, new in zip(steps, turn_after.calls, strict=True):
            if old.result.text != new.result.text:
                return f"changes the result of {new.text[:100]}"
        if turn_before.after != turn_after.after:
            return f"changes the state after turn {turn_before.index}"
    return None


def _candidate_call(entry: Entry, t: int, ctx: AuditContext) -> tuple[str | None, list[str]]:
    """A call that does turn `t`'s request: the function whose name shares most words with
    it, its arguments from earlier calls and results; None with the reasons when none works."""
    request = _word_set(request_text(entry, t)) - _GENERIC
    hidden = entry.withheld_functions(t)
    scored = sorted(
        (
            (len((_name_words(name) - _GENERIC) & request), name, doc)
            for name, (cls, doc) in ctx.docs.items()
            if cls in entry.involved_classes and name not in hidden
        ),
        key=lambda x: (-x[0], x[1]),
    )
    scored = [s for s in scored if s[0] > 0]
    if not scored:
        return None, []
    tr = trace(_copy(entry, ground_truth=entry.ground_truth[:t] + [[]] * (len(
        entry.ground_truth) - t)), ctx.release)  # fmt: skip
    values = _known_values(entry, t, tr, ctx)
    earlier = {c for calls in entry.ground_truth[:t] for c in calls}
    problems: list[str] = []
    for _, name, doc in scored[:8]:
        params = doc.get("parameters", {})
        required = list(params.get("required", []))
        kwargs: dict[str, Any] = {}
        missing = []
        for param in params.get("properties", {}):
            if param in values:
                kwargs[param] = values[param]
            elif param in required:
                missing.append(param)
        if missing:
            problems.append(
                f"{name} needs {', '.join(missing)}, which no earlier call or "
                "result gives (supplying it would be an ungrounded value)"
            )
            continue
        text = format_call(Call(name, (), kwargs))
        if any(_same_call(text, c, ctx) for c in earlier):
            problems.append(f"{text} would repeat an earlier call")
            continue
        episode = ReferenceEpisode(entry, ctx.release)
        for prior in entry.ground_truth[:t]:
            episode.execute_all(prior)
        result = episode.execute(text)
        if result.error or result.reported_error or failure_reason(result) is not None:
            problems.append(f"{text} returns {result.text[:160]}")
            continue
        return text, problems
    return None, problems


def _same_call(a: str, b: str, ctx: AuditContext) -> bool:
    try:
        ca, cb = parse_call(a), parse_call(b)
    except CallParseError:
        return False
    return ca.name == cb.name and bind(ca, ctx) == bind(cb, ctx)


def _known_values(entry: Entry, t: int, tr: Trace, ctx: AuditContext) -> dict[str, Any]:
    """Parameter name -> latest value an earlier call passed or an earlier result returned."""
    values: dict[str, Any] = {}
    for turn in tr.turns[:t]:
        for step in turn.calls:
            if step.call is None:
                continue
            for name, value in bind(step.call, ctx).items():
                values[name] = value
            if isinstance(step.result.value, dict) and not step.result.reported_error:
                for path, leaf in leaves(step.result.value):
                    if path and path[-1] != "@key" and len(path) == 1:
                        values[path[-1]] = leaf
    return values


# --------------------------------------------------------------------------- owed facts


def _pieces(value: Any) -> list[Any]:
    """A result leaf as facts: multi-line text line by line (a file's lines, grep hits), but
    nothing of a wrapped paragraph (a line going on in lower case): prose gets paraphrased."""
    if isinstance(value, str) and "\n" in value:
        lines = [line.strip() for line in value.split("\n") if line.strip()]
        if any(line[0].islower() for line in lines[1:]):
            return []
        return lines
    return [value]


def _is_fact(value: Any) -> bool:
    if value is None or isinstance(value, bool) or value == "":
        return False
    if isinstance(value, str):
        if not value.isascii():
            # Tool results reach the agent JSON-escaped ("\u2019"), and the fact check compares
            # text literally: such a fact could not be matched even when given.
            return False
        text = norm_text(value)
        return (
            len(value) <= _MAX_FACT_CHARS
            and len(text) > 1
            and not fact_given(Fact(value=value), NOOP_REPLY)
        )
    return isinstance(value, int | float)


def _plain(value: Any) -> Any:
    return value.model_dump() if isinstance(value, BaseModel) else value


@dataclass(frozen=True)
class _Candidate:
    fact: Fact
    keys: frozenset[str]


def _facts_of(call_text: str, value: Any, tool: str, said: str) -> list[_Candidate]:
    try:
        call = parse_call(call_text)
        echoed = {norm_text(str(leaf)) for v in [*call.args, *call.kwargs.values()]
                  for _, leaf in leaves(v)}  # fmt: skip
    except CallParseError:
        echoed = set()
    out: list[_Candidate] = []
    for path, leaf in leaves(_plain(value)):
        if path and path[-1] == "@key":
            continue
        for piece in _pieces(leaf):
            if not _is_fact(piece) or norm_text(str(piece)) in echoed:
                continue
            if fact_given(Fact(value=piece), said):
                continue  # the user cannot be owed what they said themselves
            keys = frozenset().union(*(_name_words(p) for p in path)) if path else frozenset()
            out.append(
                _Candidate(Fact(value=piece, label=f"{tool}.{'.'.join(path)}".rstrip(".")), keys)
            )
    return out


def _dedupe(cands: Iterable[_Candidate]) -> list[Fact]:
    seen: set[str] = set()
    out: list[Fact] = []
    for c in cands:
        ident = repr(c.fact.value)
        if ident not in seen:
            seen.add(ident)
            out.append(c.fact)
    return out[:MAX_OWED]


@dataclass
class OwedReference:
    """The outcome reference's information part: per turn the facts owed, and why not."""

    owed: list[list[Fact]]
    why: dict[int, str]
    """Turn -> why it owes nothing; -1: how a task ending where it started was made to owe."""
    net_change: bool
    """The reference's final state differs from the initial one."""

    @property
    def trivial(self) -> bool:
        """A do-nothing agent passes: no net change and nothing owed."""
        return not self.net_change and not any(self.owed)


def owed_for(
    entry: Entry, task: Task, informative: Mapping[int, Sequence[str]] | None = None
) -> OwedReference:
    """Per turn, the facts the user must be given, from the port's execution of the task's
    reference; with, for turns owing nothing, why."""
    from eigencore.evaluation.outcome import asks_for_information, reference_outcome

    informative = informative or {}
    outcome = reference_outcome(task)
    owed: list[list[Fact]] = []
    why: dict[int, str] = {}
    said = ""
    for t, (turn, calls) in enumerate(zip(task.turns, outcome.calls, strict=True)):
        said = f"{said} {' '.join(str(m.get('content', '')) for m in turn.messages)}"
        request = request_text(entry, t)
        before = outcome.turn_states[t - 1] if t else None
        changed = (
            outcome.turn_states[t] != before
            if before is not None
            else any(not d.empty for d in outcome.turn_states[0].values())
        )
        asks = asks_for_information(request) or bool(_ASKS_TO_SEE.search(request))
        asked = _word_set(request)
        # In a turn that changes nothing, a call the port does not flag read-only (retrieve an
        # invoice, update the market status) is a read too when the user asks to see something.
        reads = [c for c in calls if c.ok and (c.tool.read_only or (asks and not changed))]
        cands = [x for c in reads for x in _facts_of(c.call, c.value, c.tool.name, said)]
        named = [c for c in cands if c.keys & asked]
        kept = [x for c in calls if c.ok and c.call in informative.get(t, ())
                for x in _facts_of(c.call, c.value, c.tool.name, said)]  # fmt: skip
        if not changed:
            chosen = named or _last_read_facts(reads, said) or cands
        else:
            chosen = named if asks else []
        facts = _dedupe([*kept, *chosen])
        owed.append(facts)
        if not facts:
            why[t] = _why_nothing(calls, changed, asks, reads, said)
    net_change = not all(d.empty for d in outcome.final_state.values())
    if not net_change and not any(owed):
        _owe_identifiers(outcome, owed, why, said)
    return OwedReference(owed, why, net_change)


def _last_read_facts(reads: Sequence[Any], said: str) -> list[_Candidate]:
    for c in reversed(reads):
        facts = _facts_of(c.call, c.value, c.tool.name, said)
        if facts:
            return facts if len(facts) <= MAX_OWED else []
    return []


def _why_nothing(
    calls: Sequence[Any], changed: bool, asks: bool, reads: Sequence[Any], said: str
) -> str:
    if not calls:
        return "no reference call"
    if changed and not asks:
        return "the turn changes state and asks for no information"
    if changed:
        return "the request names no key of what its reads return"
    if not reads:
        return "its only calls are writes that change nothing here (already done)"
    raw = [
        piece
        for c in reads
        for _, leaf in leaves(_plain(c.value))
        for piece in _pieces(leaf)
        if piece not in (None, "") and not isinstance(piece, bool)
    ]
    if not raw:
        return "its reads return nothing but flags or empty values"
    if all(isinstance(p, str) and len(p) > _MAX_FACT_CHARS for p in raw):
        return f"its reads return only long text (over {_MAX_FACT_CHARS} characters a line)"
    return "its reads only repeat what the user said or the call's own arguments"


def _owe_identifiers(outcome: Any, owed: list[list[Fact]], why: dict[int, str], said: str) -> None:
    """A task whose reference ends where it started owes the identifiers its writes returned
    (a booking reference): otherwise doing nothing would pass it."""
    for t, calls in enumerate(outcome.calls):
        writes = [c for c in calls if c.ok and not c.tool.read_only]
        cands = [x for c in writes for x in _facts_of(c.call, c.value, c.tool.name, said)]
        ids = [c for c in cands if any(k == "id" or k.endswith("id") for k in c.keys)]
        if ids or cands:
            owed[t] = _dedupe(ids or cands)[:3]
            why.pop(t, None)
            why[-1] = (
                f"the reference ends in the initial state: turn {t} owes the identifiers "
                "its writes returned"
            )
            return


# --------------------------------------------------------------------------- driver


_ACCEPTED: dict[str, str] = {
    "trajectory.derived_value": "computable in one step from what the agent has seen ({notes}): "
    "computing it is part of the task",
    "trajectory.composed_value": "assembled from what the agent has seen: part of the task",
    "trajectory.skipped_lookup": "reachable with a lookup the agent can make; the outcome "
    "verdict does not require the reference's own reads",
    "trajectory.order_independent": "either order gives the same results and state; the outcome "
    "verdict does not compare call order",
    "trajectory.unused_read": "the outcome verdict does not require this read (BFCL's response "
    "check does)",
    "trajectory.unrequested_call": "a lexical signal only; execution shows the call is part of "
    "the request's effect",
}
_UNREPAIRED: dict[str, str] = {
    "trajectory.reveal_unused": "the held-out function is not needed, so acting at the request "
    "turn and waiting for the function are both defensible: the outcome (final-state) verdict "
    "accepts both, BFCL's and the per-turn verdicts only waiting; changing the miss_func "
    "structure is left to review",
    "trajectory.judge_unsupported": "a semantic judgement: left to review",
    "trajectory.replay_failed": "the scenario cannot be executed",
}


@dataclass
class _Log:
    changes: list[Change] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)

    def __call__(
        self,
        entry_id: str,
        turn: int | None,
        kind: ChangeKind,
        before: Any,
        after: Any,
        why: str,
        finding_ids: list[str],
    ) -> Change:
        self.counters[entry_id] += 1
        change = Change(
            id=f"{entry_id}#{self.counters[entry_id]}",
            entry_id=entry_id,
            turn=turn,
            change=kind,
            before=before,
            after=after,
            why=why,
            finding_ids=finding_ids,
        )
        self.changes.append(change)
        return change


def _repair_one(
    entry: Entry,
    ctx: AuditContext,
    base: Entry | None,
    log: _Log,
    mirrored: tuple[Entry, Sequence[Change]] | None = None,
) -> _EntryRepair:
    state = _EntryRepair(entry=entry, ctx=ctx, base=base, log=log)
    if mirrored is not None and mirrored[1]:
        state.mirror(*mirrored)
    state.keep_meaning()
    if not any(f.severity in _BLOCKING for f in state.findings()):
        return state
    state.realign()
    state.withheld()
    state.failures()
    state.unaddressed()
    state.grounding()
    return state


def repair(
    release: Release,
    findings: Sequence[Finding],
    *,
    entries: Sequence[Entry] | None = None,
    progress: Callable[[str], None] | None = None,
) -> RepairResult:
    """Repair `entries` (default: every entry of the release) given the release's audit.

    The rules act on each entry's own re-executed audit; `findings` (the audit report) are
    what every disposition answers. A variant is realigned to its repaired base when the base
    is among `entries`, else to the release's base. Schema findings among `findings` are
    patched (`schema_patch.patch_docs`); implementation findings are matched with the code
    fixes.
    """
    say = progress or (lambda _msg: None)
    todo = list(entries) if entries is not None else release.all_entries()
    bases = {base_number(e): e for e in release.entries("base")}
    originals = dict(bases)
    ctx = AuditContext(release=release, bases=dict(bases), swap_check=False)
    log = _Log()
    states: dict[str, _EntryRepair] = {}
    for e in todo:
        if e.category == "base":
            states[e.id] = _repair_one(e, ctx, None, log)
            bases[base_number(e)] = states[e.id].entry
    vctx = AuditContext(release=release, bases=bases, swap_check=False)
    vctx._pools = ctx._pools  # pools depend on the scenario only
    say(f"bases done: {len(log.changes)} changes")
    base_changes: dict[str, list[Change]] = {}
    for c in log.changes:
        base_changes.setdefault(c.entry_id, []).append(c)
    for e in todo:
        if e.category != "base":
            n = base_number(e)
            original = originals.get(n)
            mirrored = (original, base_changes.get(original.id, [])) if original else None
            states[e.id] = _repair_one(e, vctx, bases.get(n), log, mirrored)
    say(f"variants done: {len(log.changes)} changes")
    repaired = [states[e.id].entry for e in todo]
    references: dict[str, OwedReference] = {}
    for e in repaired:
        ref = owed_for(e, repaired_task(e, [[] for _ in e.ground_truth]), states[e.id].informative)
        references[e.id] = ref
        for t, facts in enumerate(ref.owed):
            if facts:
                source = (
                    "its kept failure reports"
                    if t in states[e.id].informative
                    else "the request asks for"
                )
                note = f" ({ref.why[-1]})" if f"turn {t} owes the identifiers" in ref.why.get(
                    -1, "") else ""  # fmt: skip
                log(
                    e.id,
                    t,
                    "set_owed",
                    None,
                    [f.model_dump() for f in facts],
                    f"turn {t} owes what {source}{note}: facts from the reference's results on "
                    "the port",
                    [],
                )
    say(f"owed facts set; {sum(r.trivial for r in references.values())} trivial")
    final_ctx = AuditContext(release=release, bases=bases, swap_check=True)
    final_ctx._pools = ctx._pools
    after = {e.id: audit_entry(e, final_ctx) for e in repaired}
    say("re-audit done")
    effects = fix_effects([repaired_task(e, references[e.id].owed) for e in repaired])
    say(f"code fixes: {len(effects)} reference results differ with and without them")
    patched = any(f.kind == "schema" for f in findings)
    docs, patch_entries = _schema_patch(release, findings) if patched else ({}, [])
    result = RepairResult(
        release=release.version,
        sha256=release.sha256,
        entries=repaired,
        owed={i: r.owed for i, r in references.items()},
        changelog=log.changes,
        dispositions=[],
        trivial=[i for i, r in references.items() if r.trivial],
        schema_changes=schema_changes(patch_entries),
        schema_docs=docs,
        code_changes=code_changes(effects, _reconciled(states.values())),
        fix_effects=effects,
        divergent=fix_meaning.divergence_findings(
            effects, {i: s.unreconciled for i, s in states.items() if s.unreconciled}
        ),
    )
    _cite_owed(result, findings)
    result.dispositions = _dispositions(
        findings, states, after, references, result.changelog, result.schema_changes
    )
    original = {_key(f) for f in findings}
    for fs in after.values():
        for f in fs:
            if f.severity in _BLOCKING:
                result.remaining.append(f)
                if _key(f) not in original:
                    result.new.append(f)
    return result


def _reconciled(states: Iterable[_EntryRepair]) -> dict[str, list[str]]:
    """Code fix id -> the `reconcile` changes that keep its references' meaning."""
    out: dict[str, list[str]] = {}
    for s in states:
        if s.reconciled is not None:
            out.setdefault(s.reconciled[0], []).append(s.reconciled[1])
    return out


def _schema_patch(
    release: Release, findings: Sequence[Finding]
) -> tuple[dict[str, list[dict[str, Any]]], list[Any]]:
    from eigencore.audit.schema_patch import patch_docs

    return patch_docs(release, findings)


def _reaudited(f: Finding) -> bool:
    """Whether the repair's re-audit (deterministic trajectory checks, no judge) can report
    the finding again: only then does its absence mean it is gone."""
    return (
        f.kind == "trajectory"
        and f.check.startswith("trajectory.")
        and f.check not in ("trajectory.manual", "trajectory.judge_unsupported")
        and f.evidence.judge is None
    )


_MANUAL = (
    "a port author's finding about the release's scenarios or references: no repair rule "
    "covers it and the re-audit does not check it; left to review"
)


def _cite_owed(result: RepairResult, findings: Sequence[Finding]) -> None:
    by_turn: dict[tuple[str, int], list[str]] = {}
    for f in findings:
        if f.check in _OWED_CHECKS and f.entry_id is not None and f.turn is not None:
            by_turn.setdefault((f.entry_id, f.turn), []).append(f.id)
    net: dict[str, list[str]] = {}
    for f in findings:
        if f.check == "trajectory.no_net_change" and f.entry_id:
            net.setdefault(f.entry_id, []).append(f.id)
    for c in result.changelog:
        if c.change == "set_owed" and c.turn is not None:
            c.finding_ids = [
                i
                for i in by_turn.get((c.entry_id, c.turn), [])
                if not i.startswith("trajectory.no_net_change")
            ]
            if "identifiers" in c.why:
                c.finding_ids += net.get(c.entry_id, [])


def _dispositions(
    findings: Sequence[Finding],
    states: Mapping[str, _EntryRepair],
    after: Mapping[str, list[Finding]],
    references: Mapping[str, OwedReference],
    changelog: Sequence[Change],
    schema: Sequence[SchemaChange],
) -> list[Disposition]:
    still = {_key(f) for fs in after.values() for f in fs}
    changes_of: dict[str, list[str]] = {}
    for c in changelog:
        if c.change != "set_owed":
            changes_of.setdefault(c.entry_id, []).append(c.id)
    owed_change = {
        (c.entry_id, c.turn): c.id
        for c in changelog
        if c.change == "set_owed" and c.turn is not None
    }
    out: list[Disposition] = []
    for f in findings:
        d = Disposition(
            finding_id=f.id,
            check=f.check,
            severity=f.severity,
            entry_id=f.entry_id,
            turn=f.turn,
            status="unrepaired",
            reason="",
        )
        state = states.get(f.entry_id or "")
        if f.kind != "trajectory":
            d.status, d.reason, d.changes = dispose(f, schema)
            out.append(d)
            continue
        if f.check == "trajectory.manual":
            d.reason = _MANUAL
            out.append(d)
            continue
        if state is None:
            d.reason = (
                "its entry was not part of this repair run"
                if f.entry_id
                else "not tied to one entry: no repair rule applies"
            )
            out.append(d)
            continue
        if f.check in _OWED_CHECKS:
            _owed_disposition(d, f, references[f.entry_id or ""], owed_change)
            out.append(d)
            continue
        cited = state.cited.get(f.id, [])
        decided = state.decisions.get(_key(f))
        if _key(f) not in still and _reaudited(f):
            d.status = "repaired"
            d.changes = cited or changes_of.get(f.entry_id or "", [])
            d.reason = (
                ("repaired by " if cited else "no longer reported after ") + ", ".join(d.changes)
                if d.changes
                else "no longer reported"
            )
        elif decided is not None:
            d.status, d.reason = decided
        elif f.check in _ACCEPTED:
            d.status = "accepted"
            d.reason = _ACCEPTED[f.check].format(notes=(f.evidence.notes or "").split(";")[0])
        elif f.check in _UNREPAIRED and f.severity != "info":
            d.reason = _UNREPAIRED[f.check]
        elif f.check == "trajectory.reveal_unused":
            d.status, d.reason = (
                "accepted",
                ("held out beside a function the reveal turn does use: a distractor"),
            )
        elif f.severity == "info":
            d.status, d.reason = "accepted", "informational"
        else:
            d.reason = "no repair rule applied and the re-audit still reports it"
        out.append(d)
    return out


def _owed_disposition(
    d: Disposition, f: Finding, ref: OwedReference, owed_change: Mapping[tuple[str, int], str]
) -> None:
    t = f.turn if f.turn is not None else -1
    entry = f.entry_id or ""
    owed, why, trivial = ref.owed, ref.why, ref.trivial
    if f.check == "trajectory.no_net_change":
        if trivial:
            d.reason = "nothing to owe: the task stays passable by doing nothing"
            return
        turns = [i for i, facts in enumerate(owed) if facts]
        d.status, d.changes = "repaired", [owed_change[(entry, i)] for i in turns]
        d.reason = (
            "the task owes information in turn(s) "
            + ", ".join(map(str, turns))
            + (f" ({why[-1]})" if -1 in why else "")
        )
        return
    if 0 <= t < len(owed) and owed[t]:
        d.status, d.changes = "repaired", [owed_change[(entry, t)]]
        d.reason = f"turn {t} owes {len(owed[t])} fact(s): " + ", ".join(
            f"{x.label}={x.value!r}"[:60] for x in owed[t][:3]
        )
        return
    reason = why.get(t, "nothing owed")
    if trivial:
        d.reason = f"nothing to owe in turn {t} ({reason}); the task is passable by doing nothing"
    elif f.check == "trajectory.owed_unrecognised" and "repeat what the user said" not in reason:
        d.reason = (
            f"the turn asks to see a result but {reason}; the task owes a state change "
            "or facts elsewhere"
        )
    else:
        d.status = "accepted"
        d.reason = (
            f"nothing to owe in turn {t} ({reason}); the task owes a state change or "
            "facts elsewhere"
        )
