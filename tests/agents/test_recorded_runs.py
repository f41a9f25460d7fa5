"""Replays the REAL local-model synthesis runs recorded in examples/recorded/ whole and
offline: every exported run whose `run.json` names its replay arguments is run again with
`eigen synth env ... --replay-from` (no model: every answer comes from the export under its
recorded key; the sandbox checks run again), and every round must get the verdict recorded
in the real run.

These are model outputs, not fixtures (each export's README says which model, when, how).
A change to the agents' prompts, validators or checks makes a replay ask a prompt the
recording does not have: the test then fails with "no recorded response", and the run must
be recorded again or its test moved to answer level (as test_recorded_run.py is).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eigencore.agents.export_run import round_verdict, scrub
from eigencore.cli import main as eigen

RECORDED = Path(__file__).resolve().parents[2] / "examples" / "recorded"
ROOT = RECORDED.parents[1]
RUNS = sorted(p.parent.name for p in RECORDED.glob("*/run.json")
              if json.loads(p.read_text(encoding="utf-8")).get("replay"))


def _verdict(v: dict | None) -> dict | None:
    if v is None:
        return None
    return {k: v.get(k) for k in ("ok", "findings", "problems", "failed_tests", "routed")
            if k in v}


def test_there_are_replayable_runs_for_each_example() -> None:
    specs = {json.loads((RECORDED / r / "run.json").read_text())["replay"][1] for r in RUNS}
    assert {"examples/retail_orders.md", "examples/clinic_appointments.md",
            "examples/it_helpdesk.md"} <= specs


@pytest.mark.parametrize("run", RUNS)
def test_a_recorded_run_replays_with_the_recorded_verdicts(run: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    record = json.loads((RECORDED / run / "run.json").read_text(encoding="utf-8"))
    monkeypatch.chdir(ROOT)  # the replay arguments name the spec relative to the checkout
    out = tmp_path / "replay"
    eigen(["synth", "env", *record["replay"], "--out", str(out),
           "--replay-from", str(RECORDED / run)])
    summary = json.loads((out / "summary.json").read_text())
    replayed = {h["round"] for h in summary["history"]}
    recorded = {label for label, v in record["rounds"].items() if v is not None}
    assert replayed == recorded, "the replay took another path than the recorded run"
    for label in sorted(replayed):
        got = json.loads((out / "rounds" / label / "validation.json").read_text())
        assert _verdict(scrub(round_verdict(got), str(out.resolve()))) == \
            _verdict(record["rounds"][label]), label
    if "ok" in record["outcome"]:
        assert summary["ok"] == record["outcome"]["ok"]
        assert summary.get("tools") == record["outcome"].get("tools")
    if summary["ok"]:
        _serves_its_accepted_tools(out / summary["spec"])


def _serves_its_accepted_tools(bundle_dir: Path) -> None:
    """A bundle the model's code made passes the contract checks in this process too, and
    serves its tools over in-memory MCP (the sandbox already called each one)."""
    import anyio
    from fastmcp import Client

    from eigencore.agents.coding_agent import load_bundle_dir
    from environments.conformance import check_bundle
    from servers.transports import deploy

    bundle = load_bundle_dir(bundle_dir)
    assert check_bundle(bundle) == []

    async def serve() -> None:
        async with Client(deploy([bundle]).server) as client:
            listed = {t.name for t in await client.list_tools()}
            assert {t.name for t in bundle.tools} <= listed

    anyio.run(serve)


def test_the_recorded_helpdesk_answers_under_todays_validator() -> None:
    """The 0.5B helpdesk run predates two changes, so it replays answer by answer: today's
    validator gives the findings recorded then, except the identifier check's false
    positive on `comments.author_email` (a person writes many comments), and the agent's
    mechanical fixes now clear every missing key of its first draft."""
    from eigencore.agents.database_agent import DatabaseDraft, validate_draft
    from eigencore.agents.draft_fixes import apply_fixes
    from eigencore.agents.spec import DomainSpec

    run_dir = RECORDED / "it_helpdesk-qwen2.5-coder-0.5b-no-fixes"
    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    exchanges = [json.loads(ln) for ln in
                 (run_dir / "exchanges.jsonl").read_text(encoding="utf-8").splitlines()]
    assert record["replay"] == [] and record["exchanges"] == len(exchanges) == 5
    spec = DomainSpec.model_validate(record["spec"])
    for label in ("database-1", "database-2", "database-3"):
        (call,) = [c for e in exchanges if label in e["rounds"]
                   for c in e["reply"]["tool_calls"]][-1:]
        draft = DatabaseDraft.model_validate(call["arguments"])
        now = [(f.check, f.message) for f in validate_draft(spec, draft).findings]
        then = [(f["check"], f["message"]) for f in record["rounds"][label]["findings"]
                if f["check"] != "unchanged"]
        dropped = [f for f in then if f not in now]
        assert [f for f in now if f not in then] == []
        assert dropped == [("unique", "comments.author_email is an identifier but repeats "
                                      "values: ['alice@example.com', 'bob@example.com', "
                                      "'charlie@example.com', 'david@example.com']")]
        if label == "database-1":
            fixed, fixes = apply_fixes(draft, {c for c, _ in now})
            left = {f.check for f in validate_draft(spec, fixed).findings}
            assert "primary_key" not in left and len(
                [f for f in fixes if f.check == "primary_key"]) == 5
