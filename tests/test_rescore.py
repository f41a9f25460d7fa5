"""Rescoring a stored run against another suite by transcript replay: real in-process MCP
servers, real SQLite episodes and run store. The source runs come from scripted adapters
(the reference-playing oracle, do-nothing, and one scripted to fail), never from a model."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import anyio
import pytest

from clients.models.base import ModelError, Reply, TaskContext, ToolDef
from clients.models.scripted import NoopAdapter, OracleAdapter
from eigencore.cli import main
from eigencore.evaluation.replay import Diverged, TranscriptReplay
from eigencore.evaluation.report import leaderboard, render_html, summarize
from eigencore.evaluation.rescore import rescore
from eigencore.evaluation.runner import RunConfig, run_suite
from eigencore.evaluation.store import RunStore
from eigencore.evaluation.suites import library_demo
from eigencore.evaluation.task import Fact, Task
from environments import registry

SUITE = "library-demo"


def source_run(store: RunStore, factory, model: str = "oracle",
               tasks: list[Task] | None = None) -> str:
    tasks = tasks or library_demo()
    return anyio.run(lambda: run_suite(tasks, factory, store, RunConfig(model=model, suite=SUITE),
                                       progress=False))


def by_task(store: RunStore, run_id: str) -> dict[str, dict]:
    return {v.task_id: v.model_dump() for v in store.verdicts(run_id)}


def write_suite(path: Path, tasks: list[Task]) -> str:
    path.write_text("".join(t.model_dump_json() + "\n" for t in tasks), encoding="utf-8")
    return f"file:{path}"


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "eval.db")


@pytest.mark.parametrize("factory", [OracleAdapter, NoopAdapter], ids=["oracle", "noop"])
def test_same_suite_reproduces_identical_verdicts(store: RunStore, factory) -> None:
    src = source_run(store, factory, factory.name)
    out = rescore(store, src, SUITE)
    assert out.diverged == [] and out.not_in_suite == [] and out.reproduced == 5
    assert by_task(store, out.run_id) == by_task(store, src)
    # The replayed conversation is the original one, message for message.
    for task in library_demo():
        a, b = store.transcript(src, task.id), store.transcript(out.run_id, task.id)
        assert a.messages == b.messages and a.decoded_calls() == b.decoded_calls()
        assert a.usage == b.usage
    meta = store.run(out.run_id)
    assert meta["model"] == factory.name
    assert meta["config"]["rescored_from"] == src and meta["config"]["diverged"] == []


def test_modified_suite_diverges_on_new_text_and_rescores_new_references(
        store: RunStore, tmp_path: Path) -> None:
    src = source_run(store, OracleAdapter)
    tasks = {t.id: t for t in library_demo()}
    tasks["library-demo-2"].turns[0].messages[0]["content"] += " Thanks!"
    tasks["library-demo-1"].turns[0].owed = [Fact(value=999, label="edited.fine")]
    tasks["library-demo-4"].turns[0].reference[1] = (
        "pay_fine(card_number='C-1004', amount_cents=300)")
    del tasks["library-demo-5"]
    suite = write_suite(tmp_path / "edited.jsonl", list(tasks.values()))

    out = rescore(store, src, suite)
    assert [d["task_id"] for d in out.diverged] == ["library-demo-2"]
    reason = out.diverged[0]["reason"]
    assert reason.startswith("turn 0 step 0: message #1, user differs") and "Thanks!" in reason
    assert out.not_in_suite == ["library-demo-5"]
    after = {v.task_id: v for v in store.verdicts(out.run_id)}
    assert sorted(after) == ["library-demo-1", "library-demo-3", "library-demo-4"]
    assert after["library-demo-3"].outcome  # unchanged task: same verdict
    one = after["library-demo-1"]  # same trajectory, new owed fact: now missing
    assert not one.outcome and one.turns[0].missing[0].value == 999
    four = after["library-demo-4"]  # the oracle paid 350; the new reference pays 300
    assert not four.outcome and "library" in four.final_state
    assert all(by_task(store, src)[t]["outcome"] for t in after)  # all passed before

    meta = store.run(out.run_id)
    assert meta["config"]["diverged"] == out.diverged
    (summary,) = summarize(store, [out.run_id])
    assert summary.rates.samples == 3  # the diverged sample is not in the denominator
    assert summary.rates.success["outcome"] == pytest.approx(1 / 3)
    board = leaderboard(store, [out.run_id], width=400)
    assert "1 diverged samples not scored and excluded from the rates" in board
    assert "1 source tasks are not in" in board
    assert "1 diverged samples not scored" in render_html(summarize(store, [out.run_id]))
    again = rescore(store, out.run_id, suite)  # a rescore of a rescore still owes that run
    assert by_task(store, again.run_id) == by_task(store, out.run_id)
    assert [d["reason"] for d in again.diverged] == [f"already diverged in run {out.run_id}: "
                                                    + reason]


def test_tool_result_divergence_is_detected(store: RunStore, tmp_path: Path) -> None:
    src = source_run(store, OracleAdapter)
    scenario = copy.deepcopy(registry.get("library").default_scenario)
    hobbit = next(c for c in scenario["tables"]["copies"] if c["barcode"] == "B10033")
    hobbit["status"] = "lost"  # two copies on the shelf instead of three
    tasks = [t for t in library_demo() if t.id == "library-demo-2"]
    tasks[0].scenarios = {"library": scenario}
    out = rescore(store, src, write_suite(tmp_path / "scenario.jsonl", tasks))
    assert out.reproduced == 0 and len(out.diverged) == 1
    reason = out.diverged[0]["reason"]
    assert reason.startswith("turn 0 step 1: message #3, result of search_catalog call")
    assert '"available_copies":3' in reason.replace(" ", "")
    assert '"available_copies":2' in reason.replace(" ", "")


def test_changed_tool_schema_or_list_is_detected(store: RunStore) -> None:
    src = source_run(store, OracleAdapter)
    original = store.transcript(src, "library-demo-2")
    replay = TranscriptReplay(lambda t, s: original if t == original.task_id else None)
    assert original.offered[0] == list(original.tool_digests)  # no held-out tools here

    async def first_step(tools: list[ToolDef]) -> Reply:
        await replay.start(TaskContext(task_id=original.task_id))
        return await replay.respond(original.messages[:2], tools, turn=0, step=0)

    tools = anyio.run(_listed_tools)
    reply = anyio.run(first_step, tools)
    assert reply.tool_calls == original.messages[2].tool_calls and replay.diverged is None
    bent = [t.model_copy(update={"description": t.description + " (edited)"})
            if t.name == "search_catalog" else t for t in tools]
    with pytest.raises(Diverged, match="'search_catalog' is offered with another description"):
        anyio.run(first_step, bent)
    with pytest.raises(Diverged, match=r"no longer offered \['search_catalog'\]"):
        anyio.run(first_step, [t for t in tools if t.name != "search_catalog"])
    assert "no longer offered" in (replay.diverged or "")


async def _listed_tools() -> list[ToolDef]:
    from fastmcp import Client

    from servers.transports import deploy

    dep = deploy([registry.get("library")], namespaced=False, unbound="reject")
    async with Client(dep.server) as agent:
        return [ToolDef(name=t.name, description=t.description or "",
                        input_schema=t.input_schema) for t in await agent.list_tools()]


class ScriptedFailure(OracleAdapter):
    """Scripted: plays the reference, then fails as a model over its context window would."""

    name = "scripted-failure"

    async def respond(self, messages, tools, *, turn: int, step: int) -> Reply:
        if step == 1:
            raise ModelError("scripted: the prompt exceeds the context window")
        return await super().respond(messages, tools, turn=turn, step=step)


def test_an_error_at_identical_inputs_is_replayed_not_diverged(store: RunStore) -> None:
    src = source_run(store, ScriptedFailure, ScriptedFailure.name)
    assert all(v.error and "context window" in v.error for v in store.verdicts(src))
    out = rescore(store, src, SUITE)
    assert out.diverged == [] and out.reproduced == 5
    for v in store.verdicts(out.run_id):
        assert not v.outcome and v.error == (
            "ReplayedError: ModelError: scripted: the prompt exceeds the context window")


def test_old_transcripts_are_checked_by_tool_names(store: RunStore) -> None:
    src = source_run(store, OracleAdapter)
    # As a run recorded before tool digests existed stores it.
    for (text, task, sample) in store.db.execute(
            "SELECT transcript, task_id, sample FROM results WHERE run_id = ?", (src,)).fetchall():
        record = json.loads(text)
        del record["tool_digests"], record["offered"]
        store.db.execute("UPDATE results SET transcript = ? WHERE run_id = ? AND task_id = ? "
                         "AND sample = ?", (json.dumps(record), src, task, sample))
    out = rescore(store, src, SUITE)
    assert out.names_only == 5 and out.diverged == []
    assert by_task(store, out.run_id) == by_task(store, src)


def test_cli_rescore_then_rerun_the_diverged_tasks(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "eval.db")
    assert main(["eval", "run", "--model", "oracle", "--suite", SUITE, "--store", db,
                 "--quiet", "--tasks", "library-demo-2,library-demo-3"]) == 0
    store = RunStore(db)
    (src,) = [r["run_id"] for r in store.runs()]
    assert sorted(t for t, _ in store.done(src)) == ["library-demo-2", "library-demo-3"]
    tasks = [t for t in library_demo() if t.id in ("library-demo-2", "library-demo-3")]
    tasks[0].turns[0].messages[0]["content"] = "How many Hobbits are there?"
    suite = write_suite(tmp_path / "edited.jsonl", tasks)
    capsys.readouterr()

    assert main(["eval", "rescore", src, "--suite", suite, "--store", db, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "1 samples reproduced and scored, 1 diverged (not scored)" in out
    assert "diverged library-demo-2 sample 0: turn 0 step 0: message #1, user differs" in out
    rerun = next(line.strip() for line in out.splitlines() if "eigen eval run" in line)
    assert f"--suite {suite} --tasks library-demo-2 " in rerun
    args = rerun.split()[1:]  # what the user is told to type, minus the program name
    assert main([*args, "--quiet"]) == 0
    new = [r for r in store.runs() if r["run_id"] not in (src,)][-1]
    assert [t for t, _ in store.done(new["run_id"])] == ["library-demo-2"]
    rescored = next(r for r in store.runs() if "rescored_from" in r["config"])
    assert main(["eval", "report", rescored["run_id"], "--store", db]) == 0
    assert "1 diverged samples not scored" in capsys.readouterr().out


def test_tasks_filter_from_file_and_unknown_ids(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "eval.db")
    ids = tmp_path / "ids.txt"
    ids.write_text("library-demo-4\nlibrary-demo-1\n")
    assert main(["eval", "run", "--model", "noop", "--suite", SUITE, "--store", db,
                 "--quiet", "--tasks", f"@{ids}"]) == 0
    store = RunStore(db)
    (run,) = store.runs()
    assert sorted(t for t, _ in store.done(run["run_id"])) == ["library-demo-1",
                                                               "library-demo-4"]
    assert run["config"]["task_ids"] == ["library-demo-4", "library-demo-1"]
    assert main(["eval", "run", "--model", "noop", "--suite", SUITE, "--store", db,
                 "--quiet", "--tasks", "library-demo-9"]) == 2
    assert "library-demo-9" in capsys.readouterr().err
