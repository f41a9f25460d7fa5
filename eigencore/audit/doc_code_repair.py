"""Schema and implementation findings in the repair: changelog entries and dispositions.

A schema finding is settled by the schema patch (`eigencore.audit.schema_patch.patch_docs`):
the patch entry that cites it says whether the docs were changed (repaired, citing the
change) or why not (unrepaired). An implementation finding is settled by the code-fix
registry (`eigencore.audit.code_fixes`): repaired when a fix of the port's repaired mode cites
it (with its regression tests), accepted when `ACCEPTED` gives the reason, otherwise
unrepaired: the port reproduces the original code so that BFCL's references replay.

`fix_effects` re-executes each repaired reference on the port twice, with the code fixes
(what the `bfcl-v3-repaired` suite runs) and without them (what BFCL's own checker, running
the original classes, sees), and reports every call result or final state that differs: such
a reference is not hidden, it is listed in the CHANGELOG under the fix that changes it. The
repair first tries to keep such a task's meaning (`eigencore.audit.fix_meaning`); the
`reconcile` changes it kept are listed under the fix too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from eigencore.audit.code_fixes import ACCEPTED, FIXES, fix_for
from eigencore.audit.findings import Finding
from eigencore.audit.schema_patch import MANUAL_ANSWERS
from eigencore.evaluation.task import Task

__all__ = [
    "UNATTRIBUTED",
    "CodeChange",
    "FixEffect",
    "SchemaChange",
    "code_changes",
    "dispose",
    "fix_effects",
    "schema_changes",
]

Status = Literal["repaired", "accepted", "unrepaired"]
UNATTRIBUTED = "unattributed"
"""The fix of an effect that no fixed function explains (a defect of the registry)."""
_CLIP = 300


class SchemaChange(BaseModel):
    """One entry of the schema patch: an edit of a function doc, or why none was made."""

    id: str
    class_name: str
    function: str
    field: str
    before: Any = None
    after: Any = None
    why: str
    finding_ids: list[str] = Field(default_factory=list)
    status: Literal["repaired", "unrepaired"]


class FixEffect(BaseModel):
    """A repaired reference whose execution differs with and without the code fixes."""

    task_id: str
    turn: int | None = None
    """None: the calls return the same, the final state differs."""
    call: str | None = None
    original: str
    """The port without the fixes (as BFCL's checker, running the original classes, sees it)."""
    repaired: str
    """The port with the fixes (as the `bfcl-v3-repaired` suite runs it)."""
    fixes: list[str] = Field(default_factory=list)


class CodeChange(BaseModel):
    """One code fix of the port (repaired mode), with the references it changes."""

    id: str
    module: str
    function: str
    summary: str
    finding_ids: list[str]
    tests: list[str]
    effects: list[FixEffect] = Field(default_factory=list)
    reconciled: list[str] = Field(default_factory=list)
    """The changelog's `reconcile` changes that keep this fix's references' meaning (the
    scenario or request repaired so the reference gives the same results under both codes)."""


def schema_changes(entries: Sequence[Mapping[str, Any]]) -> list[SchemaChange]:
    """The patch entries as changelog rows, numbered per function doc."""
    counts: dict[str, int] = {}
    out = []
    for e in entries:
        where = f"{e['class']}.{e['function']}" if e["function"] else str(e["class"])
        counts[where] = counts.get(where, 0) + 1
        out.append(
            SchemaChange(
                id=f"schema:{where}#{counts[where]}",
                class_name=str(e["class"]),
                function=str(e["function"]),
                field=str(e["field"]),
                before=e["before"],
                after=e["after"],
                why=str(e["why"]),
                finding_ids=list(e["finding_ids"]),
                status=e["status"],
            )
        )
    return out


def code_changes(
    effects: Sequence[FixEffect] = (), reconciled: Mapping[str, Sequence[str]] | None = None
) -> list[CodeChange]:
    reconciled = reconciled or {}
    return [
        CodeChange(
            id=f"code:{fix.id}",
            module=fix.module,
            function=fix.function,
            summary=fix.summary,
            finding_ids=list(fix.finding_ids),
            tests=list(fix.tests),
            effects=[e for e in effects if fix.id in e.fixes],
            reconciled=list(reconciled.get(fix.id, [])),
        )
        for fix in FIXES
    ]


def dispose(finding: Finding, schema: Sequence[SchemaChange]) -> tuple[Status, str, list[str]]:
    """(status, reason, cited change ids) of a schema or implementation finding."""
    if finding.kind == "schema":
        cited = [c for c in schema if finding.id in c.finding_ids]
        if not cited:
            return "unrepaired", "the schema patch has no entry for it", []
        done = [c for c in cited if c.status == "repaired"]
        if done:
            # A manual finding settled by automatic ones cites the edits that made it so.
            same = set(MANUAL_ANSWERS.get(finding.id, ((), ""))[0])
            ids = [c.id for c in done] + [
                c.id for c in schema if c.status == "repaired" and same & set(c.finding_ids)
            ]
            return "repaired", f"docs patched by {', '.join(ids)}: {done[0].why}", ids
        return "unrepaired", cited[0].why, []
    fix = fix_for(finding.id)
    if fix is not None:
        tests = ", ".join(t.rsplit("::", 1)[-1] for t in fix.tests) or "none"
        return (
            "repaired",
            f"fixed in the port's repaired mode by code:{fix.id} ({fix.module}.{fix.function}); "
            f"regression tests: {tests}",
            [f"code:{fix.id}"],
        )
    if finding.id in ACCEPTED:
        return "accepted", ACCEPTED[finding.id], []
    return (
        "unrepaired",
        "no code fix: the port keeps the original's behaviour in both modes (BFCL's "
        "references replay on it), and the drop-in runs the original classes",
        [],
    )


# --------------------------------------------------------------------------- fix effects


def _faithful(task: Task) -> Task:
    scenarios = {
        d: {k: v for k, v in s.items() if k != "repaired"} if isinstance(s, dict) else s
        for d, s in task.scenarios.items()
    }
    return task.model_copy(update={"scenarios": scenarios})


def _shown(ok: bool, value: Any, error: Any) -> str:
    import json

    body = value if ok else {"failed": error}
    try:
        text = json.dumps(body, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(body)
    return text if len(text) <= _CLIP else text[: _CLIP - 1] + "…"


def _fixes_of(domain: str, tool: str) -> list[str]:
    module = domain.rsplit("/", 1)[-1]
    return [f.id for f in FIXES if f.module == module and f.function == tool]


def fix_effects(tasks: Sequence[Task]) -> list[FixEffect]:
    """Every call result and final state of a repaired task's reference that differs between
    the port with the code fixes and without them."""
    from eigencore.evaluation.outcome import reference_outcome

    out: list[FixEffect] = []
    for task in tasks:
        if not any(isinstance(s, dict) and s.get("repaired") for s in task.scenarios.values()):
            continue
        fixed, plain = reference_outcome(task), reference_outcome(_faithful(task))
        called: list[str] = []
        diverged: set[str] = set()
        found = False
        for t, (a_calls, b_calls) in enumerate(zip(fixed.calls, plain.calls, strict=True)):
            for a, b in zip(a_calls, b_calls, strict=True):
                own = _fixes_of(a.domain, a.tool.name)
                called += own
                shown_a, shown_b = _shown(a.ok, a.value, a.error), _shown(b.ok, b.value, b.error)
                if shown_a != shown_b:
                    found = True
                    # A call may differ through what an earlier fixed call did (no booking,
                    # so no invoice): it is listed under its own fix and those of the earlier
                    # calls that already differed, or else under every fixed function called.
                    involved = sorted(set(own) | diverged) or sorted(set(called))
                    diverged.update(involved)
                    out.append(
                        FixEffect(
                            task_id=task.id,
                            turn=t,
                            call=a.call,
                            original=shown_b,
                            repaired=shown_a,
                            fixes=involved or [UNATTRIBUTED],
                        )
                    )
        states = [
            {d: s.model_dump(mode="json")["changes"] for d, s in o.final_state.items()}
            for o in (fixed, plain)
        ]
        if not found and states[0] != states[1]:
            out.append(
                FixEffect(
                    task_id=task.id,
                    original=_shown(True, states[1], None),
                    repaired=_shown(True, states[0], None),
                    fixes=sorted(set(called)) or [UNATTRIBUTED],
                )
            )
    return out
