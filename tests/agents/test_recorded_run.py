"""Replays REAL model output offline: the exchanges of local:qwen2.5-coder-1.5b recorded on
2026-11-25 in the synthesis run of examples/retail_orders.md
(examples/recorded/retail_orders-qwen2.5-coder-1.5b/, exported from that run's cache).

The prompts have changed since the recording, so the replay is at the level of answers: each
recorded DatabaseAgent answer goes through the current validator and must give the findings
recorded then (plus the implied-relation check added since, which the recorded answers
fail: `orders.customer` is never declared a reference), and the recorded coding answers (the
literal "None") go through the current coding checks, whole and per-tool.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eigencore.agents.coding_agent import CodeDraft, run_checks, write_bundle
from eigencore.agents.database_agent import (
    DatabaseDraft,
    draft_model,
    scenario_of,
    schema_text,
    validate_draft,
)
from eigencore.agents.pieces import split_piece
from eigencore.agents.sandbox import Sandbox, SandboxLimits
from eigencore.agents.spec import DomainSpec
from eigencore.llm.code import extract_code

RECORDED = (Path(__file__).resolve().parents[2] / "examples" / "recorded"
            / "retail_orders-qwen2.5-coder-1.5b")
MODEL = "local:qwen2.5-coder-1.5b?max_tokens=4096&n_ctx=16384&threads=1&parallel_calls=1"


@pytest.fixture(scope="module")
def recorded() -> tuple[list[dict], dict]:
    exchanges = [json.loads(line) for line in
                 (RECORDED / "exchanges.jsonl").read_text(encoding="utf-8").splitlines()]
    return exchanges, json.loads((RECORDED / "run.json").read_text(encoding="utf-8"))


def answer(exchanges: list[dict], label: str) -> dict:
    """The arguments of the last `submit_answer` call recorded for a round."""
    calls = [c for e in exchanges if label in e["rounds"] for c in e["reply"]["tool_calls"]
             if c["name"] == "submit_answer"]
    return calls[-1]["arguments"]


def test_the_record_is_the_real_run(recorded) -> None:
    exchanges, run = recorded
    assert len(exchanges) == run["exchanges"] == 14
    assert {e["model"] for e in exchanges} == {MODEL} and run["model"] == MODEL
    assert {e["recorded_at"][:10] for e in exchanges} == {"2026-11-25"}
    assert (run["input_tokens"], run["output_tokens"]) == (38711, 13084)
    assert run["outcome"]["rounds"] == {"database": 5, "coding": 3} and not run["outcome"]["ok"]
    text = (RECORDED / "exchanges.jsonl").read_text()
    assert "/tmp/" not in text and "eigen-sandbox" not in text


def test_database_answers_give_the_recorded_findings(recorded) -> None:
    exchanges, run = recorded
    spec = DomainSpec.model_validate(run["spec"])
    implied = []
    for n in range(1, 6):
        args = answer(exchanges, f"database-{n}")
        draft_model(spec).model_validate(args)  # the answers fit today's per-spec schema
        found = validate_draft(spec, DatabaseDraft.model_validate(args)).findings
        was = [(f["check"], f["message"]) for f in run["rounds"][f"database-{n}"]["findings"]
               if f["check"] != "unchanged"]  # that one is the agent's, not the validator's
        assert [(f.check, f.message) for f in found if f.check != "implied_relation"] == was
        implied.append([f for f in found if f.check == "implied_relation"])
    first = [f["check"] for f in run["rounds"]["database-1"]["findings"]]
    assert first == ["primary_key", "foreign_key", "foreign_key"]
    assert "TEXT" in run["rounds"]["database-1"]["findings"][1]["message"]  # type mismatch
    def content(label: str) -> dict:
        return {k: v for k, v in answer(exchanges, label).items() if k != "notes"}

    assert content("database-3") == content("database-2")  # the model repeated its draft
    assert run["rounds"]["database-5"] == {"ok": True, "findings": []}
    # The relation the recorded schema implies but never declares, in every round:
    for got in implied:
        assert [f.message.split(" names")[0] for f in got] == ["orders.customer"]
    assert "declare it: `customer INTEGER NOT NULL REFERENCES customers(customer_id)`" in \
        implied[-1][0].evidence


def test_coding_answers_fail_the_current_checks_as_recorded(recorded, tmp_path: Path) -> None:
    exchanges, run = recorded
    spec = DomainSpec.model_validate(run["spec"])
    first = next(e for e in exchanges if "coding-1" in e["rounds"])
    # coding-1's first reply re-typed the preamble with raw newlines inside JSON strings,
    # which the adapter could not parse (it ended on its own after 388 tokens: not "length").
    assert first["reply"]["stop_reason"] == "unparsed" and first["reply"]["tool_calls"] == []
    assert first["reply"]["usage"]["output_tokens"] == 388
    assert "from __future__ import annotations\n" in first["reply"]["text"]
    answers = [answer(exchanges, f"coding-{n}") for n in (1, 2, 3)]
    assert {(a["tools_code"], a["test_code"]) for a in answers} == {("None", "None")}

    db = DatabaseDraft.model_validate(answer(exchanges, "database-5"))
    bundle = write_bundle(tmp_path / spec.name, spec, schema_text(spec, db), scenario_of(db),
                          CodeDraft.model_validate(answers[-1]))
    check = run_checks(Sandbox(SandboxLimits(cpu_s=20, wall_s=60)), bundle, spec)
    assert not check.ok and check.problems == run["rounds"]["coding-3"]["problems"]

    # In the per-tool mode the same answer is no code at all: sent back, never run.
    assert extract_code("None") is None
    _, problems = split_piece("None", spec.tools[0], all_tools=[t.name for t in spec.tools],
                              earlier=[])
    assert problems[0].startswith("there is no function `def find_customer(db: Db")
    assert problems[1].startswith("there is no test")
