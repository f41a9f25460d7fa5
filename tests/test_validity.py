"""Metric validity: the labelled set built from the BFCL release, and the report that scores
it with the outcome, per-turn and BFCL verdicts."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from eigencore.bfcl.calls import parse_call
from eigencore.bfcl.labels import (
    CORRECT_KINDS,
    INCORRECT_KINDS,
    KINDS,
    build_labels,
    execute,
    read_labels,
    write_labels,
)
from eigencore.bfcl.metric import ground_truth_trajectory
from eigencore.bfcl.release import Entry, Release
from eigencore.evaluation.validity import (
    METRICS,
    ItemVerdict,
    report_from,
    validity,
)
from environments.bfcl import by_class


@pytest.fixture(scope="module")
def entries(release: Release) -> dict[str, Entry]:
    return {e.id: e for e in release.entries("base")}


@pytest.fixture(scope="module")
def items(release: Release) -> list[dict[str, Any]]:
    return build_labels(release)


def _flat(result: list[list[list[str]]]) -> list[list[str]]:
    return [[c for step in turn for c in step] for turn in result]


def _spec(entry: Entry, name: str) -> Any:
    specs = {s.name: s for c in entry.involved_classes for s in by_class()[c].tools}
    return specs[name]


def test_set_size_coverage_and_format(items: list[dict[str, Any]],
                                      entries: dict[str, Entry]) -> None:
    assert len(items) >= 80
    ids = {i["id"] for i in items}
    assert len(ids) >= 30
    classes = {c for i in ids for c in entries[i].involved_classes}
    assert classes == set(by_class())  # all 8 BFCL classes
    assert len(classes) == 8
    assert Counter(i["label"] for i in items).keys() == {True, False}
    assert set(Counter(i["kind"] for i in items)) == set(KINDS)  # every kind exists
    for item in items:
        assert {"id", "label", "result", "kind", "note"} <= item.keys()
        assert item["label"] is (item["kind"] in CORRECT_KINDS)
        assert "verified" in item["note"]
        result = item["result"]
        assert len(result) == len(entries[item["id"]].ground_truth)
        assert all(isinstance(c, str) for turn in result for step in turn for c in step)
        for turn in result:
            for step in turn:
                for call in step:
                    parse_call(call)
    # Items of one entry differ by kind.
    assert len({(i["id"], i["kind"]) for i in items}) == len(items)


def test_deterministic_for_a_seed(release: Release, items: list[dict[str, Any]]) -> None:
    assert build_labels(release) == items
    other = build_labels(release, entries=8, seed=1)
    assert other == build_labels(release, entries=8, seed=1)
    assert other != items[: len(other)]


def test_write_and_read_round_trip(tmp_path: Path, items: list[dict[str, Any]]) -> None:
    path = tmp_path / "labels.jsonl"
    write_labels(path, items)
    assert read_labels(path) == items
    assert all(json.loads(line)["id"] for line in path.read_text().splitlines())


def _first(items: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(i for i in items if i["kind"] == kind)


def test_missing_step_lacks_a_state_changing_call(items: list[dict[str, Any]],
                                                  entries: dict[str, Entry]) -> None:
    for item in (i for i in items if i["kind"] == "missing_step"):
        entry = entries[item["id"]]
        truth, got = entry.ground_truth, _flat(item["result"])
        dropped = [c for t in range(len(truth)) for c in truth[t] if c not in got[t]
                   or truth[t].count(c) > got[t].count(c)]
        assert len(dropped) == 1, item
        assert sum(map(len, truth)) - sum(map(len, got)) == 1
        assert not _spec(entry, parse_call(dropped[0]).name).read_only
        gt_run = execute(entry, ground_truth_trajectory(entry))
        assert execute(entry, item["result"]).final != gt_run.final


def test_reorder_keeps_every_result_and_state(items: list[dict[str, Any]],
                                              entries: dict[str, Entry]) -> None:
    item = _first(items, "reorder")
    entry = entries[item["id"]]
    gt = ground_truth_trajectory(entry)
    assert item["result"] != gt
    assert [sorted(t) for t in _flat(item["result"])] == [sorted(t) for t in entry.ground_truth]
    truth, run = execute(entry, gt), execute(entry, item["result"])
    assert run.states == truth.states
    for t in range(len(gt)):
        by_call = dict(zip(truth.calls[t], truth.texts(t), strict=True))
        assert all(by_call[c] == r for c, r in zip(run.calls[t], run.texts(t), strict=True))


def test_inserted_calls_have_the_right_flags(items: list[dict[str, Any]],
                                             entries: dict[str, Entry]) -> None:
    for kind, flag in (("extra_reads", "read_only"), ("extra_destructive", "destructive")):
        for item in (i for i in items if i["kind"] == kind):
            entry = entries[item["id"]]
            added = Counter(c for t in _flat(item["result"]) for c in t)
            added.subtract(Counter(c for t in entry.ground_truth for c in t))
            new = [c for c, n in added.items() if n > 0]
            assert new, item
            assert all(getattr(_spec(entry, parse_call(c).name), flag) for c in new), item


def test_stop_early_drops_the_last_turns(items: list[dict[str, Any]],
                                         entries: dict[str, Entry]) -> None:
    for item in (i for i in items if i["kind"] == "stop_early"):
        truth = entries[item["id"]].ground_truth
        got = _flat(item["result"])
        emptied = [t for t in range(len(truth)) if truth[t] and not got[t]]
        assert emptied and emptied == [t for t in range(len(truth)) if truth[t]][-len(emptied):]
        assert all(got[t] == truth[t] for t in range(len(truth)) if t not in emptied)


def test_report_on_a_subset(items: list[dict[str, Any]]) -> None:
    subset = [i for kind in INCORRECT_KINDS + CORRECT_KINDS
              for i in [i for i in items if i["kind"] == kind][:2]]
    report = validity(subset, systems=6, draws=5)
    assert len(report.items) == len(subset)
    assert not any(i.error for i in report.items)
    assert set(report.overall) == set(METRICS)
    assert set(report.by_kind) == set(KINDS)
    for m in METRICS:
        c = report.overall[m]
        assert c.n == len(subset) and c.agree + c.false_accepts + c.false_rejects == c.n
        assert report.by_kind["reference"][m].agree == 2  # the ground truth passes everything
    for kind in ("missing_step", "wrong_value", "wrong_target", "extra_destructive"):
        assert report.by_kind[kind]["outcome"].false_accepts == 0  # the state differs
        assert report.by_kind[kind]["bfcl"].false_accepts == 0
    assert report.overall["outcome"].accuracy is not None
    assert report.overall["outcome"].accuracy > 0.8
    assert len(report.systems) == 6
    assert all(t is None or -1 <= t <= 1 for t in report.tau_labels.values())
    text = report.to_text()
    assert "agreement" in text and "tau(labels, outcome)" in text
    data = json.loads(report.to_json())
    assert data["overall"]["bfcl"]["n"] == len(subset)


def test_report_arithmetic_without_execution() -> None:
    def item(k: int, label: bool, outcome: bool, bfcl: bool, kind: str) -> ItemVerdict:
        return ItemVerdict(index=k, id=f"e{k // 2}", kind=kind, label=label, note="",
                           verdicts={"outcome": outcome, "per_turn": outcome, "bfcl": bfcl})

    verdicts = [item(0, True, True, False, "equivalent_tool"),
                item(1, False, False, False, "missing_step"),
                item(2, True, True, True, "reference"),
                item(3, False, True, False, "stop_early")]
    report = report_from(verdicts, systems=4, draws=3)
    assert report.overall["outcome"].false_accepts == 1
    assert report.overall["outcome"].false_rejects == 0
    assert report.overall["bfcl"].false_rejects == 1
    assert report.overall["bfcl"].false_accepts == 0
    assert report.overall["bfcl"].accuracy == 0.75
    assert report.by_kind["stop_early"]["outcome"].false_accept_rate == 1.0
    assert [d.id for d in report.disagreements()] == ["e0", "e1"]
