"""Verdicts: outcome-aware (final state + owed information), its stricter per-turn variant,
and BFCL's original per-turn verdict, side by side, each failure explained. A task that
states assertions over its final state (synthesized tasks, `meta["assertions"]`) must also
satisfy them.

Call order, the choice among equivalent tools, extra read-only calls and argument spelling do
not matter to the outcome verdict; changes the user did not ask for anywhere in the database
(collateral damage) do. Numbers compare by value, so 25 and 25.0 are equal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from eigencore.evaluation.facts import fact_given
from eigencore.evaluation.harness import Transcript
from eigencore.evaluation.outcome import ReferenceOutcome
from eigencore.evaluation.task import Fact, Task
from environments import registry
from environments.state import StateDiff, compare_diffs


class TurnCheck(BaseModel):
    turn: int
    state: dict[str, StateDiff] = Field(default_factory=dict)
    """Per domain, expected-vs-got differences after this turn (only non-empty ones)."""
    missing: list[Fact] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.state and not self.missing


class Verdict(BaseModel):
    task_id: str
    sample: int = 0
    category: str = ""
    domains: list[str] = Field(default_factory=list)
    outcome: bool
    per_turn: bool
    bfcl: bool | None = None
    final_state: dict[str, StateDiff] = Field(default_factory=dict)
    turns: list[TurnCheck] = Field(default_factory=list)
    assertions: list[str] = Field(default_factory=list)
    """The task's own assertions (`meta["assertions"]`, synthesized tasks) that do not hold
    on the final state."""
    error: str | None = None
    bfcl_detail: dict[str, Any] | None = None

    def explain(self) -> str:
        """Why the task failed, readable in seconds (empty when it passed)."""
        lines: list[str] = []
        if self.error:
            lines.append(f"run error: {self.error}")
        for domain, diff in self.final_state.items():
            lines.append(f"final state of {domain} differs:\n{diff.to_text()}")
        lines += [f"assertion failed: {a}" for a in self.assertions]
        for t in self.turns:
            for f in t.missing:
                lines.append(f"turn {t.turn}: the user was not told {f.value!r} ({f.label})")
        if self.bfcl is False and self.bfcl_detail:
            lines.append(f"BFCL: {self.bfcl_detail.get('error_type', '')}")
        return "\n".join(lines)


def _as_diff(changes: Any) -> StateDiff:
    return changes if isinstance(changes, StateDiff) else StateDiff(changes=changes or [])


def _state_mismatch(expected: dict[str, StateDiff], got: dict[str, Any]) -> dict[str, StateDiff]:
    out = {}
    for domain in sorted(set(expected) | set(got)):
        rules = registry.get(domain).rules
        d = compare_diffs(expected.get(domain, StateDiff()), _as_diff(got.get(domain)), rules)
        if not d.empty:
            out[domain] = d
    return out


def _assertion_failures(task: Task, transcript: Transcript) -> list[str]:
    if not task.meta.get("assertions"):
        return []
    # Imported here: only synthesized tasks carry assertions, and the evaluation package
    # does not otherwise depend on the agents.
    from eigencore.agents.data.tasks import task_assertion_failures

    return task_assertion_failures(task, transcript.turns[-1].state)


BfclScorer = Callable[[Task, Transcript], tuple[bool, dict[str, Any]]]


def score(task: Task, transcript: Transcript, reference: ReferenceOutcome,
          bfcl: BfclScorer | None = None) -> Verdict:
    base = dict(task_id=task.id, sample=transcript.sample, category=task.category,
                domains=task.domains)
    bfcl_ok, bfcl_detail = (None, None)
    if bfcl is not None:
        bfcl_ok, bfcl_detail = bfcl(task, transcript)
    if transcript.error or len(transcript.turns) != len(task.turns):
        return Verdict(**base, outcome=False, per_turn=False, bfcl=bfcl_ok and False,
                       error=transcript.error or "the run ended before the last turn",
                       bfcl_detail=bfcl_detail)
    turns = []
    for t, (record, expected) in enumerate(zip(transcript.turns, reference.turn_states,
                                               strict=True)):
        text = record.reply_text
        turns.append(TurnCheck(turn=t, state=_state_mismatch(expected, record.state),
                               missing=[f for f in reference.owed[t] if not fact_given(f, text)]))
    final = _state_mismatch(reference.final_state, transcript.turns[-1].state)
    informed = all(not t.missing for t in turns)
    asserted = _assertion_failures(task, transcript)
    return Verdict(**base, outcome=not final and informed and not asserted,
                   per_turn=all(t.ok for t in turns) and not asserted, bfcl=bfcl_ok,
                   final_state=final, turns=[t for t in turns if not t.ok], assertions=asserted,
                   bfcl_detail=bfcl_detail)
