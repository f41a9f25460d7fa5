"""Repair rules on entries with seeded defects and on the release's own, re-execution of the
repaired tasks through the real harness (oracle passes, do-nothing fails), and the BFCL-format
output loaded by BFCL's own loaders and checked by its official checker."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from eigencore.audit.bfcl_format import check_drop_in, question_path, read_bfcl, write_bfcl
from eigencore.audit.findings import Finding
from eigencore.audit.repair import RepairResult, repair
from eigencore.audit.repaired_suite import replay
from eigencore.audit.trajectory import AuditContext, audit_entry
from eigencore.bfcl.official import OfficialUnavailable, install_official
from eigencore.bfcl.release import CATEGORIES, Entry, Release
from tests.audit.helpers import fix

# A sample across categories: the release's known defects and clean entries.
SAMPLE = {
    "base": [0, 10, 61, 111, 153, 158, 167, 180, 188, 195],
    "miss_func": [0, 4, 15, 33, 34, 49, 122, 140, 180, 188],
    "miss_param": [0, 4, 10, 34, 62, 76, 97, 140, 153, 180],
    "long_context": [0, 11, 28, 34, 48, 100, 140, 153, 154, 180],
}


def seeded(entry: Entry, **update: object) -> Entry:
    return entry.model_copy(update=update, deep=True)


def with_turn(entry: Entry, turn: int, calls: list[str]) -> Entry:
    truth = [list(t) for t in entry.ground_truth]
    truth[turn] = calls
    return seeded(entry, ground_truth=truth)


def with_question(entry: Entry, turn: int, text: str) -> Entry:
    question = [list(q) for q in entry.question]
    question[turn] = [{"role": "user", "content": text}]
    return seeded(entry, question=question)


def fate(result: RepairResult, check: str) -> list[tuple[str, str]]:
    return [(d.status, d.reason) for d in result.dispositions if d.check == check]


def kinds(result: RepairResult) -> list[str]:
    return [c.change for c in result.changelog if c.change != "set_owed"]


def text(entry: Entry, turn: int) -> str:
    return " ".join(m["content"] for m in entry.question[turn])


# --------------------------------------------------------------------------- seeded defects


def test_withheld_function_used_early_is_moved(
    release: Release, ctx: AuditContext, entries: dict[str, Entry]
) -> None:
    sort = "sort(file_name='final_report.pdf')"
    clean = entries["multi_turn_miss_func_0"]  # sort is held out until turn 3, alone
    broken = with_turn(clean, 1, [*clean.ground_truth[1], sort])
    # the variant alone: it now differs from its base, which realignment undoes
    result = fix(release, ctx, broken)
    (entry,) = result.entries
    assert kinds(result) == ["realign"] and entry.ground_truth == clean.ground_truth
    # base and variant alike: the variant's call moves to the reveal turn
    base = entries["multi_turn_base_0"]
    result = fix(release, ctx, with_turn(base, 1, [*base.ground_truth[1], sort]), broken)
    entry = result.entries[1]
    assert kinds(result) == ["move_call"]
    assert sort not in entry.ground_truth[1] and entry.ground_truth[3][-1] == sort
    assert [s for s, _ in fate(result, "trajectory.withheld_function_used")] == ["repaired"]


def test_withheld_function_revealed_when_the_reveal_keeps_a_test(
    release: Release, ctx: AuditContext, entries: dict[str, Entry]
) -> None:
    # miss_func_49 calls tail at turn 1; tail, wc and cat are revealed at turn 3, which uses wc.
    result = fix(release, ctx, entries["multi_turn_miss_func_49"])
    (entry,) = result.entries
    assert kinds(result) == ["reveal_function"]
    assert entry.missed_function == {"3": ["wc", "cat"]}
    assert [s for s, _ in fate(result, "trajectory.withheld_function_used")] == ["repaired"]


def test_ungrounded_value_clarified(
    release: Release, ctx: AuditContext, entries: dict[str, Entry]
) -> None:
    base = entries["multi_turn_base_0"]
    broken = with_turn(
        base,
        0,
        [
            "cd(folder='document')",
            "mkdir(dir_name='qzx_vault')",
            "mv(source='final_report.pdf', destination='qzx_vault')",
        ],
    )
    result = fix(release, ctx, broken)
    (entry,) = result.entries
    assert "clarify_text" in kinds(result)
    assert text(entry, 0).endswith("(The dir name is 'qzx_vault'.)")
    assert "mkdir(dir_name='qzx_vault')" in entry.ground_truth[0]  # the reference keeps it
    assert [s for s, _ in fate(result, "trajectory.ungrounded_value")] == ["repaired"]
    assert not [f for f in result.remaining if f.check == "trajectory.ungrounded_value"]


def test_near_miss_takes_the_users_name(
    release: Release, ctx: AuditContext, entries: dict[str, Entry]
) -> None:
    # base_10: the user says 'notes.md', the reference creates and diffs 'note.md'.
    result = fix(release, ctx, entries["multi_turn_base_10"])
    (entry,) = result.entries
    change = next(c for c in result.changelog if c.change == "edit_call")
    assert (change.before, change.after) == ("note.md", "notes.md")
    flat = " ".join(c for turn in entry.ground_truth for c in turn)
    assert "note.md'" not in flat and "notes.md" in flat


def test_unaddressed_turn_gets_the_call_execution_supports(
    release: Release, ctx: AuditContext, entries: dict[str, Entry]
) -> None:
    broken = with_turn(entries["multi_turn_base_0"], 2, [])  # "sort the 'final_report.pdf'"
    result = fix(release, ctx, broken)
    (entry,) = result.entries
    assert entry.ground_truth[2] == ["sort(file_name='final_report.pdf')"]
    assert kinds(result) == ["add_call"]
    # base_167 asks for the invoice of a cancelled booking: no call does it, and it says why.
    result = fix(release, ctx, entries["multi_turn_base_167"])
    ((status, reason),) = fate(result, "trajectory.unaddressed_turn")
    assert status == "unrepaired" and "Booking not found" in reason


def test_failed_calls_kept_as_the_answer_or_removed(
    release: Release, ctx: AuditContext, entries: dict[str, Entry]
) -> None:
    # base_153: the user asks to double-check; the failed verification is the answer, owed.
    result = fix(release, ctx, entries["multi_turn_base_153"])
    assert [s for s, _ in fate(result, "trajectory.call_failed")] == ["accepted"]
    owed = result.owed["multi_turn_base_153"][0]
    assert any("United States" in str(f.value) for f in owed)
    # base_188: a failing login nobody asked for, on which nothing depends: removed.
    result = fix(release, ctx, entries["multi_turn_base_188"])
    change = next(c for c in result.changelog if c.change == "remove_call")
    assert change.before.startswith("authenticate_twitter(") and change.turn == 4


def test_no_obligation_turn_owes_facts_and_noop_fails(
    release: Release, ctx: AuditContext, entries: dict[str, Entry]
) -> None:
    base = entries["multi_turn_base_0"]
    broken = with_question(base, 1, "Thanks, that is all for now.")  # reads, asks nothing
    assert any(f.check == "trajectory.no_obligation" for f in audit_entry(broken, ctx))
    result = fix(release, ctx, broken, entries["multi_turn_base_158"])
    assert result.owed[broken.id][1], "the reads' facts are owed"
    # base_158 books and cancels: it ends where it started, so it owes the booking reference.
    assert [f.label for f in result.owed["multi_turn_base_158"][1]] == [
        "book_flight.booking_id",
        "book_flight.transaction_id",
    ]
    assert [s for s, _ in fate(result, "trajectory.no_net_change")] == ["repaired"]
    tasks = result.tasks()
    assert all(t.turns[i].owed is not None for t in tasks for i in range(len(t.turns)))
    assert [v.outcome for v in replay(tasks, "noop")] == [False, False]
    assert [v.outcome for v in replay(tasks, "oracle")] == [True, True]


def test_variants_realigned_or_left_with_reason(
    release: Release, ctx: AuditContext, entries: dict[str, Entry]
) -> None:
    result = fix(
        release,
        ctx,
        entries["multi_turn_miss_func_34"],
        entries["multi_turn_long_context_11"],
        entries["multi_turn_miss_param_0"],
    )
    by_id = {e.id: e for e in result.entries}
    # 'statistics.txt.' in the variant, 'statistics.txt' in its base: realigned
    assert "file_name='statistics.txt'" in by_id["multi_turn_miss_func_34"].ground_truth[2][-1]
    # long_context_11 lists more files because its state holds more: kept, with the reason
    ((status, reason),) = [
        (d.status, d.reason)
        for d in result.dispositions
        if d.entry_id == "multi_turn_long_context_11" and d.check == "trajectory.variant_divergence"
    ]
    assert status == "accepted" and "long-context state" in reason
    # miss_param_0's clarification named the wrong file
    assert text(by_id["multi_turn_miss_param_0"], 4) == "The specific file is previous_report.pdf."


# --------------------------------------------------------------------------- a real sample


@pytest.fixture(scope="module")
def sample(release: Release, ctx: AuditContext, entries: dict[str, Entry]) -> RepairResult:
    chosen = [entries[f"multi_turn_{c}_{n}"] for c, ns in SAMPLE.items() for n in ns]
    findings: list[Finding] = [f for e in chosen for f in audit_entry(e, ctx)]
    return repair(release, findings, entries=chosen)


def test_sample_dispositions_and_reaudit(sample: RepairResult) -> None:
    assert len(sample.entries) == 40 and not sample.trivial
    # every finding has a fate and a reason; no repair introduced a finding
    assert all(d.reason for d in sample.dispositions)
    assert not sample.new
    # what remains at error severity was deliberately kept or is reported unrepaired
    fate_of = {d.finding_id: d.status for d in sample.dispositions}
    for f in sample.remaining:
        if f.severity == "error":
            assert fate_of.get(f.id) in ("accepted", "unrepaired"), f.id


def test_sample_replays_cleanly(sample: RepairResult) -> None:
    tasks = sample.tasks()
    oracle = replay(tasks, "oracle")
    assert [v.task_id for v in oracle if not (v.outcome and v.per_turn)] == []
    noop = replay(tasks, "noop")
    assert [v.task_id for v in noop if v.outcome] == []


def _official_or_skip(release: Release) -> None:
    try:
        install_official(release)
    except OfficialUnavailable as exc:  # pragma: no cover - offline without the install
        if os.environ.get("CI"):
            raise
        pytest.skip(f"official checker unavailable: {exc}")


def test_bfcl_format_is_a_drop_in(
    sample: RepairResult, release: Release, entries: dict[str, Entry], tmp_path: Path
) -> None:
    written = write_bfcl(sample.entries, tmp_path, release)
    assert len(written) == 4 * 2 + 8
    assert read_bfcl(tmp_path) == sample.entries
    # unrepaired entries are the wheel's own lines
    lines = question_path(tmp_path, "base").read_text().splitlines()
    raw = release._read("bfcl_eval/data/BFCL_v3_multi_turn_base.json").decode().splitlines()
    unchanged = [e for e in sample.entries if e.category == "base" and e == entries[e.id]]
    assert unchanged and all(raw[int(e.id.rsplit("_", 1)[1])] in lines for e in unchanged)
    _official_or_skip(release)
    report = check_drop_in(tmp_path, release)
    assert report.loaded == {c: 10 for c in CATEGORIES}
    assert report.docs and all(report.docs.values())
    assert len(report.verdicts) == 40 and report.invalid == []


def test_bfcl_format_with_schema_patch(
    sample: RepairResult, release: Release, tmp_path: Path
) -> None:
    docs: Sequence[dict[str, object]] = release.func_docs("MathAPI")
    patched = [{**docs[0], "description": "patched"}, *docs[1:]]
    write_bfcl(sample.entries, tmp_path, release, schema_patches={"MathAPI": patched})
    first = (tmp_path / "multi_turn_func_doc" / "math_api.json").read_text().splitlines()[0]
    assert '"description": "patched"' in first
    with pytest.raises(ValueError):
        write_bfcl(sample.entries, tmp_path, release, schema_patches={"NoSuchAPI": []})


def test_suite_files_load_and_score_against_the_repaired_truth(
    sample: RepairResult, release: Release, tmp_path: Path
) -> None:
    import json

    import anyio

    from clients.models.scripted import NoopAdapter, OracleAdapter
    from eigencore.audit.repaired_suite import (
        SUMMARY,
        TASKS,
        bfcl_scorer,
        changelog_markdown,
        repaired_tasks,
    )
    from eigencore.evaluation.harness import rollout

    tasks = sample.tasks()
    for task in tasks:
        task.meta["source"] = str(tmp_path)
    (tmp_path / TASKS).parent.mkdir(parents=True)
    (tmp_path / TASKS).write_text("".join(t.model_dump_json() + "\n" for t in tasks))
    summary = {"release": release.version, "repair_version": sample.repair_version}
    (tmp_path / SUMMARY).write_text(json.dumps(summary))
    write_bfcl(sample.entries, tmp_path / "bfcl", release)
    loaded = repaired_tasks(["miss_func"], release.version, out=tmp_path)
    assert [t.id for t in loaded] == [f"multi_turn_miss_func_{n}" for n in SAMPLE["miss_func"]]
    assert all(turn.owed is not None for t in loaded for turn in t.turns)
    # BFCL's metric against the repaired ground truth: the oracle passes, do-nothing fails;
    # against the original one the oracle fails (base_10 now creates the user's 'notes.md')
    from eigencore.bfcl.verdict import bfcl_verdict

    (task,) = [t for t in repaired_tasks(["base"], release.version, out=tmp_path)
               if t.id == "multi_turn_base_10"]  # fmt: skip
    oracle = anyio.run(rollout, task, OracleAdapter())
    assert bfcl_scorer(task, oracle)[0] is True
    assert bfcl_verdict(task, oracle)[0] is False
    assert bfcl_scorer(task, anyio.run(rollout, task, NoopAdapter()))[0] is False
    markdown = changelog_markdown(sample, {"changes": {}, "dispositions": {}})
    assert "## Changes" in markdown and "## Findings not repaired" in markdown
    assert "multi_turn_base_10#1" in markdown
