"""Metric validity: how far each verdict agrees with labelled trajectories.

Every labelled item (``{"id", "label", "result", "kind", "note"}``, see
:mod:`eigencore.bfcl.labels`) is replayed through the real pipeline: its BFCL entry becomes a
task (:func:`~eigencore.bfcl.suite.entry_task`), a :class:`~clients.models.scripted.ReplayAdapter`
plays the recorded calls against the in-process MCP servers (:func:`~eigencore.evaluation.
harness.rollout`), and :func:`~eigencore.evaluation.scoring.score` gives the outcome verdict, its
per-turn variant and BFCL's own verdict (:func:`~eigencore.bfcl.verdict.bfcl_verdict`).

Per metric the report gives agreement with the labels, false accepts (label false, metric
true) and false rejects (label true, metric false), overall and by transformation kind. For
rankings it draws synthetic "systems": each picks one item per entry, correct with a
system-specific probability and among kinds with a system-specific preference, and is scored
by its label-based success rate and by each metric's success rate; Kendall's tau-b compares
the rankings (one seeded draw, plus the spread over many redraws).
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import anyio

from clients.models.scripted import ReplayAdapter
from eigencore.bfcl.labels import KINDS, read_labels
from eigencore.bfcl.release import Entry, load_release
from eigencore.bfcl.suite import entry_task
from eigencore.bfcl.verdict import bfcl_verdict
from eigencore.evaluation.harness import Transcript, rollout
from eigencore.evaluation.outcome import ReferenceOutcome, reference_outcome
from eigencore.evaluation.report import kendall_tau_b
from eigencore.evaluation.scoring import score
from eigencore.evaluation.task import Task

__all__ = [
    "METRICS",
    "Confusion",
    "ItemVerdict",
    "SystemScore",
    "ValidityReport",
    "report_from",
    "score_items",
    "validity",
]

METRICS: tuple[str, ...] = ("outcome", "per_turn", "bfcl")
DEFAULT_SYSTEMS = 12
DEFAULT_DRAWS = 200
EQUAL_SKILL = 0.7
_EXPLAIN_CHARS = 600


@dataclass
class ItemVerdict:
    """One labelled item and what each metric said about it."""

    index: int
    id: str
    kind: str
    label: bool
    note: str
    verdicts: dict[str, bool]
    explanation: str = ""
    """Why some metric rejected it (the verdict's explanation, BFCL's error type and turn)."""
    error: str | None = None


@dataclass
class Confusion:
    """Agreement of one metric with the labels on a set of items."""

    n: int = 0
    positives: int = 0
    negatives: int = 0
    agree: int = 0
    false_accepts: int = 0
    false_rejects: int = 0

    def add(self, label: bool, verdict: bool) -> None:
        self.n += 1
        self.positives += label
        self.negatives += not label
        self.agree += label == verdict
        self.false_accepts += verdict and not label
        self.false_rejects += label and not verdict

    @property
    def accuracy(self) -> float | None:
        return self.agree / self.n if self.n else None

    @property
    def false_accept_rate(self) -> float | None:
        return self.false_accepts / self.negatives if self.negatives else None

    @property
    def false_reject_rate(self) -> float | None:
        return self.false_rejects / self.positives if self.positives else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accuracy": self.accuracy,
                "false_accept_rate": self.false_accept_rate,
                "false_reject_rate": self.false_reject_rate}


@dataclass
class SystemScore:
    """A synthetic system: its mix, its picks and its success rates."""

    name: str
    p_correct: float
    kind_weights: dict[str, float]
    picks: list[int]
    label_rate: float
    rates: dict[str, float]


@dataclass
class ValidityReport:
    items: list[ItemVerdict]
    overall: dict[str, Confusion]
    by_kind: dict[str, dict[str, Confusion]]
    systems: list[SystemScore]
    tau_labels: dict[str, float | None]
    """Per metric: tau-b between its system ranking and the label-based one (seeded draw)."""
    tau_pairs: dict[str, float | None]
    """Per pair of metrics ("a~b"): tau-b between their system rankings (seeded draw)."""
    tau_draws: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """Per metric: mean, min and max of tau-b vs labels over independent redraws."""
    tau_equal_skill: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """As ``tau_draws``, for systems equally likely to be right (p_correct = EQUAL_SKILL)
    that differ only in style (which kinds of trajectories they produce)."""
    draws: int = 0
    seed: int = 0

    @property
    def entries(self) -> int:
        return len({i.id for i in self.items})

    def disagreements(self) -> list[ItemVerdict]:
        return [i for i in self.items if any(v != i.label for v in i.verdicts.values())]

    def to_json(self) -> str:
        return json.dumps({
            "items": [asdict(i) for i in self.items],
            "overall": {m: c.to_dict() for m, c in self.overall.items()},
            "by_kind": {k: {m: c.to_dict() for m, c in per.items()}
                        for k, per in self.by_kind.items()},
            "systems": [asdict(s) for s in self.systems],
            "tau_labels": self.tau_labels,
            "tau_pairs": self.tau_pairs,
            "tau_draws": self.tau_draws,
            "tau_equal_skill": self.tau_equal_skill,
            "draws": self.draws,
            "seed": self.seed,
        }, indent=2)

    def to_text(self, *, details: bool = True) -> str:
        lines: list[str] = []
        pos = sum(i.label for i in self.items)
        lines.append(f"Metric validity: {len(self.items)} labelled trajectories "
                     f"({pos} correct, {len(self.items) - pos} incorrect) over "
                     f"{self.entries} BFCL entries")
        errors = [i for i in self.items if i.error]
        if errors:
            lines.append(f"{len(errors)} item(s) could not be run (counted as rejected)")
        lines.append("")
        lines.append(f"{'metric':<10} {'agreement':>10} {'false accepts':>18} "
                     f"{'false rejects':>18}")
        for m, c in self.overall.items():
            lines.append(f"{m:<10} {_pct(c.accuracy):>10} "
                         f"{_frac(c.false_accepts, c.negatives):>18} "
                         f"{_frac(c.false_rejects, c.positives):>18}")
        lines.append("")
        lines.append("Disagreements with the label, by kind (false rejects for correct kinds, "
                     "false accepts for incorrect ones)")
        header = f"{'kind':<18} {'label':<6} {'n':>4}" + "".join(f" {m:>9}" for m in METRICS)
        lines.append(header)
        for kind, per in self.by_kind.items():
            any_c = next(iter(per.values()))
            label = "true" if any_c.positives else "false"
            cells = "".join(f" {per[m].false_accepts + per[m].false_rejects:>9}" for m in METRICS)
            lines.append(f"{kind:<18} {label:<6} {any_c.n:>4}{cells}")
        lines.append("")
        lines.append(f"Ranking {len(self.systems)} synthetic systems (seed {self.seed}): "
                     "Kendall tau-b")
        lines.append(f"{'system':<8} {'p_correct':>9} {'labels':>7}"
                     + "".join(f" {m:>9}" for m in METRICS))
        for s in sorted(self.systems, key=lambda s: -s.label_rate):
            lines.append(f"{s.name:<8} {s.p_correct:>9.2f} {_pct(s.label_rate):>7}"
                         + "".join(f" {_pct(s.rates[m]):>9}" for m in METRICS))
        for m, tau in self.tau_labels.items():
            spread = self.tau_draws.get(m, {})
            extra = (f"  (over {self.draws} redraws: mean {_tau(spread.get('mean'))}, "
                     f"min {_tau(spread.get('min'))}, max {_tau(spread.get('max'))})"
                     if spread else "")
            lines.append(f"tau(labels, {m}) = {_tau(tau)}{extra}")
        for pair, tau in self.tau_pairs.items():
            a, b = pair.split("~")
            lines.append(f"tau({a}, {b}) = {_tau(tau)}")
        if self.tau_equal_skill:
            lines.append(f"Equal skill (every system right with p = {EQUAL_SKILL}, styles differ), "
                         f"tau-b vs labels over {self.draws} draws:")
            for m, spread in self.tau_equal_skill.items():
                lines.append(f"  {m:<9} mean {_tau(spread.get('mean'))}, min "
                             f"{_tau(spread.get('min'))}, max {_tau(spread.get('max'))}")
        if details:
            lines.append("")
            lines.append("Items where a metric disagrees with the label")
            for i in self.disagreements():
                wrong = [m for m, v in i.verdicts.items() if v != i.label]
                verb = "rejected" if i.label else "accepted"
                lines.append(f"- #{i.index} {i.id} {i.kind} ({'correct' if i.label else 'wrong'})"
                             f": {verb} by {', '.join(wrong)}")
                lines.append(f"    edit: {i.note}")
                if i.explanation and i.label:
                    lines.append("    why: " + i.explanation.replace("\n", "\n         "))
        return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _frac(k: int, n: int) -> str:
    return f"{k}/{n} ({_pct(k / n if n else None)})"


def _tau(t: float | None) -> str:
    return "n/a" if t is None else f"{t:+.3f}"


# ------------------------------------------------------------------------------- scoring

def _explanation(verdict: Any) -> str:
    # explain() ends with a bare "BFCL: <type>"; the failing turn is worth adding.
    lines = [line for line in verdict.explain().splitlines() if not line.startswith("BFCL: ")]
    text = "\n".join(lines)
    if len(text) > _EXPLAIN_CHARS:
        text = text[:_EXPLAIN_CHARS] + " ..."
    if verdict.bfcl is False and verdict.bfcl_detail:
        detail = verdict.bfcl_detail
        text += f"\nBFCL {detail.get('error_type')} at turn {detail.get('turn')}"
    return text.strip()


async def score_items(items: Sequence[dict[str, Any]], *, concurrency: int = 8
                      ) -> list[ItemVerdict]:
    """Replay and score every item; one task and reference outcome per entry."""
    wanted = {str(item["id"]) for item in items}
    release = load_release()
    entries: dict[str, Entry] = {e.id: e for e in release.all_entries() if e.id in wanted}
    tasks: dict[str, Task] = {}
    references: dict[str, ReferenceOutcome] = {}
    out: list[ItemVerdict | None] = [None] * len(items)
    limiter = anyio.CapacityLimiter(max(1, concurrency))

    with tempfile.TemporaryDirectory(prefix="eigen-validity-") as tmp:
        async def one(index: int, item: dict[str, Any]) -> None:
            entry_id = str(item["id"])
            base = dict(index=index, id=entry_id, kind=str(item.get("kind", "")),
                        label=bool(item["label"]), note=str(item.get("note", "")))
            entry = entries.get(entry_id)
            if entry is None:
                out[index] = ItemVerdict(**base, verdicts={m: False for m in METRICS},
                                         error=f"{entry_id} is not a BFCL entry")
                return
            async with limiter:
                if entry_id not in tasks:
                    tasks[entry_id] = entry_task(entry)
                    references[entry_id] = reference_outcome(tasks[entry_id])
                task = tasks[entry_id]
                # A result file holds one record per id: one file per item.
                path = Path(tmp) / f"item-{index}.jsonl"
                path.write_text(json.dumps({"id": entry_id, "result": item["result"]}) + "\n",
                                encoding="utf-8")
                try:
                    transcript = await rollout(task, ReplayAdapter(path))
                except Exception as e:  # one broken item must not end the measurement
                    transcript = Transcript(task_id=entry_id, sample=0, model="replay",
                                            error=f"{type(e).__name__}: {e}")
                verdict = score(task, transcript, references[entry_id], bfcl_verdict)
            out[index] = ItemVerdict(
                **base, verdicts={"outcome": verdict.outcome, "per_turn": verdict.per_turn,
                                  "bfcl": bool(verdict.bfcl)},
                explanation=_explanation(verdict), error=transcript.error)

        async with anyio.create_task_group() as tg:
            for index, item in enumerate(items):
                tg.start_soon(one, index, item)
    return [v for v in out if v is not None]


# ------------------------------------------------------------------------------- systems

def _draw_systems(items: Sequence[ItemVerdict], count: int, seed: int,
                  skill: tuple[float, float] = (0.1, 0.95)) -> list[SystemScore]:
    by_entry: dict[str, list[ItemVerdict]] = defaultdict(list)
    for item in items:
        by_entry[item.id].append(item)
    kinds = sorted({i.kind for i in items})
    systems = []
    for s in range(count):
        rng = random.Random(f"validity:{seed}:system:{s}")
        p_correct = round(rng.uniform(*skill), 3)
        # A style: how much this system tends to produce each kind of trajectory.
        weights = {k: round(rng.uniform(0.05, 1.0), 3) for k in kinds}
        picks = []
        for entry_id in sorted(by_entry):
            group = by_entry[entry_id]
            want = rng.random() < p_correct
            pool = [i for i in group if i.label == want] or group
            pick = rng.choices(pool, weights=[weights[i.kind] for i in pool])[0]
            picks.append(pick)
        label_rate = sum(p.label for p in picks) / len(picks)
        rates = {m: sum(p.verdicts[m] for p in picks) / len(picks) for m in METRICS}
        systems.append(SystemScore(f"sys{s:02d}", p_correct, weights, [p.index for p in picks],
                                   label_rate, rates))
    return systems


def _taus(systems: Sequence[SystemScore]) -> tuple[dict[str, float | None],
                                                     dict[str, float | None]]:
    labels = [s.label_rate for s in systems]
    vs_labels = {m: kendall_tau_b(labels, [s.rates[m] for s in systems]) for m in METRICS}
    pairs = {f"{a}~{b}": kendall_tau_b([s.rates[a] for s in systems],
                                       [s.rates[b] for s in systems])
             for a, b in combinations(METRICS, 2)}
    return vs_labels, pairs


def _tau_spread(verdicts: Sequence[ItemVerdict], systems: int, seed: int, draws: int,
                skill: tuple[float, float]) -> dict[str, dict[str, float | None]]:
    samples: dict[str, list[float]] = {m: [] for m in METRICS}
    for d in range(draws):
        taus, _ = _taus(_draw_systems(verdicts, systems, seed + 1 + d, skill))
        for m, t in taus.items():
            if t is not None:  # undefined when every system ties under one side
                samples[m].append(t)
    return {m: {"mean": statistics.fmean(v) if v else None, "min": min(v, default=None),
                "max": max(v, default=None), "defined": len(v)} for m, v in samples.items()}


def report_from(verdicts: Sequence[ItemVerdict], *, systems: int = DEFAULT_SYSTEMS,
                seed: int = 0, draws: int = DEFAULT_DRAWS) -> ValidityReport:
    """Aggregate scored items into the report (no execution)."""
    overall = {m: Confusion() for m in METRICS}
    by_kind: dict[str, dict[str, Confusion]] = {}
    order = {k: n for n, k in enumerate(KINDS)}
    for item in sorted(verdicts, key=lambda i: (order.get(i.kind, len(order)), i.kind)):
        per = by_kind.setdefault(item.kind, {m: Confusion() for m in METRICS})
        for m in METRICS:
            overall[m].add(item.label, item.verdicts[m])
            per[m].add(item.label, item.verdicts[m])
    drawn = _draw_systems(verdicts, systems, seed) if verdicts and systems >= 2 else []
    tau_labels, tau_pairs = _taus(drawn) if drawn else ({}, {})
    spread: dict[str, dict[str, float | None]] = {}
    equal: dict[str, dict[str, float | None]] = {}
    if drawn and draws:
        spread = _tau_spread(verdicts, systems, seed, draws, (0.1, 0.95))
        equal = _tau_spread(verdicts, systems, seed, draws, (EQUAL_SKILL, EQUAL_SKILL))
    return ValidityReport(items=list(verdicts), overall=overall, by_kind=by_kind, systems=drawn,
                          tau_labels=tau_labels, tau_pairs=tau_pairs, tau_draws=spread,
                          tau_equal_skill=equal,
                          draws=draws if drawn else 0, seed=seed)


def validity(labels: str | Path | Sequence[dict[str, Any]], *, concurrency: int = 8,
             systems: int = DEFAULT_SYSTEMS, seed: int = 0, draws: int = DEFAULT_DRAWS
             ) -> ValidityReport:
    """Score a labelled set (a JSONL path or the items) with every metric and compare."""
    items = read_labels(labels) if isinstance(labels, str | Path) else list(labels)
    verdicts = anyio.run(lambda: score_items(items, concurrency=concurrency))
    return report_from(verdicts, systems=systems, seed=seed, draws=draws)
