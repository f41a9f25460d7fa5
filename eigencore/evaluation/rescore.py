"""Rescoring: score a stored run against another suite's references without re-rolling.

Every (task, sample) of the source run whose task id the target suite has is run through the
ordinary harness and scorer, with the model replaced by `replay.TranscriptReplay`: live MCP
servers loaded with the target task's scenarios execute the recorded calls again, and the
replay checks at each step that the model's inputs are unchanged. Reproduced samples are
scored like `eval run` scores them (outcome, per-turn, BFCL where it applies) into a new run
in the same store; diverged samples are listed in the new run's config, not scored, and need
a real re-run (`eval run --tasks`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import anyio

from eigencore.evaluation.harness import MAX_STEPS, Transcript
from eigencore.evaluation.replay import TranscriptReplay
from eigencore.evaluation.runner import RunConfig, run_suite
from eigencore.evaluation.store import RunStore
from eigencore.evaluation.suites import load_suite


@dataclass
class Rescored:
    run_id: str
    source: dict[str, Any]
    """The source run (`RunStore.run`)."""
    suite: str
    reproduced: int
    """Samples reproduced and scored."""
    diverged: list[dict[str, Any]] = field(default_factory=list)
    """{task_id, sample, reason} of each sample that needs a real re-run."""
    not_in_suite: list[str] = field(default_factory=list)
    """Source task ids the target suite does not have (neither run nor scored)."""
    names_only: int = 0
    """Samples recorded before tool digests: their tools were compared by name only."""


def rescore(store: RunStore, source_run: str, suite: str, *, concurrency: int = 4,
            progress: bool = False) -> Rescored:
    """Rescore `source_run` (in `store`) against `suite`; the new run goes into `store`."""
    source = store.run(source_run)
    cfg = source["config"]
    pairs: dict[str, list[int]] = defaultdict(list)
    for task_id, sample in sorted(store.done(source_run)):
        pairs[task_id].append(sample)
    for d in cfg.get("diverged") or []:  # a rescore of a rescore: still owed a real run
        pairs.setdefault(d["task_id"], [])
    tasks = [t for t in load_suite(suite) if t.id in pairs]
    not_in_suite = sorted(set(pairs) - {t.id for t in tasks})
    names_only = {p for p in store.lacking(source_run, "tool_digests") if p[0] not in not_in_suite}
    config = RunConfig(model=source["model"], suite=suite, k=max(cfg.get("k") or 1, 1),
                       concurrency=concurrency, max_steps=cfg.get("max_steps") or MAX_STEPS)
    run_id = store.create_run(source["model"], suite, {
        "rescored_from": source_run, "source_suite": source["suite"], "k": config.k,
        "max_steps": config.max_steps, "categories": [], "limit": None, "task_ids": [],
        "target": config.target.kind, "tasks": len(tasks), "diverged": [],
        "not_in_suite": not_in_suite, "tools_compared_by_name_only": len(names_only)})

    target_ids = {t.id for t in tasks}
    for d in cfg.get("diverged") or []:
        if d["task_id"] in target_ids:
            store.add_diverged(run_id, d["task_id"], d["sample"],
                               f"already diverged in run {source_run}: {d['reason']}")

    def lookup(task_id: str, sample: int) -> Transcript | None:
        try:
            return store.transcript(source_run, task_id, sample)
        except KeyError:
            return None

    # The replay carries the source model's name: the trajectories are that model's.
    anyio.run(lambda: run_suite(tasks, lambda: TranscriptReplay(lookup, source["model"]),
                                store, config, run_id=run_id, progress=progress,
                                samples=pairs))
    diverged = store.run(run_id)["config"].get("diverged", [])
    return Rescored(run_id=run_id, source=source, suite=suite,
                    reproduced=len(store.done(run_id)), diverged=diverged,
                    not_in_suite=not_in_suite, names_only=len(names_only))

