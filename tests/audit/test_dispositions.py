"""Dispositions of a full audit (schema + implementation + trajectory) in the repair, the code
fixes' registry checked by re-execution, and the repaired tasks running the fixed code.

Real parts throughout: the release's own audit (schema and implementation checks over the
whole release, trajectory checks over a few entries), the schema patch, the SQLite port in
both modes, and the reference outcome computed on it."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from eigencore.audit.code_fixes import ACCEPTED, FIXES, repaired_scenario
from eigencore.audit.doc_code_repair import fix_effects
from eigencore.audit.findings import Finding
from eigencore.audit.repair import RepairResult, repair, repaired_task
from eigencore.audit.schema_patch import MANUAL_ANSWERS
from eigencore.audit.trajectory import AuditContext, audit_entry, base_number
from eigencore.bfcl.release import Entry, Release
from environments.bfcl.common import scenario
from environments.envdb import EnvDb

# base_61 and base_153 carry port authors' trajectory findings (vehicle_control-12,
# travel_booking-6); miss_func_49 a trajectory repair; base_100 TradingBot data findings.
CHOSEN = [
    "multi_turn_base_61",
    "multi_turn_base_153",
    "multi_turn_miss_func_49",
    "multi_turn_base_100",
]
OUTSIDE = "multi_turn_base_10"  # audited, but not repaired in this run


@pytest.fixture(scope="module")
def entries(release: Release) -> dict[str, Entry]:
    return {e.id: e for e in release.all_entries()}


@pytest.fixture(scope="module")
def report(release: Release, entries: dict[str, Entry]) -> list[Finding]:
    """The audit report: every schema and implementation finding of the release, and the
    trajectory findings of the chosen entries and of one entry left out of the repair."""
    from eigencore.audit.implementation import audit_implementations
    from eigencore.audit.schema import audit_schemas

    bases = {base_number(e): e for e in release.entries("base")}
    ctx = AuditContext(release=release, bases=bases)
    found = audit_schemas(release) + audit_implementations(release)
    for entry_id in [*CHOSEN, OUTSIDE]:
        found += audit_entry(entries[entry_id], ctx)
    unique: dict[str, Finding] = {}
    for f in found:  # two checks may reach the same id: keep the first, as the audit does
        unique.setdefault(f.id, f)
    return list(unique.values())


@pytest.fixture(scope="module")
def result(release: Release, entries: dict[str, Entry], report: list[Finding]) -> RepairResult:
    return repair(release, report, entries=[entries[i] for i in CHOSEN])


def _fate(result: RepairResult) -> dict[str, tuple[str, str, list[str]]]:
    return {d.finding_id: (d.status, d.reason, d.changes) for d in result.dispositions}


def test_every_finding_of_the_audit_has_a_disposition(
    report: list[Finding], result: RepairResult
) -> None:
    kinds = {f.kind for f in report}
    assert kinds == {"schema", "implementation", "trajectory"}
    ids = [d.finding_id for d in result.dispositions]
    assert sorted(ids) == sorted(f.id for f in report)  # each once, none missing, none extra
    assert all(d.reason for d in result.dispositions)


def test_schema_dispositions_follow_the_patch_entries(
    report: list[Finding], result: RepairResult
) -> None:
    fate = _fate(result)
    changes = {c.id: c for c in result.schema_changes}
    for f in report:
        if f.kind != "schema":
            continue
        status, reason, cited = fate[f.id]
        entries = [c for c in result.schema_changes if f.id in c.finding_ids]
        assert entries, f.id  # the patch answers every schema finding
        if status == "repaired":
            assert cited and all(changes[i].status == "repaired" for i in cited), f.id
        else:
            assert status == "unrepaired" and reason == entries[0].why, f.id
    # an applied edit, one the patch refuses, and a manual finding settled by automatic ones
    assert fate['schema.enum_rejected:VehicleControlAPI.displayCarStatus.option="brakePadle"'][
        0
    ] == "repaired"
    assert fate["schema.response_type:MathAPI.logarithm.result"][0] == "unrepaired"
    status, _, cited = fate["schema.manual:vehicle_control-5"]
    assert status == "repaired" and len(cited) >= 2
    status, reason, _ = fate["schema.manual:ticket_api-5"]
    assert status == "unrepaired" and "left:" in reason
    # the patched docs are what the BFCL drop-in ships
    assert "VehicleControlAPI" in result.schema_docs
    docs = result.schema_docs["VehicleControlAPI"]
    doc = next(d for d in docs if d["name"] == "displayCarStatus")
    assert "brakePedal" in str(doc["parameters"]["properties"]["option"])


def test_manual_answers_name_real_findings(report: list[Finding]) -> None:
    ids = {f.id for f in report}
    for manual, (same, _) in MANUAL_ANSWERS.items():
        assert manual in ids and set(same) <= ids, manual


def test_implementation_dispositions_follow_the_fix_registry(
    report: list[Finding], result: RepairResult
) -> None:
    fate = _fate(result)
    fixed = {i: fix.id for fix in FIXES for i in fix.finding_ids}
    for f in report:
        if f.kind != "implementation":
            continue
        status, _, cited = fate[f.id]
        if f.id in fixed:
            assert (status, cited) == ("repaired", [f"code:{fixed[f.id]}"]), f.id
        elif f.id in ACCEPTED:
            assert status == "accepted", f.id
        else:
            assert status == "unrepaired", f.id
    # every id the registry cites is a finding the audit actually reports
    assert set(fixed) <= {f.id for f in report}
    assert {c.id for c in result.code_changes} == {f"code:{fix.id}" for fix in FIXES}
    assert all(c.tests for c in result.code_changes)


def test_trajectory_findings_are_not_claimed_without_a_check(
    report: list[Finding], result: RepairResult
) -> None:
    fate = _fate(result)
    manual = [f for f in report if f.check == "trajectory.manual"]
    assert any(f.entry_id in CHOSEN for f in manual)
    # the re-audit never reports a port author's finding, so its absence proves nothing
    assert all(fate[f.id][0] == "unrepaired" for f in manual)
    outside = [f for f in report if f.entry_id == OUTSIDE and f.kind == "trajectory"]
    assert outside and all(
        fate[f.id] == ("unrepaired", "its entry was not part of this repair run", [])
        for f in outside
    )
    # a rule-driven trajectory repair still counts
    assert any(
        d.status == "repaired" and d.check == "trajectory.withheld_function_used"
        for d in result.dispositions
    )


def _tests_in(path: str) -> set[str]:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / path).read_text()
    return set(re.findall(r"^def (test_\w+)", text, re.MULTILINE))


def test_every_fix_has_a_regression_test() -> None:
    for fix in FIXES:
        assert fix.tests, fix.id
        for test in fix.tests:
            path, name = test.split("::")
            assert name in _tests_in(path), test


def _run(
    entry: Entry, evidence: Finding, repaired: bool
) -> tuple[list[str], list[object]]:
    """The finding's evidence calls on the entry's port, after the ground-truth turns its
    notes name, with the code fixes on or off: call results and final state."""
    from eigencore.bfcl.port import PortEpisode

    episode = PortEpisode(entry)
    for name in list(episode.dbs):
        episode.dbs[name].close()
        config = entry.initial_config.get(name, {})
        episode.dbs[name] = EnvDb.open(
            episode.bundles[name], scenario(config, entry.long_context, repaired=repaired)
        )
    try:
        prefix = re.search(r"turns 0\.\.(\d+)", evidence.evidence.notes or "")
        for t in range(int(prefix.group(1)) + 1 if prefix else 0):
            for call in entry.ground_truth[t]:
                episode.execute(call)
        calls = re.split(r";\s(?=[A-Za-z_]+\()", evidence.evidence.call or "")
        texts = [episode.execute(c.strip()).text for c in calls]
        state = [db.diff().model_dump(mode="json")["changes"] for db in episode.dbs.values()]
        return texts, state
    finally:
        episode.close()


def test_registry_findings_change_under_the_fix(
    report: list[Finding], entries: dict[str, Entry]
) -> None:
    """Each automatic finding a fix claims: its own evidence, re-executed on the port, gives
    another result or state with the fix than without (the manual ones are pinned by the
    regression tests)."""
    by_id = {f.id: f for f in report}
    ids = [i for fix in FIXES for i in fix.finding_ids]
    claimed = [i for i in ids if not i.startswith("implementation.manual")]
    assert claimed
    for finding_id in claimed:
        finding = by_id[finding_id]
        entry = entries[finding.entry_id or ""]
        assert _run(entry, finding, False) != _run(entry, finding, True), finding_id


def test_repaired_flag_is_not_a_state_change() -> None:
    from environments.bfcl.message_api import BUNDLE

    config = {"user_count": 1, "user_map": {"Alice": "USR001", "Bob": "USR002"}}
    db = EnvDb.open(BUNDLE, repaired_scenario(config))
    db.call("add_contact", {"user_name": "Carol"})  # fails, and in repaired mode changes nothing
    assert db.diff().empty
    db.call("message_login", {"user_id": "USR001"})
    (change,) = [c for c in db.diff().changes if c.table == "workspace"]
    assert "repaired" not in change.columns


def _seeded(entry: Entry, turn: int, calls: Sequence[str]) -> Entry:
    truth = [list(t) for t in entry.ground_truth]
    truth[turn] = list(calls)
    return entry.model_copy(update={"ground_truth": truth}, deep=True)


def test_repaired_tasks_run_the_fixed_code(result: RepairResult, entries: dict[str, Entry]) -> None:
    tasks = result.tasks()
    assert tasks and all(s.get("repaired") is True for t in tasks for s in t.scenarios.values())
    # A reference that copies a file twice into the same directory: the original raises, the
    # fixed port answers 'File exists'. The difference is reported under the fix.
    base = entries["multi_turn_base_0"]
    twice = ["cd(folder='document')", "mkdir(dir_name='temp')",
             "cp(source='final_report.pdf', destination='temp')",
             "cp(source='final_report.pdf', destination='temp')"]  # fmt: skip
    task = repaired_task(_seeded(base, 0, twice), [[] for _ in base.ground_truth])
    (effect,) = fix_effects([task])
    assert effect.fixes == ["gfs.cp.file_exists"] and effect.turn == 0
    assert "File exists" in effect.repaired and "File exists" not in effect.original
    from eigencore.evaluation.outcome import reference_outcome

    last = reference_outcome(task).calls[0][-1]
    assert last.ok and "File exists" in last.value["error"]  # the outcome reference's mode
