"""DataAgent's round loop: generate tasks, synthesize and verify trajectories, evolve the
generation prompt, export. Resumable: every round leaves its artifacts on disk, a round whose
`summary.json` exists is not run again, and every LLM exchange is in the response cache, so
re-running an interrupted round replays it for free.

Layout of `out_dir`:
    run.json                  settings of the run
    prompts.json              generation prompt versions with their scores per round
    llm-cache.db              response cache (replayable offline)
    round-NN/attempts.jsonl   every generated task, sound or rejected with its failures
    round-NN/trajectories.jsonl  every synthesized trajectory with its verdict
    round-NN/reflection.json  the optimiser's request and proposal after the round
    round-NN/summary.json     yield and failure counts (written last: marks the round done)
    findings/*.json           EnvironmentFinding files for CodingAgent / DatabaseAgent
    export/                   openai.jsonl, anthropic.jsonl, data.parquet, suite.jsonl
    summary.json              the whole run
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field

from clients.models.base import ModelAdapter, ModelError
from eigencore.agents.data.bundle_dirs import resolve_domain
from eigencore.agents.data.evolve import (
    PromptStore,
    classify,
    collect_findings,
    optimiser_name,
    proposal_problem,
    propose,
    reflective_dataset,
    write_findings,
)
from eigencore.agents.data.export import export_all
from eigencore.agents.data.simulate import UserSimulator, list_tool_defs, synthesize
from eigencore.agents.data.tasks import (
    SEED_INSTRUCTION,
    VARIANTS,
    DomainContext,
    TaskAttempt,
    generate_task,
)
from eigencore.agents.data.verify import (
    Embedder,
    Judge,
    LLMJudge,
    TrajectoryResult,
    default_embedder,
    mark_duplicates,
    verify,
)
from eigencore.llm.cache import ResponseCache
from eigencore.llm.structured import LLM, StructuredOutputError, T


class ToolStructuredLLM(LLM):
    """Structured outputs requested as the arguments of one tool whose schema is the output
    model (`eigencore.agents.structured_by_tool`, shared with the environment agents).
    Backends that constrain tool arguments to their schema (the embedded local model's
    grammar) then return JSON objects where a plain request gets prose."""

    async def structured(self, prompt: str, schema: type[T], *,
                         system: str | None = None) -> T:
        from eigencore.agents import structured_by_tool

        return await structured_by_tool(self, prompt, schema, system=system)


@dataclass
class Roles:
    """The models DataAgent uses; one spec serves all of them unless told otherwise."""

    generator: LLM
    simulator: LLM
    reflector: LLM
    assistant: Callable[[], ModelAdapter]
    judge: Judge | None = None

    @classmethod
    def from_spec(cls, llm_spec: str, cache: ResponseCache | None,
                  assistant_spec: str | None = None, judge: bool = True,
                  structured_via_tool: bool | None = None) -> Roles:
        """`structured_via_tool` defaults to on for `local:` models (see
        `ToolStructuredLLM`)."""
        from clients.models.specs import adapter_factory

        factory = adapter_factory(llm_spec)
        kind = ToolStructuredLLM if (llm_spec.startswith("local:") if structured_via_tool
                                     is None else structured_via_tool) else LLM

        def llm() -> LLM:
            return kind(factory(), cache=cache)

        return cls(generator=llm(), simulator=llm(), reflector=llm(),
                   assistant=adapter_factory(assistant_spec or llm_spec),
                   judge=LLMJudge(llm()) if judge else None)

    def accounting(self) -> dict[str, Any]:
        out = {}
        llms = {"generator": self.generator, "simulator": self.simulator,
                "reflector": self.reflector}
        if isinstance(self.judge, LLMJudge):
            llms["judge"] = self.judge.llm
        for name, llm in llms.items():
            a = llm.accounting
            out[name] = {"calls": a.calls, "cached": a.cached,
                         "input_tokens": a.usage.input_tokens,
                         "output_tokens": a.usage.output_tokens}
        return out


@dataclass
class Settings:
    n_turns: int = 2
    seed: int = 0
    max_steps: int = 8
    embedder: str = "auto"
    """`auto` (MiniLM if installed, else n-gram TF-IDF), `minilm` or `ngram`."""
    optimiser: str = "auto"
    """`auto` (GEPA if installed, else built-in), `gepa` or `builtin`."""
    instruction: str = SEED_INSTRUCTION
    variants: tuple[str, ...] = VARIANTS
    extra: dict[str, Any] = field(default_factory=dict)


class RoundSummary(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    round: int
    prompt_version: int
    attempted: int
    sound_tasks: int
    synthesized: int
    verified_before_dedup: int
    kept: int
    yield_: float = Field(alias="yield")
    """Kept (verified, not a near-duplicate) trajectories per task attempted."""
    failures: dict[str, int]
    embedder: str
    optimiser: str | None = None
    next_version: int | None = None
    findings: list[str] = Field(default_factory=list)
    duration_s: float = 0.0
    llm: dict[str, Any] = Field(default_factory=dict)


class RunSummary(BaseModel):
    domain: str
    llm: str
    rounds: list[RoundSummary]
    export: dict[str, str] = Field(default_factory=dict)
    prompts: str = ""

    def yields(self) -> list[float]:
        return [r.yield_ for r in self.rounds]


def _write_jsonl(path: Path, items: list[BaseModel]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for item in items:
            f.write(item.model_dump_json() + "\n")
    tmp.replace(path)


def _read_jsonl(path: Path, model: type[Any]) -> list[Any]:
    if not path.exists():
        return []
    return [model.model_validate_json(line)
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def round_dir(out: Path, r: int) -> Path:
    return out / f"round-{r:02d}"


def load_round(out: Path, r: int) -> tuple[list[TaskAttempt], list[TrajectoryResult]]:
    d = round_dir(out, r)
    return (_read_jsonl(d / "attempts.jsonl", TaskAttempt),
            _read_jsonl(d / "trajectories.jsonl", TrajectoryResult))


AfterRound = Callable[[RoundSummary], Awaitable[bool]]
"""Called after every round (done earlier or just now); True means the environment was
changed (e.g. repaired for the round's findings) and the domain must be reloaded."""


async def arun(domain: str | Path, llm_spec: str, out_dir: str | Path, rounds: int,
               tasks_per_round: int, *, roles: Roles | None = None,
               settings: Settings | None = None, embedder: Embedder | None = None,
               assistant_spec: str | None = None, judge: bool = True,
               log: Callable[[str], None] | None = None,
               after_round: AfterRound | None = None) -> RunSummary:
    """Run (or resume) `rounds` rounds of `tasks_per_round` tasks into `out_dir`.

    `domain` is a registered domain name or a bundle directory (`eigen synth env` output).
    `llm_spec` serves every role (generator, simulator, judge, reflector, and the assistant
    unless `assistant_spec` is given); `roles` replaces them all (tests, mixed models).
    `after_round` lets the caller act on a round's findings (see `AfterRound`)."""
    settings = settings or Settings()
    say = log or (lambda _m: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = str(domain)
    domain = resolve_domain(domain)
    cache = ResponseCache(out / "llm-cache.db")
    roles = roles or Roles.from_spec(llm_spec, cache, assistant_spec=assistant_spec,
                                     judge=judge)
    (out / "run.json").write_text(json.dumps({
        "domain": domain, "source": source, "llm": llm_spec, "assistant": assistant_spec,
        "judge": roles.judge is not None, "rounds": rounds, "tasks_per_round": tasks_per_round,
        "settings": {k: v for k, v in vars(settings).items() if k != "instruction"},
    }, indent=1, default=str), encoding="utf-8")
    store_path = out / "prompts.json"
    store = PromptStore.load(store_path, settings.instruction)
    ctx = DomainContext.load(domain)
    contexts = {domain: ctx}
    embedder = embedder or default_embedder(settings.embedder)
    simulator = UserSimulator(roles.simulator)
    kept: list[TrajectoryResult] = []
    summaries: list[RoundSummary] = []

    for r in range(rounds):
        rdir = round_dir(out, r)
        done = rdir / "summary.json"
        if done.exists():
            summaries.append(RoundSummary.model_validate_json(done.read_text(encoding="utf-8")))
            kept += [t for t in load_round(out, r)[1] if t.verified]
            say(f"round {r}: already done (yield {summaries[-1].yield_:.2f})")
            if r < rounds - 1 and r + 1 not in store.rounds:
                # Done as the last round of a shorter run: its revision was never made.
                summaries[-1].optimiser, summaries[-1].next_version = await _evolve(
                    out, store, r, summaries[-1].yield_, roles, settings)
                store.save(store_path)
                done.write_text(summaries[-1].model_dump_json(by_alias=True, indent=1),
                                encoding="utf-8")
            if after_round is not None and await after_round(summaries[-1]):
                ctx = DomainContext.load(domain)
                contexts = {domain: ctx}
            continue
        rdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        version = store.for_round(r)
        store.save(store_path)
        say(f"round {r}: prompt v{version.version}, {tasks_per_round} tasks")

        attempts: list[TaskAttempt] = []
        for i in range(tasks_per_round):
            rng = random.Random(f"{settings.seed}:{r}:{i}")
            variant = settings.variants[i % len(settings.variants)]
            attempt = await generate_task(
                roles.generator, version.text, ctx, task_id=f"synth-{domain}-r{r:02d}-{i:03d}",
                variant=variant, rng=rng, n_turns=settings.n_turns, round=r, index=i,  # type: ignore[arg-type]
                prompt_version=version.version)
            attempts.append(attempt)
            say(f"  task {i} ({variant}): " + ("sound" if attempt.ok else
                                               ", ".join(f.kind for f in attempt.failures)))
        _write_jsonl(rdir / "attempts.jsonl", attempts)  # type: ignore[arg-type]

        results: list[TrajectoryResult] = []
        for a in attempts:
            if not a.ok or a.task is None:
                continue
            dialogue = await synthesize(a.task, roles.assistant(), simulator, cache=cache,
                                        max_steps=settings.max_steps)
            result = await verify(a.task, dialogue, contexts, roles.judge)
            results.append(result)
            say(f"  trajectory {a.task_id}: " + ("verified" if result.verified else
                                                 ", ".join(f.kind for f in result.failures)))
        verified = sum(t.verified for t in results)
        mark_duplicates(results, kept, embedder)
        _write_jsonl(rdir / "trajectories.jsonl", results)  # type: ignore[arg-type]

        n_kept = sum(t.verified for t in results)
        score = n_kept / max(1, tasks_per_round)
        counts = classify(attempts, results)
        version.scores[r] = score
        version.failures[r] = counts
        findings = collect_findings(domain, r, attempts, results)
        paths = write_findings(out / "findings", findings) if findings else []

        optimiser, next_version = None, None
        if r < rounds - 1:
            optimiser, next_version = await _evolve(out, store, r, score, roles, settings)
        store.save(store_path)
        summary = RoundSummary(
            round=r, prompt_version=version.version, attempted=len(attempts),
            sound_tasks=sum(a.ok for a in attempts), synthesized=len(results),
            verified_before_dedup=verified, kept=n_kept, yield_=score, failures=counts,
            embedder=embedder.name, optimiser=optimiser, next_version=next_version,
            findings=[p.name for p in paths], duration_s=round(time.perf_counter() - started, 2),
            llm=roles.accounting())
        done.write_text(summary.model_dump_json(by_alias=True, indent=1), encoding="utf-8")
        summaries.append(summary)
        say(f"round {r}: yield {score:.2f} ({n_kept}/{tasks_per_round}), failures {counts}")
        if after_round is not None and await after_round(summary):
            ctx = DomainContext.load(domain)
            contexts = {domain: ctx}

    tools = {domain: await list_tool_defs([domain])}
    exported = export_all(out / "export", kept, tools)
    run = RunSummary(domain=domain, llm=llm_spec, rounds=summaries, export=exported,
                     prompts=str(store_path))
    (out / "summary.json").write_text(run.model_dump_json(by_alias=True, indent=1),
                                      encoding="utf-8")
    return run


async def _evolve(out: Path, store: PromptStore, r: int, score: float, roles: Roles,
                  settings: Settings) -> tuple[str | None, int]:
    """Pick the version for round r+1: a reflective revision of the best version so far,
    unless the round was perfect (then keep it). Idempotent for a resumed round."""
    existing = store.proposed_after(r)
    if existing is not None:
        store.rounds[r + 1] = existing.version
        return existing.origin, existing.version
    parent = store.best()
    if score >= 1.0 and parent.version == store.rounds[r]:
        store.rounds[r + 1] = parent.version
        return None, parent.version
    # Reflect on the parent's own outcomes: its most recent round.
    parent_round = max(k for k, v in store.rounds.items() if v == parent.version and k <= r)
    attempts, results = load_round(out, parent_round)
    records = reflective_dataset(attempts, results)
    try:
        proposal = await propose(roles.reflector, parent.text, records,
                                 settings.optimiser)  # type: ignore[arg-type]
    except (ModelError, StructuredOutputError) as e:
        # No revision this time: the next round reuses the best version, and says why.
        (round_dir(out, r) / "reflection.json").write_text(json.dumps({
            "parent": parent.version, "error": str(e), "records": records}, indent=1,
            default=str), encoding="utf-8")
        store.rounds[r + 1] = parent.version
        return None, parent.version
    problem = proposal_problem(proposal.text, parent.text)
    (round_dir(out, r) / "reflection.json").write_text(json.dumps({
        "parent": parent.version, "optimiser": proposal.optimiser, "records": records,
        "request": proposal.prompt, "proposal": proposal.text, "rejected": problem},
        indent=1, default=str), encoding="utf-8")
    if problem is not None:
        store.rounds[r + 1] = parent.version
        return proposal.optimiser, parent.version
    new = store.add(proposal.text, parent=parent.version, origin=proposal.optimiser,
                    after_round=r)
    store.rounds[r + 1] = new.version
    return proposal.optimiser, new.version


def run(domain: str, llm_spec: str, out_dir: str | Path, rounds: int, tasks_per_round: int,
        **kwargs: Any) -> RunSummary:
    """Synchronous entry point (for `eigen synth data`)."""
    return anyio.run(lambda: arun(domain, llm_spec, out_dir, rounds, tasks_per_round, **kwargs))


__all__ = ["AfterRound", "Roles", "RoundSummary", "RunSummary", "Settings", "arun",
           "optimiser_name", "run"]
