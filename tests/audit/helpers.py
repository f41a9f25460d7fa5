"""Helpers the repair tests share."""

from __future__ import annotations

from eigencore.audit.findings import Finding
from eigencore.audit.repair import RepairResult, repair
from eigencore.audit.trajectory import AuditContext, audit_entry
from eigencore.bfcl.release import Entry, Release


def fix(release: Release, ctx: AuditContext, *seeded: Entry) -> RepairResult:
    """Audit the entries as the release audit would, then repair them."""
    findings: list[Finding] = [f for e in seeded for f in audit_entry(e, ctx)]
    return repair(release, findings, entries=list(seeded))
