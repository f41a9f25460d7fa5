"""`eigen bfcl audit`: run every check over a release and write the report.

The deterministic checks (schemas, implementations, reference trajectories) need no LLM. With
`llm=SPEC` an `LLMJudge` (`eigencore.audit.judge`) answers the semantic question the checks
cannot decide (do a turn's calls do what the user asked?) for up to `llm_limit` questions;
its exchanges are cached (`judge-cache.sqlite` in the output directory unless `llm_cache`),
its verdicts written to `judgements.jsonl` and summarised in the report, and its
`unsupported` verdicts are findings quoting its reasoning.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from eigencore.audit.findings import AuditReport, Finding
from eigencore.bfcl.release import DEFAULT_VERSION, load_release

if TYPE_CHECKING:
    from eigencore.audit.judge import Judgement
    from eigencore.audit.trajectory import Judge

ALL_CHECKS = ("schema", "implementation", "trajectory")


def audit(version: str = DEFAULT_VERSION, *, judge: Judge | None = None,
          judge_limit: int | None = None, entry_ids: Collection[str] | None = None,
          checks: Collection[str] = ALL_CHECKS) -> AuditReport:
    """`entry_ids` restricts the trajectory checks to those entries; `checks` picks the
    families (the schema and implementation checks are release-wide)."""
    from eigencore.audit.implementation import audit_implementations
    from eigencore.audit.schema import audit_schemas
    from eigencore.audit.trajectory import audit_trajectories

    release = load_release(version)
    findings: list[Finding] = []
    if "schema" in checks:
        findings += audit_schemas(release)
    if "implementation" in checks:
        findings += audit_implementations(release)
    if "trajectory" in checks:
        findings += audit_trajectories(release, judge=judge, judge_limit=judge_limit,
                                       entry_ids=entry_ids)
    seen: set[str] = set()
    unique = []
    for f in findings:  # two checks may reach the same id; keep the first, drop nothing else
        if f.id not in seen:
            seen.add(f.id)
            unique.append(f)
    return AuditReport(release=version, findings=unique)


def _cell(text: str | None, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return text.replace("|", "\\|")


def judge_markdown(judgements: Sequence[Judgement]) -> list[str]:
    """The report's section on judged items: counts, then every item not judged supported."""
    from eigencore.audit.judge import summary

    s = summary(list(judgements))
    lines = ["## Judged items (LLM judge)", "",
             f"Model: {', '.join(f'`{m}`' for m in s['models']) or 'none'}. "
             f"{s['items']} turns judged ({s['questions']} distinct questions): "
             f"{s['supported']} supported, {s['unsupported']} unsupported, "
             f"{s['undecided']} undecided; {s['model_calls']} new model calls (all other "
             "answers came from the cache). Every verdict is in `judgements.jsonl`; "
             "`unsupported` ones are "
             "`trajectory.judge_unsupported` findings.", ""]
    doubtful = [j for j in judgements if j.verdict != "supported"]
    if doubtful:
        lines += ["| entry | turn | verdict | quote | reasoning or error |",
                  "|---|---|---|---|---|"]
        lines += [f"| {j.entry_id} | {j.turn} | {j.verdict} | {_cell(j.quote)} | "
                  f"{_cell(j.reasoning if j.verdict == 'unsupported' else j.error)} |"
                  for j in doubtful]
        lines.append("")
    return lines


def markdown(report: AuditReport, judgements: Sequence[Judgement] | None = None) -> str:
    """The readable report; `judgements` (when a judge ran) adds the judged-items section."""
    lines = [f"# BFCL {report.release} multi-turn audit", "",
             f"{len(report.findings)} findings.", "", "## Counts per kind and category", "",
             "| kind | where | findings |", "|---|---|---|"]
    for kind, per in report.counts().items():
        for where, n in per.items():
            lines.append(f"| {kind} | {where} | {n} |")
    lines += ["", "## Counts per check", "", "| check | findings |", "|---|---|"]
    lines += [f"| `{c}` | {n} |" for c, n in report.by_check().items()]
    if judgements is not None:
        lines += ["", *judge_markdown(judgements)]
    lines += ["", "## Findings", ""]
    for f in report.findings:
        where = ", ".join(x for x in (f.class_name, f.function, f.entry_id,
                                      None if f.turn is None else f"turn {f.turn}") if x)
        lines.append(f"### `{f.id}` ({f.severity})")
        lines.append(f"{f.summary}  \n*{f.check}* — {where}")
        ev = {k: v for k, v in f.evidence.model_dump().items() if v not in (None, "", {})}
        if ev:
            lines.append("```json\n" + json.dumps(ev, indent=1, default=str)[:4000] + "\n```")
        if f.repair:
            lines.append(f"Repair: {f.repair}")
        lines.append("")
    return "\n".join(lines)


def judge_html(judgements: Sequence[Judgement]) -> str:
    from eigencore.audit.judge import summary

    s = summary(list(judgements))
    rows = "".join(
        f"<tr><td>{html.escape(j.entry_id)}</td><td>{j.turn}</td><td>{j.verdict}</td>"
        f"<td>{html.escape(j.quote or '')}</td>"
        f"<td>{html.escape((j.reasoning if j.verdict == 'unsupported' else j.error) or '')}"
        "</td></tr>"
        for j in judgements if j.verdict != "supported")
    table = (f"<table><tr><th>entry</th><th>turn</th><th>verdict</th><th>quote</th>"
             f"<th>reasoning or error</th></tr>{rows}</table>") if rows else ""
    models = ", ".join(html.escape(m) for m in s["models"]) or "none"
    return (f"<h2>Judged items (LLM judge)</h2><p>Model: {models}. {s['items']} turns judged "
            f"({s['questions']} distinct questions): {s['supported']} supported, "
            f"{s['unsupported']} unsupported, {s['undecided']} undecided; "
            f"{s['model_calls']} new model calls (all other answers came from the cache). "
            "Every verdict is in "
            f"<code>judgements.jsonl</code>.</p>{table}")


def html_page(report: AuditReport, judgements: Sequence[Judgement] | None = None) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(w)}</td><td>{n}</td></tr>"
        for k, per in report.counts().items() for w, n in per.items())
    judged = judge_html(judgements) if judgements is not None else ""
    items = "".join(
        f"<details><summary><code>{html.escape(f.id)}</code> {html.escape(f.summary)}"
        f"</summary><pre>{html.escape(f.evidence.model_dump_json(indent=1))}</pre></details>"
        for f in report.findings)
    return (f"<!doctype html><meta charset='utf-8'><title>BFCL {report.release} audit</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
            "td,th{padding:2px 8px;border-bottom:1px solid #ddd}pre{white-space:pre-wrap}"
            "</style>"
            f"<h1>BFCL {html.escape(report.release)} multi-turn audit</h1>"
            f"<p>{len(report.findings)} findings.</p><table><tr><th>kind</th><th>where</th>"
            f"<th>findings</th></tr>{rows}</table>{judged}<h2>Findings</h2>{items}")


def main(version: str, out: Path, *, llm: str | None = None, llm_limit: int | None = None,
         llm_cache: Path | None = None, entry_ids: Collection[str] | None = None) -> int:
    """Run the audit and write `audit.json`/`.md`/`.html` (and `judgements.jsonl` with a
    judge). `entry_ids` audits only those entries' trajectories (no release-wide checks)."""
    from eigencore.audit.judge import LLMJudge, summary

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    checks = ("trajectory",) if entry_ids else ALL_CHECKS
    log = out / "judgements.jsonl"
    judgements: list[Judgement] | None = None
    if llm is None:
        log.unlink(missing_ok=True)  # a previous run's verdicts would not match this report
        report = audit(version, entry_ids=entry_ids, checks=checks)
    else:
        cache = llm_cache or out / "judge-cache.sqlite"
        with LLMJudge.from_spec(llm, cache, log=log) as judge:
            report = audit(version, judge=judge, judge_limit=llm_limit, entry_ids=entry_ids,
                           checks=checks)
            judgements = judge.records
    (out / "audit.json").write_text(report.model_dump_json(indent=1))
    (out / "audit.md").write_text(markdown(report, judgements))
    (out / "audit.html").write_text(html_page(report, judgements))
    print(f"{len(report.findings)} findings in {time.perf_counter() - t0:.1f} s")
    for kind, per in report.counts().items():
        print(f"  {kind:15} " + "  ".join(f"{w}: {n}" for w, n in per.items()))
    if judgements is not None:
        s = summary(judgements)
        print(f"  judge {llm}: {s['items']} turns ({s['questions']} questions): "
              f"{s['supported']} supported, {s['unsupported']} unsupported, "
              f"{s['undecided']} undecided; {s['model_calls']} model calls; "
              f"cache {llm_cache or out / 'judge-cache.sqlite'}")
    print(f"wrote {out / 'audit.json'}, {out / 'audit.md'}, {out / 'audit.html'}"
          + (f", {log}" if judgements is not None else ""))
    return 0
