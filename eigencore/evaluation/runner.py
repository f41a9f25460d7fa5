"""Runs a suite: every (task, sample) once, concurrently, each result committed as it lands.

Concurrency is a bounded anyio task group. A failing sample (model gave up after its
retries, server error) is recorded as a failed verdict with its error; it never stops the
run. `resume` continues a run id, skipping what the store already holds.

An adapter that replays a stored run (`replay.TranscriptReplay`) may find a task it cannot
reproduce; such a sample is recorded as diverged in the run's config, never scored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from clients.models.specs import AdapterFactory
from eigencore.evaluation.harness import MAX_STEPS, Target, Transcript, rollout
from eigencore.evaluation.outcome import ReferenceOutcome, reference_outcome
from eigencore.evaluation.scoring import BfclScorer, Verdict, score
from eigencore.evaluation.store import RunStore
from eigencore.evaluation.task import Task


@dataclass
class RunConfig:
    model: str
    suite: str
    k: int = 1
    concurrency: int = 4
    max_steps: int = MAX_STEPS
    categories: list[str] = field(default_factory=list)
    limit: int | None = None
    target: Target = field(default_factory=Target)
    task_ids: list[str] = field(default_factory=list)
    """The `--tasks` filter the tasks were selected with (recorded for `--resume`)."""


def bfcl_scorer_for(task: Task) -> BfclScorer | None:
    if task.suite == "bfcl-v3-repaired":  # BFCL's metric against the repaired ground truth
        from eigencore.audit.repaired_suite import bfcl_scorer

        return bfcl_scorer
    if not task.suite.startswith("bfcl"):
        return None
    try:
        from eigencore.bfcl.verdict import bfcl_verdict
    except ImportError:
        return None
    return bfcl_verdict


@contextlib.contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    if not enabled:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), transient=False) as bar:
        ident = bar.add_task("evaluating", total=total)
        yield lambda: bar.advance(ident)


async def run_suite(tasks: Sequence[Task], factory: AdapterFactory, store: RunStore,
                    config: RunConfig, *, run_id: str | None = None, progress: bool = True,
                    on_result: Callable[[Verdict], Any] | None = None,
                    samples: Mapping[str, Sequence[int]] | None = None) -> str:
    """Run and score every (task, sample); `samples` picks them per task (default 0..k-1)."""
    if run_id is None:
        run_id = store.create_run(config.model, config.suite, {
            "k": config.k, "max_steps": config.max_steps, "categories": config.categories,
            "concurrency": config.concurrency,
            "limit": config.limit, "target": config.target.kind, "tasks": len(tasks),
            "task_ids": config.task_ids})
    done = store.done(run_id)
    todo = [(t, s) for t in tasks
            for s in (samples.get(t.id, ()) if samples is not None else range(config.k))
            if (t.id, s) not in done]
    references: dict[str, ReferenceOutcome] = {}
    limiter = anyio.CapacityLimiter(max(1, config.concurrency))

    async def one(task: Task, sample: int, tick: Callable[[], None]) -> None:
        async with limiter:
            if (task.id, sample) in store.done(run_id):  # another worker on this run did it
                tick()
                return
            if task.id not in references:
                references[task.id] = reference_outcome(task)
            adapter = None
            try:
                adapter = factory()
                transcript = await rollout(task, adapter, config.target, sample=sample,
                                           max_steps=config.max_steps)
            except Exception as e:  # the harness itself failed: record, keep going
                transcript = Transcript(task_id=task.id, sample=sample, model=config.model,
                                        error=f"{type(e).__name__}: {e}")
            # A replay that met inputs its model never saw proves nothing about the task:
            # neither a pass nor a failure, so it stays out of the results.
            diverged = getattr(adapter, "diverged", None)
            if diverged:
                store.add_diverged(run_id, task.id, sample, diverged)
                tick()
                return
            verdict = score(task, transcript, references[task.id], bfcl_scorer_for(task))
            store.write(run_id, verdict, transcript)
            if on_result is not None:
                on_result(verdict)
            tick()

    with _progress(len(todo), progress) as tick:
        async with anyio.create_task_group() as tg:
            for task, sample in todo:
                tg.start_soon(one, task, sample, tick)
    store.finish(run_id)
    return run_id
