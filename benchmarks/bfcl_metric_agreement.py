"""Agreement of our BFCL multi-turn metric with the OFFICIAL checker.

Cases: the 800 ground truths (each turn's calls as one step), seeded perturbations of them
(``eigencore.bfcl.perturb``) and the shared-state quirk probes with their controls. Each case is
judged by our metric over the original classes (reference executor), by our metric over the
SQLite port when every involved class is ported, and by BFCL's own ``multi_turn_checker`` in an
isolated subprocess (``eigencore.bfcl.official``). Agreement means the same validity, error type
and failing turn; "details" additionally compares the differing class and attribute names (state
mismatch) or the missing result strings (response mismatch). Every disagreement is listed.

Run: `python -m benchmarks.bfcl_metric_agreement [--per-entry 2] [--seed 0] [--workers 2]
[--no-port] [--shared-pass] [--json out.json]`
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eigencore.bfcl.metric import (
    EpisodeFactory,
    GroundTruthRun,
    Verdict,
    check,
    ground_truth_run,
    ground_truth_trajectory,
    reference_executor,
)
from eigencore.bfcl.official import OfficialCase, OfficialVerdict, run_official
from eigencore.bfcl.perturb import perturbations, quirk_probes
from eigencore.bfcl.release import Entry, load_release

STATE = "multi_turn:instance_state_mismatch"
RESPONSE = "multi_turn:execution_response_mismatch"

# Why the official checker passes the probes (evidence: it fails every control twin, and our
# metric names the attribute that differs).
EXPLANATIONS = {
    "probe_shared_default": (
        "TwitterAPI.post_tweet has the mutable default `mentions=[]`. The official checker runs "
        "the model's and the ground truth's instances in one process on one copy of the class, so "
        "both tweets posted without `mentions` hold the SAME default list object; the model's "
        "extra `mention(...)` extends it and the ground truth's tweet changes with it. Its state "
        "check compares the list with itself and passes; the model's results are a superset. Our "
        "metric runs each side on its own module copy and sees `tweets` differ."
    ),
    "probe_shared_extension": (
        "In long-context TravelAPI entries `_add_credit_cards` merges the dicts of the module "
        "global `long_context.CREDIT_CARD_EXTENSION` by reference into `credit_card_list`. The "
        "model's extra `purchase_insurance` charged to such a card lowers the balance in the dict "
        "the ground truth's instance holds too, so the official state check passes. Our metric "
        "sees `credit_card_list` differ."
    ),
}


@dataclass
class Case:
    case_id: str
    entry_id: str
    group: str  # "ground_truth", "perturbation" or "probe"
    kind: str
    description: str
    trajectory: list[list[list[str]]]
    ours: Verdict | None = None
    port: Verdict | None = None
    official: OfficialVerdict | None = None
    official_shared: OfficialVerdict | None = None
    port_error: str | None = None


@contextmanager
def timed(label: str, timings: dict[str, float]) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[label] = time.perf_counter() - started


def details_of(verdict: Verdict) -> tuple[Any, ...]:
    if verdict.error_type == STATE:
        cls = verdict.details["class"]
        return (cls, sorted(verdict.details["differences"][cls]))
    if verdict.error_type == RESPONSE:
        return (tuple(verdict.details["missing_items"]),)
    return ()


def official_details(verdict: OfficialVerdict) -> tuple[Any, ...]:
    if verdict.error_type == STATE:
        return (verdict.state_class, list(verdict.state_attributes or []))
    if verdict.error_type == RESPONSE:
        return (tuple(verdict.missing_items or []),)
    return ()


def build_cases(entries: list[Entry], per_entry: int, seed: int) -> list[Case]:
    release = load_release()
    cases = [Case(e.id, e.id, "ground_truth", "ground_truth", "ground truth",
                  ground_truth_trajectory(e)) for e in entries]
    for p in perturbations(entries, per_entry=per_entry, seed=seed, release=release):
        cases.append(Case(p.case_id, p.entry_id, "perturbation", p.kind, p.description,
                          p.trajectory))
    for p in quirk_probes(entries, release=release):
        cases.append(Case(p.case_id, p.entry_id, "probe", p.kind, p.description, p.trajectory))
    return cases


def judge(cases: list[Case], entries: dict[str, Entry], executor: EpisodeFactory,
          store: Callable[[Case, Verdict], None],
          on_error: Callable[[Case, Exception], None] | None = None) -> None:
    """Our verdict for every case; with ``on_error``, an executor that raises (outside a call,
    e.g. in its state projection) is recorded for the case instead of stopping the run."""
    truths: dict[str, GroundTruthRun] = {}
    for case in cases:
        entry = entries[case.entry_id]
        try:
            if case.entry_id not in truths:
                truths[case.entry_id] = ground_truth_run(entry, executor)
            verdict = check(entry, case.trajectory, executor=executor,
                            truth=truths[case.entry_id])
        except Exception as exc:
            if on_error is None:
                raise
            on_error(case, exc)
            continue
        store(case, verdict)


def port_executor() -> tuple[EpisodeFactory, set[str]] | None:
    try:
        from eigencore.bfcl.port import PortEpisode
        from environments.bfcl import by_class
    except ImportError:
        return None
    bundles = by_class()
    return (lambda entry: PortEpisode(entry, bundles)), set(bundles)


def table(cases: list[Case], with_port: bool, with_shared: bool) -> list[str]:
    rows: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for c in cases:
        counts = rows[(c.group, c.kind)]
        assert c.ours is not None and c.official is not None
        counts["cases"] += 1
        counts["official_valid"] += bool(c.official.valid)
        agree = c.ours.summary() == c.official.summary()
        counts["agree"] += agree
        counts["details_agree"] += agree and details_of(c.ours) == official_details(c.official)
        if with_port and (c.port is not None or c.port_error is not None):
            counts["port_cases"] += 1
            counts["port_agree"] += (c.port is not None
                                     and c.port.summary() == c.ours.summary()
                                     and details_of(c.port) == details_of(c.ours)
                                     and not c.port.details.get("raised"))
        if with_shared and c.official_shared is not None:
            counts["shared_same"] += c.official_shared.summary() == c.official.summary()
    header = ["group", "kind", "cases", "official valid", "agree", "disagree", "details agree"]
    if with_port:
        header += ["port cases", "port = reference"]
    if with_shared:
        header += ["shared-process official = fresh"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    total: Counter[str] = Counter()
    for (group, kind), counts in rows.items():
        total.update(counts)
        lines.append(_row(group, kind, counts, with_port, with_shared))
    lines.append(_row("**all**", "", total, with_port, with_shared))
    return lines


def _row(group: str, kind: str, c: Counter[str], with_port: bool, with_shared: bool) -> str:
    cells = [group, kind, c["cases"], c["official_valid"], c["agree"], c["cases"] - c["agree"],
             c["details_agree"]]
    if with_port:
        cells += [c["port_cases"], c["port_agree"]]
    if with_shared:
        cells += [c["shared_same"]]
    return "| " + " | ".join(str(x) for x in cells) + " |"


def disagreements(cases: list[Case]) -> list[str]:
    out: list[str] = []
    by_kind: dict[str, list[Case]] = defaultdict(list)
    for c in cases:
        assert c.ours is not None and c.official is not None
        if c.ours.summary() != c.official.summary() or c.official.crash:
            by_kind[c.kind].append(c)
        elif details_of(c.ours) != official_details(c.official):
            by_kind[f"{c.kind} (details only)"].append(c)
    controls = {c.entry_id + ":" + c.kind.removeprefix("control_"): c for c in cases
                if c.kind.startswith("control_")}
    for kind, items in by_kind.items():
        explanation = EXPLANATIONS.get(kind, "UNEXPLAINED: investigate")
        out.append(f"### {kind}: {len(items)} disagreement(s)\n\n{explanation}\n")
        for c in items:
            assert c.ours is not None and c.official is not None
            ours = c.ours.summary()
            where = details_of(c.ours)
            control = controls.get(f"{c.entry_id}:{kind.removeprefix('probe_')}")
            control_note = ""
            if control is not None and control.official is not None:
                control_note = (f"; control twin: official {control.official.error_type} at "
                                f"turn {control.official.turn}")
            out.append(
                f"- `{c.case_id}` — {c.description}\n  ours: {ours['error_type'] or 'valid'}"
                f" (turn {ours['turn']}, {where}); official: "
                f"{c.official.error_type or 'valid'} (turn {c.official.turn})"
                f"{' crash ' + c.official.crash if c.official.crash else ''}{control_note}"
            )
        out.append("")
    return out


def port_mismatches(cases: list[Case]) -> list[str]:
    out = []
    for c in cases:
        if c.ours is None:
            continue
        if c.port_error is not None:
            out.append(f"- `{c.case_id}` ({c.description}): the port raised {c.port_error}")
            continue
        if c.port is None:
            continue
        raised = c.port.details.get("raised")
        if raised:
            out.append(f"- `{c.case_id}` ({c.description}): the port raised on {raised} "
                       "(turned into an error result, as BFCL does)")
        if c.port.summary() != c.ours.summary() or details_of(c.port) != details_of(c.ours):
            out.append(f"- `{c.case_id}` ({c.description}): reference {c.ours.summary()} "
                       f"{details_of(c.ours)}; port {c.port.summary()} {details_of(c.port)}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-entry", type=int, default=2, help="perturbations per entry")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="official-checker subprocesses")
    parser.add_argument("--no-port", action="store_true", help="skip the SQLite port")
    parser.add_argument("--shared-pass", action="store_true",
                        help="also run the official checker on all cases in ONE process with "
                             "shared BFCL modules, as BFCL itself does")
    parser.add_argument("--json", help="write per-case verdicts to this file")
    args = parser.parse_args(argv)

    timings: dict[str, float] = {}
    release = load_release()
    with timed("load entries", timings):
        entry_list = release.all_entries()
    entries = {e.id: e for e in entry_list}
    with timed("build cases", timings):
        cases = build_cases(entry_list, args.per_entry, args.seed)

    with timed("ours (reference executor)", timings):
        judge(cases, entries, reference_executor(release),
              lambda c, v: setattr(c, "ours", v))

    port = None if args.no_port else port_executor()
    ported: set[str] = set()
    if port is not None:
        factory, ported = port
        eligible = [c for c in cases if set(entries[c.entry_id].involved_classes) <= ported]
        with timed("ours (SQLite port)", timings):
            judge(eligible, entries, factory, lambda c, v: setattr(c, "port", v),
                  lambda c, e: setattr(c, "port_error", f"{type(e).__name__}: {e}"))

    official_cases = [OfficialCase(c.case_id, c.entry_id, c.trajectory) for c in cases]
    with timed(f"official checker ({args.workers} subprocesses)", timings):
        for c, v in zip(cases, run_official(official_cases, release=release,
                                            workers=args.workers), strict=True):
            c.official = v
    if args.shared_pass:
        with timed("official checker (one process, shared modules)", timings):
            shared = run_official(official_cases, release=release, workers=1,
                                  shared_modules=True)
        for c, v in zip(cases, shared, strict=True):
            c.official_shared = v

    print(f"# BFCL multi-turn metric agreement (bfcl-eval {release.version})\n")
    print(f"python {platform.python_version()}, {platform.machine()}; "
          f"per-entry={args.per_entry} seed={args.seed}; ported classes: "
          f"{', '.join(sorted(ported)) or 'none'}\n")
    print("\n".join(table(cases, port is not None, args.shared_pass)))
    print("\n## Disagreements with the official checker\n")
    print("\n".join(disagreements(cases)) or "none\n")
    if port is not None:
        print("## Port vs reference executor (our metric)\n")
        print("\n".join(port_mismatches(cases)) or "no difference")
    if args.shared_pass:
        changed = [c for c in cases if c.official_shared is not None and c.official is not None
                   and c.official_shared.summary() != c.official.summary()]
        print("\n## Official checker: one shared process vs fresh modules per case\n")
        print("\n".join(f"- `{c.case_id}`: fresh {c.official.summary()}, shared "
                        f"{c.official_shared.summary()}" for c in changed if c.official
                        and c.official_shared) or "no verdict changes")
    print("\n## Timings\n")
    for label, seconds in timings.items():
        print(f"- {label}: {seconds:.1f} s")
    if args.json:
        rows = [{"case": c.case_id, "entry": c.entry_id, "kind": c.kind,
                 "description": c.description, "ours": c.ours.summary() if c.ours else None,
                 "port": c.port.summary() if c.port else None,
                 "official": c.official.summary() if c.official else None} for c in cases]
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
