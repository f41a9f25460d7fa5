"""Outcome-aware evaluation end to end on the showcase suite: real in-process MCP servers,
real SQLite episodes, scripted models (oracle, do-nothing, replays of recorded results)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from clients.models.scripted import NoopAdapter, OracleAdapter, ReplayAdapter
from eigencore.evaluation.facts import fact_given
from eigencore.evaluation.harness import Target, rollout
from eigencore.evaluation.metrics import rates
from eigencore.evaluation.outcome import reference_outcome
from eigencore.evaluation.scoring import Verdict, score
from eigencore.evaluation.suites import load_suite
from eigencore.evaluation.task import Fact, Task

TASKS = {t.id: t for t in load_suite("library-demo")}


def run(task: Task, model, target: Target | None = None) -> Verdict:
    transcript = anyio.run(lambda: rollout(task, model, target))
    return score(task, transcript, reference_outcome(task))


def replay(tmp_path: Path, task_id: str, result: list) -> ReplayAdapter:
    path = tmp_path / "result.jsonl"
    path.write_text(json.dumps({"id": task_id, "result": result}) + "\n")
    return ReplayAdapter(path)


@pytest.mark.parametrize("task_id", sorted(TASKS))
def test_oracle_passes_and_noop_fails(task_id: str) -> None:
    task = TASKS[task_id]
    ref = reference_outcome(task)
    assert not ref.failed_calls() and not ref.is_trivial()
    good = run(task, OracleAdapter())
    assert good.outcome and good.per_turn, good.explain()
    bad = run(task, NoopAdapter())
    assert not bad.outcome and not bad.per_turn
    assert bad.explain()  # every failure says why


def test_correct_but_different_trajectory_passes(tmp_path: Path) -> None:
    """Extra reads, another tool order and keyword spelling do not matter to the outcome."""
    task = TASKS["library-demo-4"]  # pay off Dana's fine
    model = replay(tmp_path, task.id, [[
        [{"search_catalog": {"query": "dune"}}],
        ["pay_fine(card_number='C-1004', amount_cents=350.0)"],  # 350.0 == 350
        ["get_member('C-1004')"],  # positional argument
    ]])
    v = run(task, model)
    assert v.outcome and v.per_turn, v.explain()


def test_collateral_damage_fails_with_explanation(tmp_path: Path) -> None:
    task = TASKS["library-demo-4"]
    model = replay(tmp_path, task.id, [[
        ["pay_fine(card_number='C-1004', amount_cents=350)",
         "set_member_status(card_number='C-1003', status='suspended')"],
    ]])
    v = run(task, model)
    assert not v.outcome
    text = v.explain()
    assert "members[card_number='C-1003']" in text and "status" in text


def test_wrong_value_fails(tmp_path: Path) -> None:
    task = TASKS["library-demo-4"]
    model = replay(tmp_path, task.id, [[["pay_fine(card_number='C-1004', amount_cents=300)"]]])
    v = run(task, model)
    assert not v.outcome
    change = v.final_state["library"].changes[0]
    assert change.columns["fines_cents"].old == 0 and change.columns["fines_cents"].new == 50


def test_per_turn_is_stricter_than_final(tmp_path: Path) -> None:
    """Doing turn 2's work already in turn 1 reaches the right end state, late for turn 1."""
    task = TASKS["library-demo-5"]
    model = replay(tmp_path, task.id, [
        [["renew_loan(barcode='B10004')",
          "cancel_hold(card_number='C-1006', isbn='9780141439518')"]],
        [],
    ])
    v = run(task, model)
    assert v.outcome, v.explain()  # the end state is right and the due date was relayed
    assert not v.per_turn and "holds" in v.turns[0].state["library"].to_text()


def test_information_is_required(tmp_path: Path) -> None:
    task = TASKS["library-demo-2"]  # read-only: how many copies?
    told = replay(tmp_path, task.id, [[["search_catalog(query='hobbit')"]]])
    assert run(task, told).outcome  # the relayed result holds the count
    wrong = replay(tmp_path, task.id, [[["search_catalog(query='dune')"]]])
    v = run(task, wrong)
    assert not v.outcome and not v.final_state  # the state is right, but the user was not told
    assert "not told 3" in v.explain()


def test_facts_compare_numbers_by_value() -> None:
    assert fact_given(Fact(value=25), "the total is 25.0 dollars")
    assert fact_given(Fact(value=25.0), "total: 25")
    assert fact_given(Fact(value=1234.5), "you owe $1,234.50")
    assert not fact_given(Fact(value=25), "the total is 250")
    assert fact_given(Fact(value="C-1015"), "Her card is c-1015.")
    assert not fact_given(Fact(value="C-1015"), "Her card is C-1016.")


def test_stdio_target_gives_the_same_verdict() -> None:
    task = TASKS["library-demo-3"]
    v = run(task, OracleAdapter(), Target(kind="stdio"))
    assert v.outcome and v.per_turn, v.explain()


def test_pass_k() -> None:
    def v(task: str, ok: bool) -> Verdict:
        return Verdict(task_id=task, outcome=ok, per_turn=ok)

    r = rates([v("a", True), v("a", True), v("b", True), v("b", False)], k=2)
    assert r.success["outcome"] == 0.75 and r.pass_k["outcome"] == 0.5
    assert r.success["bfcl"] is None


def test_resume_after_kill_loses_and_repeats_nothing(tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    cmd = [sys.executable, "-m", "eigencore.cli", "eval", "run", "--model", "oracle",
           "--suite", "library-demo", "--k", "12", "--concurrency", "2", "--store", str(store),
           "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 90
    done_before = 0
    while time.time() < deadline:
        time.sleep(0.2)
        if store.exists():
            with sqlite3.connect(store) as db:
                try:
                    done_before = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
                except sqlite3.OperationalError:
                    continue
            if done_before >= 5:
                break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(store) as db:
        run_id, finished = db.execute("SELECT run_id, finished FROM runs").fetchone()
        done_before = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    assert finished is None and 5 <= done_before < 60
    out = subprocess.run([sys.executable, "-m", "eigencore.cli", "eval", "run", "--resume",
                          run_id, "--store", str(store), "--quiet"],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT task_id, sample, outcome FROM results").fetchall()
        assert db.execute("SELECT finished FROM runs").fetchone()[0] is not None
    assert len(rows) == 60 == len(set((t, s) for t, s, _ in rows))
    assert all(ok for *_, ok in rows)


def test_a_second_worker_takes_part_of_a_run(tmp_path: Path) -> None:
    """`--resume RUN --tasks part` runs only that part into the same run, and any worker
    skips what the store already holds."""
    store = tmp_path / "runs.db"
    base = [sys.executable, "-m", "eigencore.cli", "eval", "run", "--store", str(store),
            "--quiet"]
    first = subprocess.run([*base, "--model", "oracle", "--suite", "library-demo",
                            "--tasks", "library-demo-1"], capture_output=True, text=True,
                           timeout=120)
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(store) as db:
        (run_id,) = db.execute("SELECT run_id FROM runs").fetchone()
        # widen the recorded run to three tasks, as if the first worker had been killed
        db.execute("UPDATE runs SET config = json_set(config, '$.task_ids', json_array("
                   "'library-demo-1', 'library-demo-2', 'library-demo-3'))")
    part = subprocess.run([*base, "--resume", run_id, "--tasks", "library-demo-3"],
                          capture_output=True, text=True, timeout=120)
    assert part.returncode == 0, part.stderr
    with sqlite3.connect(store) as db:
        got = sorted(r[0] for r in db.execute("SELECT task_id FROM results"))
    assert got == ["library-demo-1", "library-demo-3"]
    outside = subprocess.run([*base, "--resume", run_id, "--tasks", "library-demo-4"],
                             capture_output=True, text=True, timeout=120)
    assert outside.returncode != 0 and "outside run" in outside.stderr
    rest = subprocess.run([*base, "--resume", run_id], capture_output=True, text=True,
                          timeout=120)
    assert rest.returncode == 0, rest.stderr
    with sqlite3.connect(store) as db:
        got = sorted(r[0] for r in db.execute("SELECT task_id FROM results"))
    assert got == ["library-demo-1", "library-demo-2", "library-demo-3"]


def test_local_models_run_one_task_at_a_time() -> None:
    from eigencore.cli import _concurrency

    assert _concurrency("local:qwen2.5-coder-0.5b?threads=1", 4) == 1
    assert _concurrency("local:qwen2.5-coder-0.5b", None) == 1
    assert _concurrency("oracle", None) == 4 and _concurrency("oracle", 2) == 2


def test_resume_keeps_the_runs_settings(tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    base = [sys.executable, "-m", "eigencore.cli", "eval", "run", "--store", str(store),
            "--quiet"]
    first = subprocess.run([*base, "--model", "oracle", "--suite", "library-demo", "--tasks",
                            "library-demo-1", "--max-steps", "3", "--concurrency", "2"],
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(store) as db:
        (run_id, config), = db.execute("SELECT run_id, config FROM runs").fetchall()
    assert json.loads(config)["concurrency"] == 2 and json.loads(config)["max_steps"] == 3
    again = subprocess.run([*base, "--resume", run_id], capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr
