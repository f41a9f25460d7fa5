"""The repaired BFCL-V3 benchmark: generated from the cached release, never committed.

`generate(version, out)` audits the release, repairs it (`eigencore.audit.repair`) and writes,
under `out` (default `<cache>/bfcl/<version>/repaired/`):

    bfcl/                 BFCL's own layout, a drop-in for `bfcl_eval/data` (`bfcl_format`)
    eigendata/tasks.jsonl the `bfcl-v3-repaired` suite: one `Task` per line, owed facts per turn
    eigendata/outcomes.jsonl  per task the expected final state (diff per domain) and owed facts
    changelog.jsonl, dispositions.jsonl, CHANGELOG.md   every change and every finding's fate
    repair.json           the summary, written last (its presence marks a complete generation)

With `verify`, every repaired task is replayed through the real harness: the oracle must pass
it and the do-nothing agent must fail it under the outcome verdict; and with `drop_in` the BFCL
files are loaded by BFCL's own loaders and checked by its official checker in a subprocess.

`repaired_tasks(categories, version)` loads the suite, generating it first when absent or made
by another repair version. `main(version, out)` is `eigen bfcl repair`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from eigencore.audit.bfcl_format import check_drop_in, read_bfcl, write_bfcl
from eigencore.audit.findings import AuditReport, Finding
from eigencore.audit.repair import REPAIR_VERSION, SUITE, RepairResult, repair
from eigencore.bfcl.release import CATEGORIES, DEFAULT_VERSION, Release, cache_root, load_release
from eigencore.evaluation.task import Task

__all__ = [
    "KINDS",
    "SUITE",
    "audit_findings",
    "bfcl_scorer",
    "changelog_markdown",
    "generate",
    "main",
    "read_audit",
    "repaired_dir",
    "repaired_tasks",
    "replay",
]

SUMMARY = "repair.json"
TASKS = Path("eigendata") / "tasks.jsonl"


def repaired_dir(version: str = DEFAULT_VERSION) -> Path:
    return cache_root() / "bfcl" / version / "repaired"


# --------------------------------------------------------------------------- audit


KINDS = ("schema", "implementation", "trajectory")


def audit_findings(
    release: Release,
    kinds: Sequence[str] = ("trajectory",),
    progress: Callable[[str], None] = print,
) -> tuple[list[Finding], list[str]]:
    """The findings of the release's audit for `kinds`, and the kinds that ran. The schema and
    implementation checks belong to another module; when they cannot run, that is said and
    their kind is skipped (the trajectory findings alone drive the repairs)."""
    from eigencore.audit.trajectory import audit_trajectories

    modules = {
        "schema": ("eigencore.audit.schema", "audit_schemas"),
        "implementation": ("eigencore.audit.implementation", "audit_implementations"),
    }
    findings: list[Finding] = []
    ran: list[str] = []
    for kind in kinds:
        if kind == "trajectory":
            found = audit_trajectories(release)
        else:
            module, function = modules[kind]
            try:
                found = getattr(__import__(module, fromlist=[function]), function)(release)
            except Exception as exc:  # another engineer's check not ready: say so, go on
                progress(f"{kind} checks unavailable ({type(exc).__name__}: {exc}); skipped")
                continue
        findings += found
        ran.append(kind)
        progress(f"{kind} checks: {len(found)} findings")
    return _unique(findings), ran


def read_audit(path: Path) -> tuple[list[Finding], list[str]]:
    """The findings of an `eigen bfcl audit` report (audit.json)."""
    report = AuditReport.model_validate_json(path.read_text(encoding="utf-8"))
    return _unique(report.findings), sorted({f.kind for f in report.findings})


def _unique(findings: Sequence[Finding]) -> list[Finding]:
    seen: set[str] = set()
    out = []
    for f in findings:  # two checks may reach the same id; keep the first
        if f.id not in seen:
            seen.add(f.id)
            out.append(f)
    return out


# --------------------------------------------------------------------------- replay


def replay(tasks: Sequence[Task], model: str, *, concurrency: int = 4) -> list[Any]:
    """Run `oracle` or `noop` on the tasks through the real harness; their verdicts."""
    import anyio

    from clients.models.scripted import NoopAdapter, OracleAdapter
    from eigencore.evaluation.harness import rollout
    from eigencore.evaluation.outcome import reference_outcome
    from eigencore.evaluation.scoring import Verdict, score

    factory = {"oracle": OracleAdapter, "noop": NoopAdapter}[model]
    verdicts: dict[str, Verdict] = {}

    async def run() -> None:
        limiter = anyio.CapacityLimiter(max(1, concurrency))

        async def one(task: Task) -> None:
            async with limiter:
                transcript = await rollout(task, factory())
                verdicts[task.id] = score(task, transcript, reference_outcome(task))

        async with anyio.create_task_group() as tg:
            for task in tasks:
                tg.start_soon(one, task)

    anyio.run(run)
    return [verdicts[t.id] for t in tasks]


def _replay_summary(tasks: Sequence[Task], concurrency: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in ("oracle", "noop"):
        t0 = time.perf_counter()
        verdicts = replay(tasks, model, concurrency=concurrency)
        out[model] = {
            "tasks": len(verdicts),
            "outcome_pass": sum(v.outcome for v in verdicts),
            "per_turn_pass": sum(v.per_turn for v in verdicts),
            "seconds": round(time.perf_counter() - t0, 1),
            # the oracle's failures and the do-nothing agent's passes are the defects
            "exceptions": [
                {"id": v.task_id, "explain": v.explain()[:600]}
                for v in verdicts
                if v.outcome != (model == "oracle")
            ],
        }
    return out


# --------------------------------------------------------------------------- writing


def _write_jsonl(path: Path, rows: Sequence[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(
                (
                    row.model_dump_json()
                    if hasattr(row, "model_dump_json")
                    else json.dumps(row, default=str)
                )
                + "\n"
            )


def _outcomes(tasks: Sequence[Task]) -> list[dict[str, Any]]:
    from eigencore.evaluation.outcome import reference_outcome

    rows = []
    for task in tasks:
        ref = reference_outcome(task)
        rows.append(
            {
                "id": task.id,
                "final_state": {
                    d: diff.model_dump(mode="json")["changes"]
                    for d, diff in ref.final_state.items()
                    if not diff.empty
                },
                "owed": [[f.model_dump(mode="json") for f in turn] for turn in ref.owed],
            }
        )
    return rows


def changelog_markdown(result: RepairResult, summary: dict[str, Any]) -> str:
    """CHANGELOG.md: per entry its changes (what, before, after, why, findings), then every
    finding not repaired with its reason."""
    lines = [
        f"# BFCL {result.release} multi-turn: repair changelog",
        "",
        f"Repair rules version {result.repair_version}; release sha256 {result.sha256}.",
        "Generated from the cached release by `eigen bfcl repair`; see docs/audit.md.",
        "",
        "## Summary",
        "",
        "```json",
        json.dumps(
            {k: summary[k] for k in ("changes", "dispositions", "entries_changed") if k in summary},
            indent=1,
        ),
        "```",
        "",
        "## Changes",
        "",
    ]
    by_entry: dict[str, list[Any]] = {}
    for c in result.changelog:
        by_entry.setdefault(c.entry_id, []).append(c)
    for entry_id, changes in by_entry.items():
        lines.append(f"### {entry_id}")
        for c in changes:
            where = "" if c.turn is None else f"turn {c.turn}, "
            if c.change == "set_owed":
                owed = "; ".join(f"{f['label']}={f['value']!r}" for f in c.after)
                lines.append(
                    f"- `{c.id}` {where}**set_owed**: {owed[:400]}. {c.why}"
                    + (f" Findings: {', '.join(c.finding_ids)}." if c.finding_ids else "")
                )
                continue
            lines.append(
                f"- `{c.id}` {where}**{c.change}**: {c.why}. Findings: "
                f"{', '.join(c.finding_ids) or 'none'}."
            )
            lines.append(f"  - before: `{json.dumps(c.before, ensure_ascii=False)[:600]}`")
            lines.append(f"  - after: `{json.dumps(c.after, ensure_ascii=False)[:600]}`")
        lines.append("")
    lines += ["## Findings not repaired", "", "Unrepaired (defects that stay), one by one:", ""]
    for d in result.dispositions:
        if d.status == "unrepaired":
            lines.append(f"- `{d.finding_id}`: {d.reason}")
    lines += ["", "Accepted (kept on purpose), grouped by check and reason:", ""]
    groups: dict[tuple[str, str], list[str]] = {}
    for d in result.dispositions:
        if d.status == "accepted":
            groups.setdefault((d.check, d.reason), []).append(d.finding_id)
    for (check, reason), ids in sorted(groups.items(), key=lambda kv: (kv[0][0], -len(kv[1]))):
        shown = ", ".join(f"`{i}`" for i in ids[:6]) + (
            f" and {len(ids) - 6} more" if len(ids) > 6 else ""
        )
        lines.append(f"- **{check}** ({len(ids)}): {reason} — {shown}")
    return "\n".join(lines) + "\n"


def _summary(
    result: RepairResult, findings: Sequence[Finding], kinds: Sequence[str], started: float
) -> dict[str, Any]:
    by_status: Counter[str] = Counter(d.status for d in result.dispositions)
    blocking = {f.id for f in findings if f.severity in ("error", "warning")}
    fate = {d.finding_id: d.status for d in result.dispositions}
    return {
        "release": result.release,
        "sha256": result.sha256,
        "repair_version": result.repair_version,
        "audit_kinds": list(kinds),
        "findings": {
            "total": len(findings),
            "by_severity": dict(Counter(f.severity for f in findings)),
            "by_check": dict(sorted(Counter(f.check for f in findings).items())),
        },
        "dispositions": {
            "total": dict(by_status),
            "errors_and_warnings": dict(Counter(fate[i] for i in blocking)),
            "by_check": result.status_counts(),
        },
        "changes": dict(Counter(c.change for c in result.changelog)),
        "changelog_entries": len(result.changelog),
        "entries_changed": len({c.entry_id for c in result.changelog if c.change != "set_owed"}),
        "tasks": len(result.entries),
        "tasks_owing_facts": sum(1 for o in result.owed.values() if any(o)),
        "trivial": list(result.trivial),
        "reaudit": {
            "errors_and_warnings": len(result.remaining),
            "by_check_and_status": _remaining(result),
            "new": [f.id for f in result.new],
        },
        "seconds": round(time.perf_counter() - started, 1),
    }


def _remaining(result: RepairResult) -> dict[str, dict[str, int]]:
    fate = {d.finding_id: d.status for d in result.dispositions}
    out: dict[str, Counter[str]] = {}
    for f in result.remaining:
        out.setdefault(f.check, Counter())[fate.get(f.id, "new")] += 1
    return {k: dict(v) for k, v in sorted(out.items())}


def generate(
    version: str = DEFAULT_VERSION,
    out: Path | None = None,
    *,
    verify: bool = True,
    drop_in: bool = True,
    audit: Path | None = None,
    kinds: Sequence[str] = ("trajectory",),
    schema_patches: dict[str, Any] | None = None,
    concurrency: int = 4,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Audit (or read `audit`, an `eigen bfcl audit` report), repair and write the repaired
    benchmark; return the summary (also written as repair.json)."""
    started = time.perf_counter()
    out = out if out is not None else repaired_dir(version)
    release = load_release(version)
    (out / SUMMARY).unlink(missing_ok=True)  # an interrupted generation is not complete
    clock = {"start": started}

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(now - clock["start"], 1)
        clock["start"] = now

    timings: dict[str, float] = {}
    findings, kinds = read_audit(audit) if audit else audit_findings(release, kinds, progress)
    lap("audit")
    result = repair(release, findings, schema_patches=schema_patches, progress=progress)
    lap("repair")
    tasks = result.tasks()
    for task in tasks:
        task.meta["source"] = str(out.resolve())
    write_bfcl(result.entries, out / "bfcl", release, schema_patches=schema_patches)
    _write_jsonl(out / TASKS, tasks)
    _write_jsonl(out / "eigendata" / "outcomes.jsonl", _outcomes(tasks))
    _write_jsonl(out / "changelog.jsonl", result.changelog)
    _write_jsonl(out / "dispositions.jsonl", result.dispositions)
    summary = _summary(result, findings, kinds, started)
    (out / "CHANGELOG.md").write_text(changelog_markdown(result, summary), encoding="utf-8")
    lap("write")
    progress(f"wrote {out} ({len(tasks)} tasks, {len(result.changelog)} changelog entries)")
    if verify:
        summary["replay"] = _replay_summary(tasks, concurrency)
        progress(
            f"replayed: oracle {summary['replay']['oracle']['outcome_pass']}/{len(tasks)}, "
            f"noop {summary['replay']['noop']['outcome_pass']}/{len(tasks)} (outcome)"
        )
        lap("replay")
    if drop_in:
        report = check_drop_in(out / "bfcl", release)
        summary["drop_in"] = {
            "loaded": report.loaded,
            "docs": report.docs,
            "checked": len(report.verdicts),
            "invalid": report.invalid,
        }
        progress(
            f"BFCL drop-in: {len(report.verdicts) - len(report.invalid)}/"
            f"{len(report.verdicts)} valid under the official checker"
        )
        lap("drop_in")
    summary["timings"] = timings
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (out / SUMMARY).write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    return summary


def _complete(out: Path, version: str) -> bool:
    try:
        summary = json.loads((out / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return summary.get("repair_version") == REPAIR_VERSION and summary.get("release") == version


def repaired_tasks(
    categories: Sequence[str] | None = None, version: str | None = None, out: Path | None = None
) -> list[Task]:
    """The `bfcl-v3-repaired` suite, generated into the cache first if needed."""
    version = version or DEFAULT_VERSION
    wanted = list(categories) if categories else list(CATEGORIES)
    unknown = set(wanted) - set(CATEGORIES)
    if unknown:
        raise KeyError(f"unknown BFCL categories {sorted(unknown)}; known: {list(CATEGORIES)}")
    out = out if out is not None else repaired_dir(version)
    if not _complete(out, version):
        generate(version, out, verify=False, drop_in=False)
    tasks = [
        Task.model_validate_json(line)
        for line in (out / TASKS).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return [t for t in tasks if t.category in wanted]


@cache
def _repaired_entries(source: str) -> dict[str, Any]:
    return {e.id: e for e in read_bfcl(Path(source) / "bfcl")}


def bfcl_scorer(task: Task, transcript: Any) -> tuple[bool, dict[str, Any]]:
    """BFCL's metric (re-implemented, over the port) against the REPAIRED ground truth; the
    `eigencore.bfcl.verdict.bfcl_verdict` scorer compares with the original one."""
    from eigencore.bfcl.metric import check
    from eigencore.bfcl.port import PortEpisode

    entry = _repaired_entries(str(task.meta.get("source") or repaired_dir()))[task.id]
    verdict = check(entry, transcript.decoded_calls(), executor=PortEpisode)
    detail = verdict.summary()
    if verdict.error_message:
        detail["message"] = verdict.error_message
    return verdict.valid, detail


def main(
    version: str = DEFAULT_VERSION,
    out: Path | None = None,
    audit: Path | None = None,
    full_audit: bool = False,
) -> int:
    """`eigen bfcl repair`: generate, verify and report; non-zero when a check fails.

    `audit`: an `eigen bfcl audit` report to repair from (all its findings get a disposition);
    otherwise the release is audited here, trajectory checks only unless `full_audit`."""
    summary = generate(version, out, audit=audit, kinds=KINDS if full_audit else ("trajectory",))
    replayed = summary.get("replay", {})
    tasks = summary["tasks"]
    problems = []
    if replayed and replayed["oracle"]["outcome_pass"] != tasks:
        problems.append(f"oracle fails {tasks - replayed['oracle']['outcome_pass']} tasks")
    if replayed and replayed["noop"]["outcome_pass"]:
        problems.append(f"do-nothing passes {replayed['noop']['outcome_pass']} tasks")
    if summary.get("drop_in", {}).get("invalid"):
        problems.append(f"{len(summary['drop_in']['invalid'])} entries invalid under BFCL")
    if summary["reaudit"]["new"]:
        problems.append(f"{len(summary['reaudit']['new'])} new findings after repair")
    print(json.dumps({k: summary[k] for k in ("changes", "dispositions", "trivial")}, indent=1))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0
