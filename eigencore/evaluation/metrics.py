"""Aggregate verdicts: success rate and pass^k per metric, overall, per category, per domain.

pass^k (as tau-bench reports it) is the fraction of tasks whose k sampled runs all succeed;
with k = 1 it is the plain success rate. Only tasks with at least k samples count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from eigencore.evaluation.scoring import Verdict

METRICS = ("outcome", "per_turn", "bfcl")


class Rates(BaseModel):
    tasks: int
    samples: int
    success: dict[str, float | None]
    """Per metric: mean success over all samples (None when the metric does not apply)."""
    pass_k: dict[str, float | None]
    k: int


def _value(v: Verdict, metric: str) -> bool | None:
    return getattr(v, metric)


def rates(verdicts: Sequence[Verdict], k: int | None = None) -> Rates:
    by_task: dict[str, list[Verdict]] = defaultdict(list)
    for v in verdicts:
        by_task[v.task_id].append(v)
    k = k or max((len(vs) for vs in by_task.values()), default=1)
    success: dict[str, float | None] = {}
    pass_k: dict[str, float | None] = {}
    for m in METRICS:
        vals = [_value(v, m) for v in verdicts if _value(v, m) is not None]
        success[m] = sum(map(bool, vals)) / len(vals) if vals else None
        eligible = [vs for vs in by_task.values()
                    if len(vs) >= k and all(_value(v, m) is not None for v in vs)]
        pass_k[m] = (sum(all(_value(v, m) for v in vs[:k]) for vs in eligible) / len(eligible)
                     if eligible else None)
    return Rates(tasks=len(by_task), samples=len(verdicts), success=success, pass_k=pass_k, k=k)


def grouped(verdicts: Iterable[Verdict], by: str, k: int | None = None) -> dict[str, Rates]:
    """Rates per category (`by="category"`) or per domain (`by="domain"`)."""
    groups: dict[str, list[Verdict]] = defaultdict(list)
    for v in verdicts:
        keys = v.domains if by == "domain" else [getattr(v, by)]
        for key in keys:
            groups[key].append(v)
    return {g: rates(vs, k) for g, vs in sorted(groups.items())}
