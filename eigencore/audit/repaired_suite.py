"""The repaired BFCL-V3 benchmark: generated from the cached release, never committed.

`generate(version, out)` audits the release (schema, implementation and trajectory checks by
default), repairs it (`eigencore.audit.repair`) and writes, under `out` (default
`<cache>/bfcl/<version>/repaired/`):

    bfcl/                 BFCL's own layout, a drop-in for `bfcl_eval/data` (`bfcl_format`),
                          function docs patched where the schema patch changed them
    eigendata/tasks.jsonl the `bfcl-v3-repaired` suite: one `Task` per line, owed facts per
                          turn, scenarios flagged ``repaired`` (the port's code fixes on)
    eigendata/outcomes.jsonl  per task the expected final state (diff per domain) and owed
                          facts, computed in the same repaired mode
    changelog.jsonl, schema_patches.jsonl, code_fixes.jsonl, dispositions.jsonl, CHANGELOG.md
                          every change (entries, docs, code) and every finding's fate
    repair.json           the summary, written last (its presence marks a complete generation)

With `verify`, every written task's reference is re-executed with and without the port's code
fixes (every difference a finding: the task would mean one thing in the suite and another under
BFCL's checker), and every task is replayed through the real harness: the oracle must pass it
and the do-nothing agent must fail it under the outcome verdict; and with `drop_in` the BFCL
files are loaded by BFCL's own loaders and checked by its official checker in a subprocess.

`repaired_tasks(categories, version)` loads the suite, generating it first when absent or made
by another repair version. `main(version, out)` is `eigen bfcl repair`; `repaired_entry` and
`publish_docs` are what `eigen bfcl serve ENTRY --repaired` serves.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from eigencore.audit.bfcl_format import check_drop_in, doc_path, read_bfcl, write_bfcl
from eigencore.audit.doc_code_repair import UNATTRIBUTED
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
    "publish_docs",
    "read_audit",
    "repaired_dir",
    "repaired_entry",
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
    kinds: Sequence[str] = KINDS,
    progress: Callable[[str], None] = print,
) -> tuple[list[Finding], list[str]]:
    """The findings of the release's audit for `kinds`, and the kinds that ran. When the schema
    or implementation checks cannot run, that is said and their kind is skipped (the summary
    records the kinds that ran)."""
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


def _clip(value: Any, n: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= n else text[: n - 1] + "…"


def _docs_and_code(result: RepairResult) -> list[str]:
    lines = ["## Function docs (schema patch)", ""]
    applied = [c for c in result.schema_changes if c.status == "repaired"]
    if not result.schema_changes:
        lines += ["No schema findings in the audit this was generated from: docs as released.", ""]
    for c in applied:
        lines.append(
            f"- `{c.id}` **{c.field}**: {c.why}. Findings: {', '.join(c.finding_ids)}."
        )
        if c.before is not None or c.after is not None:
            lines.append(f"  - before: `{_clip(c.before)}`")
            lines.append(f"  - after: `{_clip(c.after)}`")
    lines += [
        "",
        "## Code fixes (the port's repaired mode)",
        "",
        "The `bfcl-v3-repaired` suite runs the port with these fixes on; the BFCL-format",
        "drop-in is checked by BFCL's own tooling on the original classes, which do not have",
        "them. Where a fix changed what a reference returns, the repair kept the task's",
        "meaning by repairing its scenario or request (`reconcile` changes, listed under the",
        "fix, evidence in each change). Every repaired reference whose execution still differs",
        "between the two is listed under the fix (results as JSON, clipped); a call that",
        "differs through an earlier call's fix (no booking, so no invoice) is listed under",
        "that fix too.",
        "",
    ]
    for c in result.code_changes:
        lines.append(
            f"### `{c.id}` ({c.module}.{c.function})\n\n{c.summary} Findings: "
            f"{', '.join(c.finding_ids)}. Regression tests: "
            f"{', '.join(f'`{t}`' for t in c.tests) or 'none'}."
        )
        if c.reconciled:
            lines.append(
                f"\nReconciled ({len(c.reconciled)} tasks: the reference now gives the same "
                "results with and without the fix): "
                + ", ".join(f"`{i}`" for i in c.reconciled)
                + "."
            )
        if not c.effects:
            lines.append("\nNo repaired reference behaves differently with this fix.")
        for e in c.effects:
            where = f"turn {e.turn}, `{e.call}`" if e.turn is not None else "final state"
            lines.append(
                f"- **{e.task_id}** ({where}): original code `{e.original}`; "
                f"with the fix `{e.repaired}`"
            )
        lines.append("")
    if result.divergent:
        lines += ["### Tasks whose meaning still depends on the code", ""]
        lines += [f"- `{f.id}`: {f.evidence.notes or 'no reconciliation applies'}"
                  for f in result.divergent]  # fmt: skip
        lines.append("")
    stray = [e for e in result.fix_effects if UNATTRIBUTED in e.fixes]
    if stray:
        lines += ["### Differences no fix explains", ""]
        lines += [f"- **{e.task_id}**: `{e.original}` -> `{e.repaired}`" for e in stray]
        lines.append("")
    return lines


def changelog_markdown(result: RepairResult, summary: dict[str, Any]) -> str:
    """CHANGELOG.md: per entry its changes (what, before, after, why, findings), the schema
    patch and the code fixes (with the references they change), then every finding not
    repaired with its reason."""
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
    lines += _docs_and_code(result)
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
        "kinds": _by_kind(result, findings),
        "changes": dict(Counter(c.change for c in result.changelog)),
        "schema_changes": dict(Counter(c.status for c in result.schema_changes)),
        "code_fixes": {c.id: len(c.effects) for c in result.code_changes},
        "fix_effects": _fix_effects(result),
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
        "undisposed": sorted({f.id for f in findings} - set(fate)),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _fix_effects(result: RepairResult) -> dict[str, Any]:
    """How many repaired references behave differently with and without the code fixes."""
    effects = result.fix_effects
    return {
        "results": len(effects),
        "tasks": len({e.task_id for e in effects}),
        "unattributed": sorted({e.task_id for e in effects if UNATTRIBUTED in e.fixes}),
        "reconciled": {c.id: len(c.reconciled) for c in result.code_changes if c.reconciled},
        "findings": [f.id for f in result.divergent],
    }


def _by_kind(result: RepairResult, findings: Sequence[Finding]) -> dict[str, dict[str, Any]]:
    """Per finding kind: how many findings, and their dispositions."""
    kind = {f.id: f.kind for f in findings}
    out: dict[str, dict[str, Any]] = {}
    for f in findings:
        out.setdefault(f.kind, {"findings": 0, "dispositions": Counter()})["findings"] += 1
    for d in result.dispositions:
        out[kind[d.finding_id]]["dispositions"][d.status] += 1
    return {k: {**v, "dispositions": dict(v["dispositions"])} for k, v in sorted(out.items())}


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
    kinds: Sequence[str] = KINDS,
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
    result = repair(release, findings, progress=progress)
    lap("repair")
    tasks = result.tasks()
    for task in tasks:
        task.meta["source"] = str(out.resolve())
    write_bfcl(result.entries, out / "bfcl", release, schema_patches=result.schema_docs)
    _write_jsonl(out / TASKS, tasks)
    _write_jsonl(out / "eigendata" / "outcomes.jsonl", _outcomes(tasks))
    _write_jsonl(out / "changelog.jsonl", result.changelog)
    _write_jsonl(out / "schema_patches.jsonl", result.schema_changes)
    _write_jsonl(out / "code_fixes.jsonl", result.code_changes)
    _write_jsonl(out / "dispositions.jsonl", result.dispositions)
    summary = _summary(result, findings, kinds, started)
    (out / "CHANGELOG.md").write_text(changelog_markdown(result, summary), encoding="utf-8")
    lap("write")
    progress(f"wrote {out} ({len(tasks)} tasks, {len(result.changelog)} changelog entries)")
    if verify:
        summary["same_under_both_codes"] = _same_under_both_codes(out)
        progress(
            "re-executed with and without the code fixes: "
            f"{summary['same_under_both_codes']['differing_tasks']} of "
            f"{summary['same_under_both_codes']['tasks']} tasks differ"
        )
        lap("both_codes")
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


def _same_under_both_codes(out: Path) -> dict[str, Any]:
    """The written suite's references re-executed on the port with and without the code
    fixes: every difference is a finding (`fix_meaning.CHECK`)."""
    from eigencore.audit.doc_code_repair import fix_effects
    from eigencore.audit.fix_meaning import divergence_findings

    started = time.perf_counter()
    written = [
        Task.model_validate_json(line)
        for line in (out / TASKS).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    found = divergence_findings(fix_effects(written))
    return {
        "tasks": len(written),
        "differing_tasks": len({f.entry_id for f in found}),
        "findings": [f.model_dump(mode="json", exclude_none=True) for f in found],
        "seconds": round(time.perf_counter() - started, 1),
    }


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


DOCS_URI = "bfcl://func_docs/{class_name}"


def repaired_entry(
    entry_id: str, version: str | None = None, out: Path | None = None
) -> tuple[Task, dict[str, list[dict[str, Any]]]]:
    """One task of the repaired suite (its repaired scenario, flagged so the port runs with
    its code fixes) and the BFCL function docs of its classes as the repaired drop-in has
    them (schema patch applied); the suite is generated first when absent."""
    version = version or DEFAULT_VERSION
    out = out if out is not None else repaired_dir(version)
    if not _complete(out, version):
        # stdout may be an MCP stdio stream: progress goes to stderr
        generate(version, out, verify=False, drop_in=False,
                 progress=lambda msg: print(msg, file=sys.stderr))  # fmt: skip
    tasks = {t.id: t for t in repaired_tasks(version=version, out=out)}
    if entry_id not in tasks:
        raise KeyError(f"no repaired BFCL entry {entry_id!r} in {out}")
    task = tasks[entry_id]
    docs = {
        c: [
            json.loads(line)
            for line in doc_path(out / "bfcl", c).read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        for c in task.meta.get("involved_classes", [])
    }
    return task, docs


def publish_docs(server: Any, docs: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Add each class's BFCL function docs to an MCP server as a resource (`DOCS_URI`). The
    tools keep the port's own schemas, which the repaired suite's agents see too; the patched
    BFCL docs are what a BFCL-style prompt would show."""

    def reader(text: str) -> Callable[[], str]:
        def read() -> str:
            return text

        return read

    for class_name, class_docs in docs.items():
        server.resource(
            DOCS_URI.format(class_name=class_name),
            name=f"{class_name}_func_docs",
            mime_type="application/json",
            description=f"BFCL's function docs of {class_name}, with the repair's schema patch.",
        )(reader(json.dumps(list(class_docs))))


@cache
def _repaired_entries(source: str) -> dict[str, Any]:
    return {e.id: e for e in read_bfcl(Path(source) / "bfcl")}


def bfcl_scorer(task: Task, transcript: Any) -> tuple[bool, dict[str, Any]]:
    """BFCL's metric (re-implemented, over the port) against the REPAIRED ground truth; the
    `eigencore.bfcl.verdict.bfcl_verdict` scorer compares with the original one."""
    from eigencore.bfcl.metric import check

    entry = _repaired_entries(str(task.meta.get("source") or repaired_dir()))[task.id]
    verdict = check(entry, transcript.decoded_calls(), executor=_repaired_port())
    detail = verdict.summary()
    if verdict.error_message:
        detail["message"] = verdict.error_message
    return verdict.valid, detail


@cache
def _repaired_port() -> type:
    """The port's episode in repaired mode (code fixes on), as the suite's tasks run it."""
    from eigencore.bfcl.port import PortEpisode
    from environments.bfcl.common import scenario
    from environments.envdb import EnvDb

    class RepairedPortEpisode(PortEpisode):
        def __init__(self, entry: Any, bundles: Any = None) -> None:
            super().__init__(entry, bundles)
            for name in list(self.dbs):
                self.dbs[name].close()
                config = entry.initial_config.get(name, {})
                self.dbs[name] = EnvDb.open(
                    self.bundles[name], scenario(config, entry.long_context, repaired=True)
                )

    return RepairedPortEpisode


def main(
    version: str = DEFAULT_VERSION,
    out: Path | None = None,
    audit: Path | None = None,
    trajectory_only: bool = False,
) -> int:
    """`eigen bfcl repair`: generate, verify and report; non-zero when a check fails.

    `audit`: an `eigen bfcl audit` report to repair from (all its findings get a disposition);
    otherwise the release is audited here: every check (schema, implementation, trajectory),
    or the trajectory checks alone with `trajectory_only` (the faster path)."""
    kinds = ("trajectory",) if trajectory_only else KINDS
    summary = generate(version, out, audit=audit, kinds=kinds)
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
    if summary["fix_effects"]["unattributed"]:
        problems.append("reference results that differ under the code fixes but no fix explains")
    if summary["fix_effects"]["findings"]:
        problems.append(
            f"{summary['fix_effects']['tasks']} tasks mean something else with and without the "
            "code fixes (see CHANGELOG.md)"
        )
    differ = summary.get("same_under_both_codes", {}).get("differing_tasks")
    if differ:
        problems.append(f"verify: {differ} written tasks differ with and without the code fixes")
    if summary["undisposed"]:
        problems.append(f"{len(summary['undisposed'])} findings without a disposition")
    shown = ("kinds", "changes", "schema_changes", "code_fixes", "fix_effects", "trivial",
             "timings")
    print(json.dumps({k: summary.get(k) for k in shown}, indent=1))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0
