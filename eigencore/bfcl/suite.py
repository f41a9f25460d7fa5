"""BFCL-V3 multi-turn entries as EigenData evaluation tasks over the SQLite port."""

from __future__ import annotations

from collections.abc import Sequence

from eigencore.bfcl.release import CATEGORIES, CLASS_MODULES, DEFAULT_VERSION, Entry, load_release
from eigencore.evaluation.task import Task, Turn
from environments.bfcl.common import scenario

# BFCL's multi-turn system prompt asks for function calls and nothing else; our harness is
# conversational, so the task keeps the default assistant prompt of `Task`.


def domain_of(class_name: str) -> str:
    return f"bfcl/{CLASS_MODULES[class_name]}"


def entry_task(entry: Entry, suite: str = "bfcl-v3") -> Task:
    domains = [domain_of(c) for c in entry.involved_classes]
    scenarios = {
        domain_of(c): scenario(entry.initial_config.get(c, {}), entry.long_context)
        for c in entry.involved_classes
    }
    turns = [
        Turn(messages=entry.turn_messages(t),
             added_tools=list(entry.missed_function.get(str(t), [])),
             reference=list(calls))
        for t, calls in enumerate(entry.ground_truth)
    ]
    withheld = sorted({n for names in entry.missed_function.values() for n in names})
    return Task(id=entry.id, suite=suite, category=entry.category, domains=domains,
                scenarios=scenarios, turns=turns, withheld=withheld,
                meta={"involved_classes": entry.involved_classes, "path": entry.path})


def bfcl_tasks(categories: Sequence[str] | None = None, version: str | None = None) -> list[Task]:
    release = load_release(version or DEFAULT_VERSION)
    wanted = list(categories) if categories else list(CATEGORIES)
    unknown = set(wanted) - set(CATEGORIES)
    if unknown:
        raise KeyError(f"unknown BFCL categories {sorted(unknown)}; known: {list(CATEGORIES)}")
    return [entry_task(e) for c in wanted for e in release.entries(c)]
