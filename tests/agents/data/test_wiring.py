"""DataAgent wiring outside its package: the scorer enforces a synthesized task's assertions
(through `eigen eval run` on a suite file), and `eigen synth data` passes its options on.

No model is involved: the evaluated model is the oracle (it plays the task's reference
calls), and the CLI test replaces the pipeline with a recorder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eigencore import cli
from eigencore.agents.data import export, pipeline, tasks
from eigencore.agents.data.tasks import Assertion, DomainContext, GeneratedTask, GenTurn, OwedFact
from eigencore.evaluation.store import RunStore

RETURN = GeneratedTask(
    goal="Return a copy.",
    turns=[GenTurn(user="Bruno here, I'm bringing back B10007. What's the fine?",
                   calls=["return_copy(barcode='B10007')"],
                   owed=[OwedFact(value=325, label="return_copy.fine_charged_cents")])],
    assertions=[Assertion(table="loans", where={"copy_id": "B10007", "loaned_on": "2026-02-10"},
                          expect={"returned_on": "2026-03-16"})])


def test_eval_run_enforces_the_assertions_of_a_suite_file(tmp_path: Path) -> None:
    ctx = DomainContext.load("library")
    failures, _, changes = tasks.validate(RETURN, ctx, "base")
    assert failures == []
    holds = tasks.to_task(RETURN, ctx, "holds", suite="synth-test", variant="base",
                          changes=changes)
    # Same reference (so the same expected diff), but an assertion the outcome violates.
    broken = holds.model_copy(deep=True, update={"id": "broken"})
    broken.meta["assertions"][0]["expect"] = {"returned_on": "2026-03-17"}
    unknown = holds.model_copy(deep=True, update={"id": "unknown-table"})
    unknown.meta["assertions"].append({"table": "fines", "where": {}, "kind": "count",
                                       "count": 0})
    suite = export.write_suite(tmp_path / "suite.jsonl", [holds, broken, unknown])
    store_path = tmp_path / "eval.db"
    rc = cli.main(["eval", "run", "--model", "oracle", "--suite", f"file:{suite}",
                   "--store", str(store_path), "--quiet", "--concurrency", "1"])
    assert rc == 0
    store = RunStore(store_path)
    (run,) = store.runs()
    verdicts = {v.task_id: v for v in store.verdicts(run["run_id"])}

    assert verdicts["holds"].outcome and verdicts["holds"].assertions == []
    bad = verdicts["broken"]
    # The state-diff comparison alone passes: the oracle did exactly the reference.
    assert bad.final_state == {} and bad.turns == []
    assert not bad.outcome and not bad.per_turn
    assert "assertion failed: expected a loans row with copy_id='B10007'" in bad.explain()
    assert "'returned_on': '2026-03-16'" in bad.explain()  # what was found instead
    assert not verdicts["unknown-table"].outcome
    assert "no domain of the task has a table 'fines'" in verdicts["unknown-table"].explain()


def test_assertions_are_checked_on_either_diff_form() -> None:
    from environments.state import StateDiff

    ctx = DomainContext.load("library")
    _, _, changes = tasks.validate(RETURN, ctx, "base")
    task = tasks.to_task(RETURN, ctx, "t", suite="s", variant="base", changes=changes)
    assert tasks.task_assertion_failures(task, {"library": changes}) == []
    assert tasks.task_assertion_failures(task, {"library": StateDiff(changes=changes)}) == []
    assert tasks.task_assertion_failures(task, {}) != []  # nothing returned: it fails


def test_synth_data_cli_passes_every_option(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def recorder(domain: str, llm: str, out: str, rounds: int, tasks_per_round: int,
                 **kwargs: Any) -> pipeline.RunSummary:
        seen.update(domain=domain, llm=llm, out=out, rounds=rounds, tasks=tasks_per_round,
                    **kwargs)
        return pipeline.RunSummary(domain=domain, llm=llm, rounds=[])

    monkeypatch.setattr(pipeline, "run", recorder)
    rc = cli.main(["synth", "data", "--domain", "library", "--llm", "local:qwen2.5-coder-0.5b",
                   "--assistant", "oracle", "--out", str(tmp_path), "--rounds", "2",
                   "--tasks", "4", "--turns", "3", "--seed", "7", "--max-steps", "5",
                   "--embedder", "ngram", "--optimiser", "builtin", "--no-judge",
                   "--variants", "base,miss_func"])
    assert rc == 0
    s = seen["settings"]
    assert (seen["domain"], seen["rounds"], seen["tasks"]) == ("library", 2, 4)
    assert seen["assistant_spec"] == "oracle" and seen["judge"] is False
    assert (s.n_turns, s.seed, s.max_steps, s.embedder, s.optimiser) == (3, 7, 5, "ngram",
                                                                         "builtin")
    assert s.variants == ("base", "miss_func")
    assert cli.main(["synth", "data", "--domain", "library", "--llm", "x", "--out",
                     str(tmp_path), "--variants", "base,odd"]) == 2  # refused, not run
