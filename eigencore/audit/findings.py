"""What an audit finding is: one checkable claim about the benchmark, with its evidence.

Every finding names the check that produced it, where it is (class, function, entry, turn),
and evidence a person can verify in seconds: the executed call and its result, a state diff,
the schema fragment beside the signature, or a judge's quoted reasoning. Findings are never
dropped: a repair marks them repaired, or states why they stay unrepaired.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, Field

Kind = Literal["schema", "implementation", "trajectory"]
Severity = Literal["error", "warning", "info"]


class Evidence(BaseModel):
    call: str | None = None
    """The executed call (call syntax)."""
    result: str | None = None
    """What it returned, exactly as BFCL shows it."""
    expected: str | None = None
    state_diff: str | None = None
    schema_fragment: dict[str, Any] | None = None
    signature: str | None = None
    judge: str | None = None
    """A judge's verdict and quoted reasoning (semantic checks only)."""
    notes: str | None = None


class Finding(BaseModel):
    id: str
    """Stable identifier: `<check>:<where>`."""
    check: str
    """The check that found it, e.g. `schema.required_mismatch`, `trajectory.call_error`."""
    kind: Kind
    severity: Severity = "error"
    summary: str
    class_name: str | None = None
    function: str | None = None
    entry_id: str | None = None
    category: str | None = None
    turn: int | None = None
    evidence: Evidence = Field(default_factory=Evidence)
    repair: str | None = None
    """How it was repaired, or why it is left unrepaired (set by the repair step)."""


class AuditReport(BaseModel):
    release: str
    findings: list[Finding] = Field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """Findings per kind and per (BFCL category or `functions` for schema/code)."""
        by: dict[str, Counter[str]] = {}
        for f in self.findings:
            by.setdefault(f.kind, Counter())[f.category or "functions"] += 1
        return {k: dict(sorted(v.items())) for k, v in sorted(by.items())}

    def by_check(self) -> dict[str, int]:
        return dict(sorted(Counter(f.check for f in self.findings).items()))
