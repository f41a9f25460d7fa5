"""The LLM judge of the audit: it finds a seeded reference call that does something else than
the request and leaves the clean turn alone, its verdicts are cached (a re-run makes no model
call) and recorded, an undecided verdict is never a finding, and the pluggable-backend path
works end to end through the CLI against the fake OpenAI-compatible server on 127.0.0.1.

The "models" here are scripted: `RuleBackend` answers by a fixed rule written in this file,
and the fake server replies with canned answers. No verdict below is a real model's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.models.base import Message, Reply, TaskContext, ToolCall, ToolDef
from eigencore.audit import run
from eigencore.audit.judge import LLMJudge, read_judgements
from eigencore.audit.trajectory import (
    AuditContext,
    ItemJudge,
    Judge,
    JudgeItem,
    audit_entries,
    audit_trajectories,
    base_number,
    select_judge_items,
)
from eigencore.bfcl.release import Entry
from eigencore.cli import main as cli
from tests.models.fake_servers import OPENAI_KEY, Canned, Fake, openai_app, serving

BASE_1 = "multi_turn_base_1"
MOVE = "move one of the 'log.txt' files into a new directory 'archive'"
"""Turn 1 of base_1: "Go to workspace directory and move one of the 'log.txt' files ..."."""


@pytest.fixture(scope="module")
def entries(release) -> dict[str, Entry]:
    return {e.id: e for e in release.entries("base")}


def context(release, judge: Judge) -> AuditContext:
    return AuditContext(release=release, judge=judge,
                        bases={base_number(e): e for e in release.entries("base")})


def with_turn(entry: Entry, turn: int, calls: list[str]) -> Entry:
    truth = [list(t) for t in entry.ground_truth]
    truth[turn] = calls
    return entry.model_copy(update={"ground_truth": truth}, deep=True)


def deleting(entry: Entry) -> Entry:
    """Seeded defect: the user asks to move log.txt; the reference deletes it instead. The
    call shares `log`/`txt` with the request, so the lexical `unrequested_call` passes it."""
    return with_turn(entry, 1, ["cd(folder='workspace')", "rm(file_name='log.txt')"])


def section(prompt: str, title: str) -> str:
    m = re.search(rf"## {re.escape(title)}\n(.*?)(?:\n\n|$)", prompt, re.DOTALL)
    return m.group(1) if m else ""


class RuleBackend:
    """A scripted judge backend (a fixed rule, not a model): a turn whose calls include `rm(`
    while the request does not ask to delete or remove is unsupported; anything else is
    supported. Quotes are copied from the request, as the verdict schema demands."""

    def __init__(self, *, tool_mode: bool = False, prose: bool = False) -> None:
        self.name = "scripted-rule-judge"
        self.calls = 0
        self.tool_mode = tool_mode
        self.prose = prose

    async def start(self, task: TaskContext) -> None:
        return None

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        self.calls += 1
        if self.prose:
            return Reply(text="The calls look fine to me.")
        prompt = next(m.content for m in messages if m.role == "user")
        request = section(prompt, "The user's request")
        calls = section(prompt, "The reference calls for this request, in order, with "
                                "their results")
        if "rm(" in calls and not re.search(r"delete|remove", request, re.I):
            verdict = {"quote": MOVE if MOVE in request else request[:40],
                       "reasoning": "scripted rule: rm deletes the file; the request does not "
                                    "ask to delete it", "supported": False}
        else:
            verdict = {"quote": " ".join(request.split()[:4]),
                       "reasoning": "scripted rule: no deleting call", "supported": True}
        if self.tool_mode:
            return Reply(tool_calls=[ToolCall(id="c1", name=tools[0].name, arguments=verdict)])
        return Reply(text=json.dumps(verdict))


def judge_findings(findings: list) -> list:
    return [f for f in findings if f.check == "trajectory.judge_unsupported"]


# --------------------------------------------------------------------------- seeded / clean


@pytest.mark.parametrize("tool_mode", [False, True], ids=["text", "tool"])
def test_finds_seeded_defect_and_leaves_clean_entry(
    release, entries: dict[str, Entry], tmp_path: Path, tool_mode: bool
) -> None:
    backend = RuleBackend(tool_mode=tool_mode)
    with LLMJudge(backend, tmp_path / "cache.sqlite",
                  structured="tool" if tool_mode else "text") as judge:
        assert isinstance(judge, Judge) and isinstance(judge, ItemJudge)
        ctx = context(release, judge)
        seeded = audit_entries([deleting(entries[BASE_1])], ctx)
        clean = audit_entries([entries[BASE_1]], ctx)
    # The lexical check does not see the defect; the judge does.
    assert not [f for f in seeded if f.check == "trajectory.unrequested_call" and f.turn == 1]
    found = judge_findings(seeded)
    assert [(f.id, f.severity) for f in found] == [
        (f"trajectory.judge_unsupported:{BASE_1}:t1", "warning")]
    assert "rm(file_name='log.txt')" in found[0].evidence.call
    assert found[0].evidence.judge.startswith(f'unsupported: quote: "{MOVE}"')
    assert "scripted rule: rm deletes" in found[0].evidence.judge
    assert judge_findings(clean) == []
    records = judge.records
    assert {r.verdict for r in records if r.entry_id == BASE_1 and r.turn == 1} == {
        "unsupported", "supported"}  # the seeded turn, then the clean one
    assert all(r.cache_key and r.model == "scripted-rule-judge" for r in records)
    # Turn 0 is one question in both entries (the deletion changes turns 2 and 3's results).
    assert len(records) == 2 * 4 and backend.calls == 2 * 4 - 1


def test_verdicts_are_cached(release, entries: dict[str, Entry], tmp_path: Path) -> None:
    cache = tmp_path / "judge.sqlite"
    runs = []
    for _ in range(2):
        backend = RuleBackend()
        with LLMJudge(backend, cache, structured="text", log=tmp_path / "j.jsonl") as judge:
            findings = audit_entries([deleting(entries[BASE_1])], context(release, judge))
        records = read_judgements(tmp_path / "j.jsonl")
        runs.append((backend.calls, judge_findings(findings), records))
    (calls1, found1, records1), (calls2, found2, records2) = runs
    assert calls1 == 4 and calls2 == 0  # the second run makes no model call
    assert found1 == found2 and len(found1) == 1
    strip = [{**r.model_dump(), "model_calls": 0} for r in records1]
    assert strip == [{**r.model_dump(), "model_calls": 0} for r in records2]
    assert [r.model_calls for r in records2] == [0, 0, 0, 0]


def test_undecided_is_recorded_never_a_finding(
    release, entries: dict[str, Entry], tmp_path: Path
) -> None:
    backend = RuleBackend(prose=True)  # never answers with a verdict object
    with LLMJudge(backend, tmp_path / "c.sqlite", structured="text", retries=1) as judge:
        findings = audit_entries([deleting(entries[BASE_1])], context(release, judge),
                                 judge_limit=1)
    assert judge_findings(findings) == []
    [record] = judge.records
    assert record.verdict == "undecided" and record.turn == 1
    assert "StructuredOutputError" in record.error and "look fine" in record.error
    assert backend.calls == 2  # the first answer and one retry with the validation error


def test_invented_quote_is_sent_back(tmp_path: Path) -> None:
    class Inventor(RuleBackend):
        async def respond(self, messages, tools, *, turn, step):
            self.calls += 1
            quote = "words nobody wrote" if self.calls == 1 else "Delete the file"
            return Reply(text=json.dumps({"quote": quote, "reasoning": "r", "supported": True}))

    backend = Inventor()
    item = JudgeItem(entry_id="e", category="base", turn=0, request="Delete the file a.txt.",
                     calls=("rm(file_name='a.txt')",), results=("None",))
    with LLMJudge(backend, tmp_path / "c.sqlite", structured="text") as judge:
        assert judge.judge_item(item) == ("supported", 'quote: "Delete the file"; reasoning: r')
    assert backend.calls == 2


# --------------------------------------------------------------------------- budget and order


def test_select_ranks_by_tier_then_audit_order_and_shares_questions() -> None:
    def item(entry: str, turn: int, tier: int, request: str) -> JudgeItem:
        return JudgeItem(entry_id=entry, category="base", turn=turn, request=request,
                         calls=("f()",), results=("1",), tier=tier)

    items = [item("a", 0, 3, "read"), item("a", 1, 2, "write"), item("b", 0, 0, "odd"),
             item("c", 0, 2, "write"), item("c", 1, 3, "other")]
    order = [(i.entry_id, i.turn) for i in select_judge_items(items)]
    assert order == [("b", 0), ("a", 1), ("c", 0), ("a", 0), ("c", 1)]
    # The budget counts distinct questions: c/0 asks what a/1 asks, so it comes along.
    assert [(i.entry_id, i.turn) for i in select_judge_items(items, 2)] == [
        ("b", 0), ("a", 1), ("c", 0)]
    assert select_judge_items(items, 0) == []


def test_flagged_turn_is_judged_first_within_budget(
    release, entries: dict[str, Entry], tmp_path: Path
) -> None:
    flagged = with_turn(entries[BASE_1], 3, ["tail(file_name='log.txt',lines=20)",
                                             "touch(file_name='zzz.txt')"])
    backend = RuleBackend()
    with LLMJudge(backend, tmp_path / "c.sqlite", structured="text") as judge:
        findings = audit_entries([entries["multi_turn_base_0"], flagged],
                                 context(release, judge), judge_limit=1)
    assert any(f.check == "trajectory.unrequested_call" and f.turn == 3 for f in findings)
    assert [(r.entry_id, r.turn, r.tier) for r in judge.records] == [
        (BASE_1, 3, "unrequested_call")]
    assert backend.calls == 1


# --------------------------------------------------------------------------- no LLM


def test_deterministic_audit_runs_without_llm(release, tmp_path: Path) -> None:
    (tmp_path / "judgements.jsonl").write_text("stale\n")
    assert run.main(release.version, tmp_path, entry_ids=[BASE_1]) == 0
    report = json.loads((tmp_path / "audit.json").read_text())
    ids = sorted(f["id"] for f in report["findings"])
    assert ids == sorted(f.id for f in audit_trajectories(release, entry_ids=[BASE_1]))
    assert not any(i.startswith("trajectory.judge_unsupported") for i in ids)
    assert not (tmp_path / "judgements.jsonl").exists()
    assert "Judged items" not in (tmp_path / "audit.md").read_text()


# --------------------------------------------------------------------------- pluggable backend


@pytest.fixture(scope="module")
def _openai() -> Iterator[tuple[str, Fake]]:
    fake = Fake(OPENAI_KEY)
    with serving(openai_app(fake)) as url:
        yield url, fake


@pytest.fixture
def oai(_openai: tuple[str, Fake], monkeypatch: pytest.MonkeyPatch) -> tuple[str, Fake]:
    _openai[1].reset()
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    return _openai


def canned(quote: str, supported: bool, reasoning: str) -> Canned:
    return Canned(text=json.dumps({"quote": quote, "reasoning": reasoning,
                                   "supported": supported}))


def test_cli_judge_through_openai_compatible_server(
    release, oai: tuple[str, Fake], tmp_path: Path
) -> None:
    url, fake = oai
    spec = f"openai:judge-test@{url}/v1"
    out = tmp_path / "audit"
    argv = ["bfcl", "audit", "--release", release.version, "--entries", BASE_1,
            "--llm", spec, "--llm-limit", "2", "--out", str(out)]
    # Judged order: turn 1 (writes state) first, then the read-only turns in turn order.
    fake.script(canned(MOVE, False, "canned: the call moves a file, test reply"),
                canned("list all the visible and hidden contents", True, "canned: ls -a"))
    assert cli(argv) == 0
    assert len(fake.served) == 2
    body = fake.served[0].body
    assert body["model"] == "judge-test" and MOVE in body["messages"][-1]["content"]
    report = json.loads((out / "audit.json").read_text())
    [finding] = [f for f in report["findings"] if f["check"] == "trajectory.judge_unsupported"]
    assert finding["id"] == f"trajectory.judge_unsupported:{BASE_1}:t1"
    assert f'quote: "{MOVE}"' in finding["evidence"]["judge"]
    records = read_judgements(out / "judgements.jsonl")
    assert [(r.turn, r.verdict, r.model, r.model_calls) for r in records] == [
        (1, "unsupported", spec, 1), (0, "supported", spec, 1)]
    assert all(r.cache_key and len(r.cache_key) == 64 for r in records)
    md = (out / "audit.md").read_text()
    assert "## Judged items (LLM judge)" in md
    assert "2 turns judged (2 distinct questions): 1 supported, 1 unsupported, 0 undecided" in md
    assert "Judged items" in (out / "audit.html").read_text()
    assert (out / "judge-cache.sqlite").is_file()

    # A re-run is served by the cache: no request reaches the server, same verdicts.
    fake.reset()
    assert cli(argv) == 0
    assert fake.requests == []
    again = read_judgements(out / "judgements.jsonl")
    assert [r.model_dump(exclude={"model_calls"}) for r in again] == [
        r.model_dump(exclude={"model_calls"}) for r in records]
    assert [r.model_calls for r in again] == [0, 0]


def test_model_error_is_undecided_and_asked_again(
    release, oai: tuple[str, Fake], tmp_path: Path
) -> None:
    url, fake = oai
    cache = tmp_path / "shared-cache.sqlite"
    argv = ["bfcl", "audit", "--release", release.version, "--entries", BASE_1,
            "--llm", f"openai:judge-test@{url}", "--llm-limit", "1",
            "--llm-cache", str(cache), "--out", str(tmp_path / "out")]
    fake.fail_next(1, 400, message="scripted: bad request")
    assert cli(argv) == 0
    [record] = read_judgements(tmp_path / "out" / "judgements.jsonl")
    assert record.verdict == "undecided" and "scripted: bad request" in record.error
    report = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert not [f for f in report["findings"] if f["check"] == "trajectory.judge_unsupported"]
    assert "1 undecided" in (tmp_path / "out" / "audit.md").read_text()
    # An error is not cached: the next run asks the model again.
    fake.script(canned(MOVE, True, "canned: test reply"))
    assert cli(argv) == 0
    assert [r.verdict for r in read_judgements(tmp_path / "out" / "judgements.jsonl")] == [
        "supported"]
    assert cache.is_file() and not (tmp_path / "out" / "judge-cache.sqlite").exists()


def test_cli_rejects_budget_without_judge(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(["bfcl", "audit", "--llm-limit", "3", "--out", str(tmp_path)]) == 2
    assert "need --llm" in capsys.readouterr().err
