"""Our re-implementation of BFCL's multi-turn verdict: ground truth, targeted perturbations,
agreement with the official checker (subprocess) and with the SQLite port."""

from __future__ import annotations

import os
import time

import pytest

from eigencore.bfcl.metric import (
    EMPTY_TURN,
    FORCE_TERMINATED,
    INFERENCE_ERROR,
    IRRELEVANCE,
    RESPONSE_MISMATCH,
    STATE_MISMATCH,
    GroundTruthRun,
    Verdict,
    check,
    ground_truth_run,
    ground_truth_trajectory,
    irrelevance_check,
    is_empty_execute_response,
    multiset_missing,
    reference_executor,
    runner_decode,
)
from eigencore.bfcl.official import (
    OfficialCase,
    OfficialUnavailable,
    OfficialVerdict,
    UnsafeCall,
    install_official,
    run_official,
)
from eigencore.bfcl.perturb import (
    DEFAULT_KINDS,
    KINDS,
    Perturbation,
    perturb,
    perturbations,
    quirk_probes,
)
from eigencore.bfcl.release import Entry, Release

GT_BUDGET_S = 20.0


@pytest.fixture(scope="module")
def entries(all_entries: list[Entry]) -> dict[str, Entry]:
    return {e.id: e for e in all_entries}


@pytest.fixture(scope="module")
def truths(release: Release, all_entries: list[Entry]) -> dict[str, GroundTruthRun]:
    executor = reference_executor(release)
    return {e.id: ground_truth_run(e, executor) for e in all_entries}


def judge(entry: Entry, trajectory: list[list[list[str]]], release: Release,
          truths: dict[str, GroundTruthRun] | None = None) -> Verdict:
    truth = truths[entry.id] if truths is not None else None
    return check(entry, trajectory, executor=reference_executor(release), truth=truth)


def test_ground_truth_passes_for_all_800(
    release: Release, all_entries: list[Entry], truths: dict[str, GroundTruthRun]
) -> None:
    started = time.perf_counter()
    executor = reference_executor(release)
    failures = []
    for entry in all_entries:
        verdict = check(entry, ground_truth_trajectory(entry), executor=executor,
                        truth=truths[entry.id])
        if not verdict.valid:
            failures.append((entry.id, verdict.summary()))
        assert verdict.checked_turns == tuple(i for i, t in enumerate(entry.ground_truth) if t)
    assert len(all_entries) == 800 and failures == []
    assert time.perf_counter() - started < GT_BUDGET_S


def test_precomputed_truth_equals_fresh_run(release: Release, entries: dict[str, Entry]) -> None:
    entry = entries["multi_turn_base_0"]
    fresh = check(entry, ground_truth_trajectory(entry))  # default executor, own truth run
    assert fresh.valid and fresh.checked_turns == (0, 1, 2, 3)


def test_dropped_state_changing_call_is_a_state_mismatch(
    release: Release, entries: dict[str, Entry], truths: dict[str, GroundTruthRun]
) -> None:
    entry = entries["multi_turn_base_0"]
    trajectory = ground_truth_trajectory(entry)
    trajectory[0][0].remove("mv(source='final_report.pdf', destination='temp')")
    verdict = judge(entry, trajectory, release, truths)
    assert (verdict.valid, verdict.error_type, verdict.turn) == (False, STATE_MISMATCH, 0)
    assert verdict.details["class"] == "GorillaFileSystem"
    assert set(verdict.details["differences"]["GorillaFileSystem"]) == {"root"}


def test_dropped_read_call_is_a_response_mismatch(
    release: Release, entries: dict[str, Entry], truths: dict[str, GroundTruthRun]
) -> None:
    entry = entries["multi_turn_base_0"]
    trajectory = ground_truth_trajectory(entry)
    grep = "grep(file_name='final_report.pdf',pattern='budget analysis')"
    trajectory[1][0].remove(grep)
    verdict = judge(entry, trajectory, release, truths)
    assert (verdict.valid, verdict.error_type, verdict.turn) == (False, RESPONSE_MISMATCH, 1)
    grep_text = truths[entry.id].turns[1].results[1]
    assert verdict.details["missing_items"] == [grep_text]


def test_responses_accumulate_across_turns(
    release: Release, entries: dict[str, Entry], truths: dict[str, GroundTruthRun]
) -> None:
    # The read-only `sort` of turn 2 done already in turn 1 still answers turn 2 (BFCL checks
    # against all results so far); turn 2 only needs to be non-empty.
    entry = entries["multi_turn_base_0"]
    trajectory = ground_truth_trajectory(entry)
    trajectory[1][0].append("sort('final_report.pdf')")
    trajectory[2] = [["pwd()"]]
    assert judge(entry, trajectory, release, truths).valid
    # ... but not if the call comes too late: results of later turns do not count.
    late = ground_truth_trajectory(entry)
    late[2] = [["pwd()"]]
    late[3][0].append("sort('final_report.pdf')")
    verdict = judge(entry, late, release, truths)
    assert (verdict.error_type, verdict.turn) == (RESPONSE_MISMATCH, 2)


def test_duplicate_results_are_counted_as_a_multiset() -> None:
    assert multiset_missing(["a", "a"], ["a", "b"]) == ["a"]
    assert multiset_missing(["a", "b"], ["b", "a", "a"]) == []


def test_empty_truth_turn_is_not_checked(
    release: Release, entries: dict[str, Entry], truths: dict[str, GroundTruthRun]
) -> None:
    entry = entries["multi_turn_miss_func_0"]
    assert entry.ground_truth[2] == []
    trajectory = ground_truth_trajectory(entry)
    # Calls where the model should abstain are run but not judged (irrelevance is separate).
    trajectory[2] = [["ls()", "pwd()"]]
    verdict = judge(entry, trajectory, release, truths)
    assert verdict.valid and 2 not in verdict.checked_turns
    assert irrelevance_check(entry, trajectory).error_type == IRRELEVANCE
    assert irrelevance_check(entry, ground_truth_trajectory(entry)).valid


def test_state_change_in_an_empty_truth_turn_counts_later(
    release: Release, entries: dict[str, Entry], truths: dict[str, GroundTruthRun]
) -> None:
    # miss_param_0: turn 3 is empty; doing turn 4's first call there leaves turn 4 correct.
    entry = entries["multi_turn_miss_param_0"]
    assert entry.ground_truth[3] == []
    trajectory = ground_truth_trajectory(entry)
    first = trajectory[4][0].pop(0)
    trajectory[3] = [[first]]
    assert judge(entry, trajectory, release, truths).valid


def test_empty_model_turn_and_bfcl_emptiness(
    release: Release, entries: dict[str, Entry], truths: dict[str, GroundTruthRun]
) -> None:
    entry = entries["multi_turn_base_0"]
    for empty in ([], [[]]):
        trajectory = ground_truth_trajectory(entry)
        trajectory[1] = empty
        verdict = judge(entry, trajectory, release, truths)
        assert (verdict.error_type, verdict.turn) == (EMPTY_TURN, 1)
    # BFCL's is_empty_execute_response: two empty steps are not "empty"; the state check runs.
    trajectory = ground_truth_trajectory(entry)
    trajectory[0] = [[], []]
    verdict = judge(entry, trajectory, release, truths)
    assert (verdict.error_type, verdict.turn) == (STATE_MISMATCH, 0)
    assert is_empty_execute_response([]) and is_empty_execute_response([[]])
    assert not is_empty_execute_response([[], []])
    assert runner_decode([[[], ["a()"], []], [[]]]) == [[["a()"]], []]


def test_steps_and_turn_count(
    release: Release, entries: dict[str, Entry], truths: dict[str, GroundTruthRun]
) -> None:
    entry = entries["multi_turn_base_0"]
    split = ground_truth_trajectory(entry)
    split[0] = [[call] for call in split[0][0]]
    assert judge(entry, split, release, truths).valid
    short = ground_truth_trajectory(entry)[:-1]
    verdict = judge(entry, short, release, truths)
    assert (verdict.valid, verdict.error_type, verdict.turn) == (False, FORCE_TERMINATED, None)
    assert judge(entry, "not a list", release, truths).error_type == INFERENCE_ERROR  # type: ignore[arg-type]


def test_unparseable_calls_are_refused_not_run(
    release: Release, entries: dict[str, Entry], truths: dict[str, GroundTruthRun]
) -> None:
    entry = entries["multi_turn_base_0"]
    trajectory = ground_truth_trajectory(entry)
    hostile = "mkdir(dir_name=__import__('os').getcwd())"
    trajectory[0][0].append(hostile)
    verdict = judge(entry, trajectory, release, truths)
    assert verdict.valid  # refused: no directory was created, so the state still matches
    assert verdict.details["refused"] == [(0, hostile)]


CYCLIC_ENTRY = "multi_turn_miss_param_16"
CYCLIC_TRAJECTORY = [
    [],
    [["cd(folder='research')", "cp(source='archives', destination='archives')",
      "cd(folder='archives')",
      "mv(source='research_notes.txt',destination='2024_research_backup.txt')"]],
    [["sort(file_name='2024_research_backup.txt')"]],
    [["wc(file_name='2024_research_backup.txt',mode='l')"]],
]


def test_cyclic_model_state_is_compared_like_bfcl(
    release: Release, entries: dict[str, Entry], truths: dict[str, GroundTruthRun]
) -> None:
    # Copying a directory into itself makes BFCL's tree cyclic (d/d shares d's contents):
    # no projection exists, but the comparison with the finite reference still terminates.
    verdict = judge(entries[CYCLIC_ENTRY], CYCLIC_TRAJECTORY, release, truths)
    assert (verdict.error_type, verdict.turn) == (STATE_MISMATCH, 1)
    assert verdict.details["differences"]["GorillaFileSystem"]["root"]["model"] == (
        "<cyclic structure>")


class _RaisingEpisode:
    """A reference episode whose `pwd` raises, like an executor bug would."""

    def __init__(self, entry: Entry, release: Release) -> None:
        self._inner = reference_executor(release)(entry)

    def execute(self, call: object) -> object:
        if getattr(call, "name", None) == "pwd":
            raise ValueError("boom")
        return self._inner.execute(call)  # type: ignore[arg-type]

    def state(self) -> dict[str, dict[str, object]]:
        return self._inner.state()


def test_executor_exceptions_become_error_results(
    release: Release, entries: dict[str, Entry], truths: dict[str, GroundTruthRun]
) -> None:
    entry = entries["multi_turn_base_0"]
    trajectory = ground_truth_trajectory(entry)
    trajectory[0][0].append("pwd()")
    verdict = check(entry, trajectory, executor=lambda e: _RaisingEpisode(e, release),
                    truth=truths[entry.id])
    assert verdict.valid and verdict.details["raised"] == [(0, "pwd()")]


def test_perturbations_are_deterministic_and_cover_every_kind(
    release: Release, all_entries: list[Entry]
) -> None:
    sample = all_entries[::10]
    first = perturbations(sample, per_entry=2, seed=7, release=release)
    assert first == perturbations(sample, per_entry=2, seed=7, release=release)
    assert first != perturbations(sample, per_entry=2, seed=8, release=release)
    assert {p.kind for p in first} == set(DEFAULT_KINDS)
    assert len(first) == 2 * len(sample)
    for category in ("base", "miss_func", "miss_param", "long_context"):
        assert any(p.entry_id.startswith(f"multi_turn_{category}_") for p in first)
    entry = all_entries[0]
    for kind in KINDS:
        p = perturb(entry, kind, release=release)
        assert p is not None and p.kind == kind
        assert len(p.trajectory) == len(entry.ground_truth) - (kind == "truncate_turns")
        if kind != "split_steps":
            assert p.trajectory != ground_truth_trajectory(entry)
    with pytest.raises(ValueError):
        perturb(entry, "no_such_kind", release=release)


# --- the official checker, in its subprocess --------------------------------------------------


def _official_or_skip(release: Release) -> None:
    try:
        install_official(release)
    except OfficialUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"official checker unavailable in CI: {exc}")
        pytest.skip(f"official checker unavailable (offline?): {exc}")


def _sample_cases(release: Release, entries: dict[str, Entry]) -> list[Perturbation]:
    """~60 cases: ground truths of all categories, every perturbation kind, edge cases."""
    ids = [f"multi_turn_{c}_{n}" for c in ("base", "miss_func", "miss_param", "long_context")
           for n in (0, 37, 90, 151)]
    cases = [Perturbation(i, "ground_truth", 0, "", ground_truth_trajectory(entries[i]))
             for i in ids]
    pool = [entries[f"multi_turn_{c}_{n}"] for c in ("base", "miss_func", "miss_param",
                                                     "long_context") for n in range(0, 200, 9)]
    picked: dict[str, int] = {}
    for p in perturbations(pool, per_entry=2, seed=3, release=release):
        if picked.get(p.kind, 0) < 5:
            picked[p.kind] = picked.get(p.kind, 0) + 1
            cases.append(p)
    base0 = entries["multi_turn_base_0"]
    edges = {
        "two_empty_steps": [[[], []], *ground_truth_trajectory(base0)[1:]],
        "single_empty_step": [ground_truth_trajectory(base0)[0], [[]],
                              *ground_truth_trajectory(base0)[2:]],
        "truncated": ground_truth_trajectory(base0)[:-1],
        "unknown_function": [[[*ground_truth_trajectory(base0)[0][0], "mean(numbers=[1, 2])"]],
                             *ground_truth_trajectory(base0)[1:]],
    }
    cases += [Perturbation(base0.id, kind, 0, "", t) for kind, t in edges.items()]
    cases.append(Perturbation(CYCLIC_ENTRY, "cyclic_copy", 0, "", CYCLIC_TRAJECTORY))
    probes = quirk_probes([entries["multi_turn_base_5"], entries["multi_turn_long_context_151"]],
                          release=release)
    return cases + probes


def test_agreement_with_the_official_checker(
    release: Release, entries: dict[str, Entry], truths: dict[str, GroundTruthRun]
) -> None:
    _official_or_skip(release)
    cases = _sample_cases(release, entries)
    assert len(cases) >= 60
    official = run_official(
        [OfficialCase(f"{c.entry_id}:{c.kind}:{n}", c.entry_id, c.trajectory)
         for n, c in enumerate(cases)],
        release=release, workers=2,
    )
    mismatches = []
    for case, theirs in zip(cases, official, strict=True):
        ours = judge(entries[case.entry_id], case.trajectory, release, truths)
        assert theirs.crash is None, theirs
        if case.kind.startswith("probe_shared_"):
            # Known quirk: the official checker's model and ground-truth instances share a
            # mutable default / module-level dicts, so it misses this state change.
            assert (ours.error_type, theirs.valid) == (STATE_MISMATCH, True), case
            continue
        if ours.summary() != theirs.summary() or not _same_details(ours, theirs):
            mismatches.append((case.entry_id, case.kind, ours.summary(), theirs.summary()))
    assert mismatches == []
    kinds = {c.kind for c in cases}
    assert set(DEFAULT_KINDS) <= kinds and {"control_shared_default"} <= kinds


def _same_details(ours: Verdict, theirs: OfficialVerdict) -> bool:
    if ours.error_type == STATE_MISMATCH:
        cls = ours.details["class"]
        return (cls, sorted(ours.details["differences"][cls])) == (
            theirs.state_class, theirs.state_attributes)
    if ours.error_type == RESPONSE_MISMATCH:
        return ours.details["missing_items"] == theirs.missing_items
    return True


def test_official_runner_refuses_non_literal_or_unknown_calls(release: Release) -> None:
    for call in ("cd(folder=__import__('os').getcwd())", "exec('print(1)')", "os.system('x')"):
        case = OfficialCase("bad", "multi_turn_base_0", [[[call]]])
        with pytest.raises(UnsafeCall):
            run_official([case], release=release)


# --- the SQLite port as executor -----------------------------------------------------------


def test_port_gives_the_same_verdicts(
    release: Release, all_entries: list[Entry], truths: dict[str, GroundTruthRun]
) -> None:
    from eigencore.bfcl.port import PortEpisode
    from environments.bfcl import by_class

    bundles = by_class()
    eligible = [e for e in all_entries if set(e.involved_classes) <= set(bundles)]
    if not eligible:
        pytest.skip("no entry has all its classes ported yet")
    sample = eligible[::6]
    cases = [(e, ground_truth_trajectory(e)) for e in sample]
    by_id = {e.id: e for e in sample}
    cases += [(by_id[p.entry_id], p.trajectory)
              for p in perturbations(sample, per_entry=2, seed=11, release=release)]

    def port(entry: Entry) -> PortEpisode:
        return PortEpisode(entry, bundles)

    port_truths: dict[str, GroundTruthRun] = {}
    differences = []
    for entry, trajectory in cases:
        if entry.id not in port_truths:
            port_truths[entry.id] = ground_truth_run(entry, port)
        on_port = check(entry, trajectory, executor=port, truth=port_truths[entry.id])
        reference = judge(entry, trajectory, release, truths)
        if on_port.summary() != reference.summary() or (
            on_port.details.get("missing_items") != reference.details.get("missing_items")
        ):
            differences.append((entry.id, reference.summary(), on_port.summary()))
    assert differences == []
    assert len(cases) >= 3 * len(sample)
