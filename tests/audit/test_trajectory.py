"""Reference-trajectory checks: each check finds a seeded defect and leaves a clean entry alone;
a run over selected real entries finds verified defects of the release."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from eigencore.audit.findings import Finding
from eigencore.audit.grounding import Grounding, Pool, text_dates, text_numbers
from eigencore.audit.trajectory import (
    AuditContext,
    Judge,
    NoJudge,
    Verdict,
    analyse,
    audit_entry,
    base_number,
    check_alignment,
    check_alternatives,
    check_call_failures,
    check_grounding,
    check_information,
    check_judge,
    check_requests,
    check_withheld,
    failure_reason,
    turn_roles,
)
from eigencore.bfcl.reference import ExecResult
from eigencore.bfcl.release import CATEGORIES, Entry, ReleaseError, load_release

Check = Callable[[Entry, object, AuditContext], list[Finding]]


@pytest.fixture(scope="module")
def ctx() -> AuditContext:
    try:
        release = load_release(download=False)
    except ReleaseError as exc:  # pragma: no cover - offline machine without the cached wheel
        pytest.skip(f"BFCL release not cached: {exc}")
    return AuditContext(release=release, bases={base_number(e): e for e in release.entries("base")})


@pytest.fixture(scope="module")
def entries(ctx: AuditContext) -> dict[str, Entry]:
    return {e.id: e for c in CATEGORIES for e in ctx.release.entries(c)}


def run(check: Check, entry: Entry, ctx: AuditContext) -> list[Finding]:
    return check(entry, analyse(entry, ctx), ctx)


def checks(findings: Sequence[Finding], name: str) -> list[Finding]:
    return [f for f in findings if f.check == name]


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


# --------------------------------------------------------------------------- 1. failures


def test_failure_reason_reads_status_fields() -> None:
    assert failure_reason(ExecResult({"verification_status": False}, "", False))[0] == (
        "trajectory.call_failed"
    )
    assert failure_reason(ExecResult({"retweet_status": "Already retweeted"}, "", False))[1] == (
        "warning"
    )
    assert failure_reason(ExecResult({"error": "No such file"}, "", False))[0] == (
        "trajectory.call_error"
    )
    # false answers are facts, not failures
    assert failure_reason(ExecResult({"canDrive": False}, "", False)) is None
    assert failure_reason(ExecResult({"healthy_tire_pressure": False}, "", False)) is None


def test_call_errors_found_and_clean(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    base = entries["multi_turn_base_0"]
    assert run(check_call_failures, base, ctx) == []
    broken = with_turn(base, 1, ["cd(folder='temp')", "frobnicate(x=1)", "cd(folder='no_such')"])
    found = run(check_call_failures, broken, ctx)
    assert {(f.check, f.turn) for f in found} == {("trajectory.call_error", 1)}
    assert len(found) == 2
    assert "frobnicate" in found[0].evidence.call and found[0].evidence.result


# --------------------------------------------------------------------------- 2. grounding


def test_pool_matching_rules() -> None:
    said = Pool.of("user", "conversation", texts=[
        "Cap it at 20,000 RMB on December 15, 2024 and tag 'mike53'; the 15th of Nov 2024."
    ])  # fmt: skip
    assert said.holds(20000) and said.holds("20000")
    assert said.holds("2024-12-15") and said.holds("2024-11-15")
    assert said.holds("@mike53") and said.holds("RMB") and said.holds("rmb")
    assert not said.holds("2024-12-16") and not said.holds(21000)
    assert 20000.0 in text_numbers("20,000") and (2024, 12, 15) in text_dates("15th of Dec 2024")
    output = Pool.of("mean", "output", values=[{"result": 3333.333}], position=(0, 0))
    assert output.holds(3333) and output.holds("3333") and not output.holds(3334)


def test_derivation_and_path_grounding() -> None:
    grounding = Grounding()
    grounding.add(Pool.of("user", "conversation", texts=["double 7.5 please"], position=(0, -1)))
    grounding.add(Pool.of("ls", "output", values=[["document", "temp"]], position=(0, 0)))
    found = grounding.derive(15.0, 0, 1)
    assert found is not None and found.exact == 15.0
    assert grounding.derive(7, 0, 1) is None  # small integers are never "derived"
    assert grounding.locate("document/temp", 0, 1)
    assert not grounding.locate("document/zzz", 0, 1)


def test_ungrounded_value_found_and_clean(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    base = entries["multi_turn_base_0"]
    assert run(check_grounding, base, ctx) == []
    broken = with_turn(base, 0, [
        "cd(folder='document')", "mkdir(dir_name='qzx_vault')",
        "mv(source='final_report.pdf', destination='qzx_vault')",
    ])  # fmt: skip
    found = checks(run(check_grounding, broken, ctx), "trajectory.ungrounded_value")
    assert [f.severity for f in found] == ["error"]  # reported where it first appears
    assert "qzx_vault" in found[0].evidence.expected and "mkdir" in found[0].evidence.call
    assert "searched:" in found[0].evidence.notes and "reused by mv(" in found[0].evidence.notes


def test_real_ungrounded_and_derived_values(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    # base_10: the user says 'notes.md', the reference creates 'note.md'.
    found = run(check_grounding, entries["multi_turn_base_10"], ctx)
    assert any(f.check == "trajectory.ungrounded_value" and "'note.md'" in f.evidence.expected
               and f.severity == "error" and f.turn == 2 for f in found)  # fmt: skip
    # miss_func_180 drops compute_exchange_rate, so the converted budget comes from nowhere.
    found = run(check_grounding, entries["multi_turn_miss_func_180"], ctx)
    assert any(f.check == "trajectory.ungrounded_value" and "2857.14" in f.evidence.expected
               for f in found)  # fmt: skip
    # base_180 keeps the conversion: the same value is grounded in its output.
    found = run(check_grounding, entries["multi_turn_base_180"], ctx)
    assert not any("2857.14" in (f.evidence.expected or "") for f in found)
    # base_55: "add double that amount" with a fuel level of 7.5 -> 15.0, derived.
    found = run(check_grounding, entries["multi_turn_base_55"], ctx)
    assert any(f.check == "trajectory.derived_value" and "7.5" in f.evidence.notes for f in found)


# --------------------------------------------------------------------------- 3. requests


def test_unaddressed_turn_found_and_clean(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    base = entries["multi_turn_base_0"]
    assert run(check_requests, base, ctx) == []
    found = run(check_requests, with_turn(base, 2, []), ctx)
    assert [(f.check, f.turn, f.severity) for f in found] == [
        ("trajectory.unaddressed_turn", 2, "error")
    ]
    # The conventional empty turns are not flagged.
    assert run(check_requests, entries["multi_turn_miss_func_0"], ctx) == []
    assert run(check_requests, entries["multi_turn_miss_param_0"], ctx) == []
    real = run(check_requests, entries["multi_turn_base_167"], ctx)
    assert ("trajectory.unaddressed_turn", 4) in {(f.check, f.turn) for f in real}


def test_unrequested_call_found_and_clean(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    base = entries["multi_turn_base_0"]
    broken = with_turn(base, 1, [*base.ground_truth[1], "touch(file_name='lunch_menu.txt')"])
    found = run(check_requests, broken, ctx)
    assert [(f.check, f.function, f.severity) for f in found] == [
        ("trajectory.unrequested_call", "touch", "warning")
    ]
    assert "lunch_menu.txt" in found[0].evidence.state_diff
    # lockDoors/pressBrakePedal before startEngine share no word with "start the engine", but
    # leaving them out makes startEngine fail: preconditions, not unrequested calls.
    assert run(check_requests, entries["multi_turn_base_54"], ctx) == []


# --------------------------------------------------------------------------- 4. alignment


def test_variant_divergence_found_and_clean(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    clean = entries["multi_turn_miss_func_0"]
    assert run(check_alignment, clean, ctx) == []
    broken = with_turn(clean, 4, ["cd(folder='..')", "diff(file_name1='a', file_name2='b')"])
    found = run(check_alignment, broken, ctx)
    assert [(f.check, f.turn, f.severity) for f in found] == [
        ("trajectory.variant_divergence", 4, "warning")
    ]
    assert "diff(file_name1='a'" in found[0].evidence.call
    assert "previous_report.pdf" in found[0].evidence.expected  # the base's version
    config = {**clean.initial_config, "TwitterAPI": {
        **clean.initial_config["TwitterAPI"], "username": "someone_else"}}  # fmt: skip
    found = run(check_alignment, seeded(clean, initial_config=config), ctx)
    assert [(f.turn, f.severity) for f in found] == [(0, "warning")]
    assert "TwitterAPI.username: 'analyst_pro' -> 'someone_else'" in found[0].evidence.state_diff


def test_real_variant_divergences(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    # miss_func_34 writes to 'statistics.txt.' where its base writes 'statistics.txt'.
    found = run(check_alignment, entries["multi_turn_miss_func_34"], ctx)
    assert [(f.turn, f.severity) for f in found] == [(2, "warning")]
    assert "statistics.txt." in found[0].evidence.call
    # long_context_31's wc count differs because the long state is longer: info only.
    found = run(check_alignment, entries["multi_turn_long_context_31"], ctx)
    assert [f.severity for f in found] == ["info"]
    # long_context_48 sets another priority with no cause in the state: warning.
    found = run(check_alignment, entries["multi_turn_long_context_48"], ctx)
    assert [f.severity for f in found] == ["warning"]


def test_clarification_mismatch_found_and_clean(
    ctx: AuditContext, entries: dict[str, Entry]
) -> None:
    # Real: the question loses 'previous_report.pdf', the clarification names final_report.pdf.
    found = checks(run(check_alignment, entries["multi_turn_miss_param_0"], ctx),
                   "trajectory.clarification_mismatch")  # fmt: skip
    assert [(f.turn, f.severity) for f in found] == [(4, "warning")]
    assert "final_report.pdf" in found[0].evidence.notes
    # Seeded: miss_param_1's clarification replaced by one that supplies nothing.
    clean = entries["multi_turn_miss_param_8"]
    assert checks(run(check_alignment, clean, ctx), "trajectory.clarification_mismatch") == []
    k = next(t for t, role in turn_roles(clean).items() if role == "clarification")
    broken = with_question(clean, k, "Use something nice.")
    found = checks(run(check_alignment, broken, ctx), "trajectory.clarification_mismatch")
    assert len(found) == 1 and "cheers!" in found[0].summary


# --------------------------------------------------------------------------- 5. withheld


def test_withheld_function_found_and_clean(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    clean = entries["multi_turn_miss_func_0"]  # sort is held out until turn 3
    assert run(check_withheld, clean, ctx) == []
    broken = with_turn(clean, 1, [*clean.ground_truth[1], "sort(file_name='final_report.pdf')"])
    found = run(check_withheld, broken, ctx)
    assert [(f.check, f.turn, f.function) for f in found] == [
        ("trajectory.withheld_function_used", 1, "sort")
    ]
    unused = with_turn(clean, 3, ["cd(folder='..')"])
    found = run(check_withheld, unused, ctx)
    assert [(f.check, f.severity) for f in found] == [("trajectory.reveal_unused", "warning")]


def test_real_withheld_tail(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    found = run(check_withheld, entries["multi_turn_miss_func_49"], ctx)
    used = checks(found, "trajectory.withheld_function_used")
    assert [(f.turn, f.function) for f in used] == [(1, "tail")]
    assert "tail(file_name='file3.txt')" in used[0].evidence.call


# --------------------------------------------------------------------------- 6. alternatives


def test_order_independent_found_and_clean(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    # base_3 turn 1 copies two files: either order gives the same results and state.
    found = checks(run(check_alternatives, entries["multi_turn_base_3"], ctx),
                   "trajectory.order_independent")  # fmt: skip
    assert [(f.turn, f.severity) for f in found] == [(1, "info")]
    assert "<->" in found[0].evidence.call
    # cd then mkdir: swapped, the directory lands elsewhere.
    base = entries["multi_turn_base_0"]
    assert checks(run(check_alternatives, base, ctx), "trajectory.order_independent") == []


def test_unused_read_found_and_clean(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    base = entries["multi_turn_base_0"]
    assert checks(run(check_alternatives, base, ctx), "trajectory.unused_read") == []
    broken = with_turn(base, 0, [*base.ground_truth[0], "list_all_following()"])
    found = checks(run(check_alternatives, broken, ctx), "trajectory.unused_read")
    assert [(f.turn, f.function, f.severity) for f in found] == [(0, "list_all_following", "info")]


# --------------------------------------------------------------------------- 7. information


def test_information_turns_and_no_obligation(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    base = entries["multi_turn_base_0"]
    found = run(check_information, base, ctx)
    info = checks(found, "trajectory.information_turn")
    assert [f.turn for f in info] == [1, 2]
    assert "grep.matching_lines" in info[0].evidence.notes
    assert checks(found, "trajectory.no_obligation") == []
    broken = with_question(base, 1, "Thanks, that is all for now.")
    found = checks(run(check_information, broken, ctx), "trajectory.no_obligation")
    assert [(f.turn, f.severity) for f in found] == [(1, "warning")]
    # A write that changes nothing (the stock is already listed) owes nothing either.
    found = checks(run(check_information, entries["multi_turn_base_111"], ctx),
                   "trajectory.no_obligation")  # fmt: skip
    assert found and "add_to_watchlist" in found[0].evidence.notes


def test_no_net_change(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    found = checks(run(check_information, entries["multi_turn_base_158"], ctx),
                   "trajectory.no_net_change")  # fmt: skip
    assert len(found) == 1 and "cancel_booking" in found[0].evidence.call
    assert checks(run(check_information, entries["multi_turn_base_0"], ctx),
                  "trajectory.no_net_change") == []  # fmt: skip


# --------------------------------------------------------------------------- judge seam


class _Skeptic:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def judge(
        self, question: str, calls: Sequence[str], results: Sequence[str]
    ) -> tuple[Verdict, str]:
        self.seen.append(question)
        if "grep" in " ".join(calls):
            return "unsupported", "the user asked to search, grep is fine -- test verdict"
        return "supported", "ok"


def test_judge_seam(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    base = entries["multi_turn_base_0"]
    assert isinstance(NoJudge(), Judge)
    assert run(check_judge, base, ctx) == []  # the default judge adds nothing
    skeptic = _Skeptic()
    judged = AuditContext(release=ctx.release, judge=skeptic, bases=ctx.bases)
    found = check_judge(base, analyse(base, judged), judged)
    assert [(f.check, f.turn) for f in found] == [("trajectory.judge_unsupported", 1)]
    assert found[0].evidence.judge.startswith("unsupported:")
    assert len(skeptic.seen) == len(base.ground_truth)


# --------------------------------------------------------------------------- real release


def test_unloadable_scenario_is_a_finding(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    broken = seeded(
        entries["multi_turn_base_0"], initial_config={"GorillaFileSystem": {"root": {}}}
    )
    found = audit_entry(broken, ctx)
    assert [(f.check, f.severity) for f in found] == [("trajectory.replay_failed", "error")]


def test_real_release_findings(ctx: AuditContext, entries: dict[str, Entry]) -> None:
    ids = ["multi_turn_base_153", "multi_turn_miss_func_49", "multi_turn_base_195"]
    found = [f for i in ids for f in audit_entry(entries[i], ctx)]
    by = {(f.check, f.entry_id, f.turn) for f in found}
    assert ("trajectory.call_failed", "multi_turn_base_153", 0) in by
    failed = next(f for f in found if f.check == "trajectory.call_failed")
    assert "verify_traveler_information" in failed.evidence.call
    assert '"verification_status": false' in failed.evidence.result
    assert ("trajectory.withheld_function_used", "multi_turn_miss_func_49", 1) in by
    assert ("trajectory.call_failed", "multi_turn_base_195", 3) in by  # "Already retweeted"
    assert all(f.kind == "trajectory" and f.entry_id and f.category for f in found)
    assert len({f.id for f in found}) == len(found)
