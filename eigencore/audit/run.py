"""`eigen bfcl audit`: run every check over a release and write the report.

The deterministic checks (schemas, implementations, reference trajectories) need no LLM. A
judge for semantic questions can be plugged in through the trajectory checks' `Judge` seam;
its verdicts are cached with the LLM layer's response cache and quoted as evidence.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

from eigencore.audit.findings import AuditReport, Finding
from eigencore.bfcl.release import DEFAULT_VERSION, load_release


def audit(version: str = DEFAULT_VERSION, *, judge: object | None = None) -> AuditReport:
    from eigencore.audit.implementation import audit_implementations
    from eigencore.audit.schema import audit_schemas
    from eigencore.audit.trajectory import audit_trajectories

    release = load_release(version)
    findings: list[Finding] = []
    findings += audit_schemas(release)
    findings += audit_implementations(release)
    findings += audit_trajectories(release, judge=judge)
    seen: set[str] = set()
    unique = []
    for f in findings:  # two checks may reach the same id; keep the first, drop nothing else
        if f.id not in seen:
            seen.add(f.id)
            unique.append(f)
    return AuditReport(release=version, findings=unique)


def markdown(report: AuditReport) -> str:
    lines = [f"# BFCL {report.release} multi-turn audit", "",
             f"{len(report.findings)} findings.", "", "## Counts per kind and category", "",
             "| kind | where | findings |", "|---|---|---|"]
    for kind, per in report.counts().items():
        for where, n in per.items():
            lines.append(f"| {kind} | {where} | {n} |")
    lines += ["", "## Counts per check", "", "| check | findings |", "|---|---|"]
    lines += [f"| `{c}` | {n} |" for c, n in report.by_check().items()]
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


def html_page(report: AuditReport) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(w)}</td><td>{n}</td></tr>"
        for k, per in report.counts().items() for w, n in per.items())
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
            f"<th>findings</th></tr>{rows}</table><h2>Findings</h2>{items}")


def main(version: str, out: Path) -> int:
    t0 = time.perf_counter()
    report = audit(version)
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit.json").write_text(report.model_dump_json(indent=1))
    (out / "audit.md").write_text(markdown(report))
    (out / "audit.html").write_text(html_page(report))
    print(f"{len(report.findings)} findings in {time.perf_counter() - t0:.1f} s")
    for kind, per in report.counts().items():
        print(f"  {kind:15} " + "  ".join(f"{w}: {n}" for w, n in per.items()))
    print(f"wrote {out / 'audit.json'}, {out / 'audit.md'}, {out / 'audit.html'}")
    return 0
