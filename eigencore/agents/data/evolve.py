"""Self-evolving generation prompts, and findings routed to the environment's owners.

The task-generation instruction is versioned: every version keeps its text, its parent, the
rounds it was used in and the yield it scored there (`prompts.json`). After a round, the
failures are classified and turned into a reflective dataset of textual feedback (validator
errors, state mismatches, judge rationales) in GEPA's record shape (`Inputs`,
`Generated Outputs`, `Feedback`). A reflection LLM proposes the next version from it through
GEPA's instruction-proposal step (`gepa.strategies.instruction_proposal`) when `gepa` is
installed, or through a built-in prompt of the same shape when it is not.

GEPA's full `optimize` loop is not used: it re-evaluates every candidate on minibatches and a
validation set (several full multi-turn syntheses per iteration) through synchronous
adapters, whereas here one round's evaluation *is* the data being produced and must land on
disk per round to be resumable. The selection rule is GEPA's `current_best`: the next
proposal starts from the best-scoring version so far.

Failures the environment caused (a tool misbehaving, a tool the tasks keep needing, a column
several tasks independently expect) become `EnvironmentFinding` JSON files for the agents
that own the code and the schema.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from clients.models.base import Message
from eigencore.agents.data.tasks import EnvIssue, Failure, TaskAttempt
from eigencore.agents.data.verify import TrajectoryResult
from eigencore.llm.structured import LLM

COMPONENT = "task_generation"

FAILURE_HINTS: dict[str, str] = {
    "generation_failed": "the generator never produced a valid JSON task",
    "invalid_task": "the task is malformed (unknown tool, unparseable call, wrong variant)",
    "plan_error": "the task's own calls fail against the database",
    "invalid_assertion": "an assertion names a wrong table/column or does not hold after "
                         "the task's own calls",
    "invalid_fact": "an owed value is not what the calls return",
    "trivial": "a do-nothing assistant would pass (no state change asserted, nothing owed)",
    "run_error": "the conversation broke off (harness error, step limit, empty reply)",
    "tool_error": "a tool call failed and was not recovered",
    "incomplete": "the conversation ended before every request was made",
    "state_mismatch": "the final database state violates the task's assertions",
    "unexpected_change": "the assistant changed rows the task did not ask for",
    "info_not_given": "the user was not told information the task owes",
    "simulator_leak": "the simulated user volunteered held-back information",
    "judge_disagrees": "the independent judge rejected the trajectory",
    "near_duplicate": "too similar to a trajectory already kept",
}


# -- versioned prompts ----------------------------------------------------------------------------
class PromptVersion(BaseModel):
    version: int
    text: str
    parent: int | None = None
    origin: str = "seed"
    """`seed`, or the optimiser that proposed it (e.g. `gepa-0.1.4`, `builtin`)."""
    created_after_round: int | None = None
    scores: dict[int, float] = Field(default_factory=dict)
    """Round -> yield of verified trajectories per task attempted with this version."""
    failures: dict[int, dict[str, int]] = Field(default_factory=dict)

    @property
    def best_score(self) -> float | None:
        return max(self.scores.values()) if self.scores else None


class PromptStore(BaseModel):
    component: str = COMPONENT
    versions: list[PromptVersion] = Field(default_factory=list)
    rounds: dict[int, int] = Field(default_factory=dict)
    """Round -> the version used in it."""

    @classmethod
    def load(cls, path: Path, seed: str) -> PromptStore:
        if path.exists():
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        return cls(versions=[PromptVersion(version=0, text=seed)])

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=1), encoding="utf-8")
        tmp.replace(path)

    def get(self, version: int) -> PromptVersion:
        return self.versions[version]

    def latest(self) -> PromptVersion:
        return self.versions[-1]

    def for_round(self, round: int) -> PromptVersion:
        """The version a round uses: recorded, else the newest (fixed from then on)."""
        if round not in self.rounds:
            self.rounds[round] = self.latest().version
        return self.get(self.rounds[round])

    def best(self) -> PromptVersion:
        scored = [v for v in self.versions if v.scores]
        if not scored:
            return self.latest()
        # Ties go to the newer version: it already carries the older one's lessons.
        return max(scored, key=lambda v: (v.best_score, v.version))

    def proposed_after(self, round: int) -> PromptVersion | None:
        return next((v for v in self.versions if v.created_after_round == round), None)

    def add(self, text: str, parent: int, origin: str, after_round: int) -> PromptVersion:
        v = PromptVersion(version=len(self.versions), text=text, parent=parent, origin=origin,
                          created_after_round=after_round)
        self.versions.append(v)
        return v


# -- failure classification and textual feedback ---------------------------------------------------
def classify(attempts: Iterable[TaskAttempt], results: Iterable[TrajectoryResult]
             ) -> dict[str, int]:
    """Failure kind -> how many tasks/trajectories failed with it (one count per item)."""
    counts: Counter[str] = Counter()
    for a in attempts:
        counts.update({f.kind for f in a.failures})
    for r in results:
        counts.update({f.kind for f in r.failures})
    return dict(sorted(counts.items()))


def _brief(obj: Any, limit: int = 900) -> str:
    text = json.dumps(obj, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def _feedback(failures: Sequence[Failure]) -> str:
    lines = [f"REJECTED ({', '.join(sorted({f.kind for f in failures}))})."]
    for f in failures[:5]:
        note = " [environment problem, reported to its owners: not the task's fault]" \
            if f.env is not None and f.env.category == "tool_bug" else ""
        lines.append(f"- {f.kind}: {f.message}{note} ({FAILURE_HINTS.get(f.kind, '')})")
    return "\n".join(lines)


def reflective_dataset(attempts: Sequence[TaskAttempt], results: Sequence[TrajectoryResult],
                       limit: int = 8) -> list[dict[str, Any]]:
    """GEPA-shaped records for the generation prompt: failures first, one per kind before
    repeats (diverse feedback teaches more than ten copies of one error), then a success."""
    by_id = {r.task.id: r for r in results}
    records: list[tuple[str, dict[str, Any]]] = []
    for a in attempts:
        inputs = {"variant": a.variant, "task_id": a.task_id}
        output = _brief(a.generated.model_dump(mode="json")) if a.generated else (a.raw or "")
        result = by_id.get(a.task_id)
        failures = list(a.failures) + (list(result.failures) if result else [])
        if failures:
            fb = _feedback(failures)
            if result is not None and result.judge is not None:
                fb += f"\nJudge: {result.judge.reasoning}"
            if result is not None and result.final_changes:
                fb += f"\nFinal state changes: {_brief(result.final_changes, 500)}"
            records.append((failures[0].kind, {"Inputs": inputs, "Generated Outputs": output,
                                               "Feedback": fb}))
        elif result is not None and result.verified:
            records.append(("ok", {"Inputs": inputs, "Generated Outputs": output,
                                   "Feedback": "VERIFIED: the task was sound and a trajectory "
                                               "for it passed every check."}))
    picked: list[dict[str, Any]] = []
    seen: set[str] = set()
    for kind, rec in records:  # first pass: one per failure kind
        if kind != "ok" and kind not in seen:
            seen.add(kind)
            picked.append(rec)
    for kind, rec in records:  # then one success, then repeats
        if kind == "ok" and rec not in picked:
            picked.append(rec)
            break
    for _kind, rec in records:
        if rec not in picked:
            picked.append(rec)
    return picked[:limit]


# -- proposing a revision ------------------------------------------------------------------------
BUILTIN_TEMPLATE = """I gave an assistant the following instructions for writing tasks:
```
<curr_param>
```

Here are tasks it wrote under them, each with feedback from the validator, the database and \
an independent judge:
<side_info>

Write improved instructions. Keep what worked, and add precise rules that prevent every \
failure in the feedback (name the exact tables, columns and checks involved). Provide the \
new instructions within ``` blocks."""

_FENCED = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)


def _render_builtin(current: str, records: Sequence[dict[str, Any]]) -> str:
    side = "\n\n".join(
        f"# Example {i}\n" + "\n".join(f"## {k}\n{v if isinstance(v, str) else _brief(v)}"
                                       for k, v in r.items())
        for i, r in enumerate(records, 1))
    return BUILTIN_TEMPLATE.replace("<curr_param>", current).replace("<side_info>", side)


def _extract_builtin(text: str) -> str:
    m = _FENCED.search(text)
    return (m.group(1) if m else text).strip()


def optimiser_name() -> str:
    try:
        from importlib.metadata import version

        import gepa.strategies.instruction_proposal  # noqa: F401
    except ImportError:
        return "builtin"
    return f"gepa-{version('gepa')}"


class Proposal(BaseModel):
    text: str
    optimiser: str
    prompt: str
    """The reflection request, kept for audit."""


async def propose(llm: LLM, current: str, records: Sequence[dict[str, Any]],
                  optimiser: Literal["auto", "gepa", "builtin"] = "auto") -> Proposal:
    """One reflective mutation of `current` from textual feedback."""
    name = optimiser_name() if optimiser != "builtin" else "builtin"
    if optimiser == "gepa" and name == "builtin":
        raise ImportError("gepa is not installed (pip install 'eigendata[evolve]')")
    if name.startswith("gepa"):
        from gepa.strategies.instruction_proposal import InstructionProposalSignature as Sig

        prompt = Sig.prompt_renderer({"current_instruction_doc": current,
                                      "dataset_with_feedback": list(records),
                                      "prompt_template": None})
        assert isinstance(prompt, str)  # no images in our records
        reply = await llm.complete([Message(role="user", content=prompt)])
        text = Sig.output_extractor(reply.text.strip())["new_instruction"]
    else:
        prompt = _render_builtin(current, records)
        reply = await llm.complete([Message(role="user", content=prompt)])
        text = _extract_builtin(reply.text)
    return Proposal(text=text.strip(), optimiser=name, prompt=prompt)


MAX_GROWTH = 4
"""A revision may be at most this many times longer than its parent (or 2000 characters)."""


def proposal_problem(text: str, parent: str) -> str | None:
    """Why a proposed instruction is unusable, or None. Small models cut off mid-loop return
    a repeated sentence, or their raw tool-call JSON; such text would poison every later
    round, so it is refused before it is ever used."""
    stripped = text.strip()
    if not stripped:
        return "the proposal is empty"
    if stripped == parent.strip():
        return "the proposal repeats the current instruction"
    if stripped.startswith("{") and '"name"' in stripped[:40]:
        return "the proposal is a raw tool call, not an instruction"
    if len(stripped) > max(MAX_GROWTH * len(parent), 2000):
        return f"the proposal is {len(stripped)} characters long (parent: {len(parent)})"
    sentences = [x.strip().lower() for x in re.split(r"(?<=[.!?])\s+", stripped) if x.strip()]
    if len(sentences) >= 6 and len(set(sentences)) < len(sentences) / 2:
        return "the proposal repeats itself (degenerate generation)"
    return None


# -- findings for the environment's owners ---------------------------------------------------------
ROUTES = {"tool_bug": "CodingAgent", "missing_tool": "CodingAgent", "schema_gap": "DatabaseAgent"}
SCHEMA_GAP_MIN_TASKS = 2
"""A column counts as missing from the schema only when this many tasks expect it: one
generator guessing a name is the generator's error."""


class Evidence(BaseModel):
    task_id: str
    round: int
    stage: Literal["task", "trajectory"]
    message: str
    call: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class EnvironmentFinding(BaseModel):
    """A problem in the environment seen while synthesizing data, for its owner to fix."""

    schema_: str = Field("eigendata.environment-finding/1", alias="schema")
    id: str
    domain: str
    category: Literal["tool_bug", "missing_tool", "schema_gap"]
    route_to: Literal["CodingAgent", "DatabaseAgent"]
    summary: str
    tool: str | None = None
    table: str | None = None
    column: str | None = None
    occurrences: int = 0
    first_round: int = 0
    evidence: list[Evidence] = Field(default_factory=list)

    model_config = {"populate_by_name": True}


def _finding_id(domain: str, issue: EnvIssue) -> str:
    kind = (issue.error or {}).get("kind", "")
    blob = "|".join(str(x) for x in (domain, issue.category, issue.tool, issue.table,
                                     issue.column, kind))
    return f"{issue.category}-{hashlib.blake2b(blob.encode(), digest_size=5).hexdigest()}"


def _summary(issue: EnvIssue) -> str:
    if issue.category == "tool_bug":
        err = issue.error or {}
        return (f"tool {issue.tool} failed with {err.get('kind')} instead of a domain error: "
                f"{err.get('message', '')}"[:300])
    if issue.category == "missing_tool":
        return f"generated tasks need a tool {issue.tool!r} that the domain does not have"
    where = f"{issue.table}.{issue.column}" if issue.column else f"table {issue.table}"
    return f"several tasks expect {where}, which the schema does not have"


def collect_findings(domain: str, round: int, attempts: Sequence[TaskAttempt],
                     results: Sequence[TrajectoryResult]) -> list[EnvironmentFinding]:
    found: dict[str, EnvironmentFinding] = {}
    gap_tasks: dict[str, set[str]] = {}
    items: list[tuple[str, str, Failure]] = [
        (a.task_id, "task", f) for a in attempts for f in a.failures]
    items += [(r.task.id, "trajectory", f) for r in results for f in r.failures]
    for task_id, stage, f in items:
        issue = f.env
        if issue is None:
            continue
        fid = _finding_id(domain, issue)
        finding = found.setdefault(fid, EnvironmentFinding(
            id=fid, domain=domain, category=issue.category, route_to=ROUTES[issue.category],
            summary=_summary(issue), tool=issue.tool, table=issue.table, column=issue.column,
            first_round=round))
        finding.occurrences += 1
        if issue.category == "schema_gap":
            gap_tasks.setdefault(fid, set()).add(task_id)
        if len(finding.evidence) < 5:
            finding.evidence.append(Evidence(task_id=task_id, round=round, stage=stage,
                                             message=f.message, call=issue.call,
                                             error=issue.error))
    return [f for fid, f in found.items()
            if f.category != "schema_gap" or len(gap_tasks.get(fid, ())) >= SCHEMA_GAP_MIN_TASKS]


def write_findings(directory: Path, findings: Sequence[EnvironmentFinding]) -> list[Path]:
    """One JSON file per finding; a finding seen again (another round) is merged into it."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in findings:
        path = directory / f"{f.id}.json"
        if path.exists():
            old = EnvironmentFinding.model_validate_json(path.read_text(encoding="utf-8"))
            keys = {(e.task_id, e.message) for e in old.evidence}
            new = [e for e in f.evidence if (e.task_id, e.message) not in keys]
            if not new:
                paths.append(path)
                continue  # already recorded (a resumed round)
            old.occurrences += f.occurrences
            old.evidence = (old.evidence + new)[:10]
            f = old
        path.write_text(f.model_dump_json(by_alias=True, indent=1), encoding="utf-8")
        paths.append(path)
    return paths
