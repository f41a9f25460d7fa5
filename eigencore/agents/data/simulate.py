"""Trajectory synthesis: a simulated user talks to an assistant that acts through MCP.

The rollout harness does the acting (isolated episode, tools shown per turn, calls through
MCP, per-turn diffs); this module adds the two things a fixed task script lacks:

- `AssistantModel`, a `ModelAdapter` around the assistant LLM that caches its replies like
  the LLM layer does (a rerun of a round costs nothing) and, whenever the assistant ends a
  turn, hands the conversation to the turn driver;
- `TurnDriver`, which decides the next user message: the task's next request verbatim, a
  reply written by the user simulator (answering a question, revealing held-back
  information only when asked), BFCL's "more functions" turn, or nothing (the user is
  satisfied). It appends that turn to the live task the harness is iterating over, so the
  harness runs it like any scripted turn.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from clients.models.base import Message, ModelAdapter, Reply, TaskContext, ToolDef
from eigencore.evaluation.harness import MAX_STEPS, Target, Transcript, rollout
from eigencore.evaluation.task import Task, Turn
from eigencore.llm.cache import ResponseCache, request_key
from eigencore.llm.structured import LLM
from servers.transports import ADMIN_NAMESPACE

TurnEndHook = Callable[[list[Message], Reply], Awaitable[None]]


class AssistantModel:
    """The assistant under synthesis: an adapter with caching, accounting and a turn hook."""

    def __init__(self, adapter: ModelAdapter, *, cache: ResponseCache | None = None,
                 on_turn_end: TurnEndHook | None = None):
        self.adapter = adapter
        self.cache = cache
        self.on_turn_end = on_turn_end
        self.name = adapter.name
        self.calls = 0
        self.cached = 0

    async def start(self, task: TaskContext) -> None:
        await self.adapter.start(task)

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        key = request_key(self.adapter.name, messages, tools)
        reply = self.cache.get(key) if self.cache is not None else None
        if reply is None:
            reply = await self.adapter.respond(messages, tools, turn=turn, step=step)
            self.calls += 1
            if self.cache is not None:
                self.cache.put(key, self.adapter.name, messages, reply)
        else:
            self.cached += 1
        if not reply.tool_calls and self.on_turn_end is not None:
            said = Message(role="assistant", content=reply.text)
            await self.on_turn_end([*messages, said], reply)
        return reply


class UserMove(BaseModel):
    reasoning: str = Field("", description="one sentence: what the assistant just did")
    action: Literal["answer", "next", "done"] = Field(
        description="answer: reply to the assistant's question or correct it; next: this "
                    "request is handled, go on to the next one; done: everything you wanted "
                    "is handled (or cannot be)")
    message: str = Field("", description="for answer: your reply, as the user")


SIMULATOR_SYSTEM = (
    "You play a user talking to an assistant that uses tools on your behalf. Stay in "
    "character: say only what this user would say, in one or two short sentences."
)

SIMULATOR_INSTRUCTION = (
    "Decide your next move. If the assistant asked you something, answer it; give held-back "
    "information only if the assistant asked for it, and then say exactly that value. If the "
    "assistant handled your current request, choose `next` (or `done` after your last one). "
    "Never make up identifiers and never do the assistant's work."
)


def conversation_text(messages: list[Message]) -> str:
    """What the user saw: their own messages and the assistant's words (no tool traffic)."""
    lines = []
    for m in messages:
        if m.role == "user":
            lines.append(f"USER: {m.content}")
        elif m.role == "assistant" and m.content.strip():
            lines.append(f"ASSISTANT: {m.content.strip()}")
    return "\n".join(lines)


class UserSimulator:
    """An LLM playing the task's user; the task decides what they want and hold back."""

    def __init__(self, llm: LLM, instruction: str = SIMULATOR_INSTRUCTION):
        self.llm = llm
        self.instruction = instruction

    def prompt(self, task: Task, request: str, messages: list[Message],
               held_back: dict[str, Any] | None, last_request: bool) -> str:
        last = next((m.content for m in reversed(messages) if m.role == "assistant"), "")
        return "\n".join([
            "## Instructions", self.instruction, "",
            "## Your overall goal", str(task.meta.get("goal", "")), "",
            "## Your current request", request,
            "(this is your last request)" if last_request else "(more requests follow)", "",
            "## Held-back information",
            json.dumps(held_back) if held_back else "none", "",
            "## Conversation so far", conversation_text(messages), "",
            "## Assistant's last reply", last or "(nothing)",
        ])

    async def move(self, task: Task, request: str, messages: list[Message],
                   held_back: dict[str, Any] | None, last_request: bool) -> UserMove:
        return await self.llm.structured(
            self.prompt(task, request, messages, held_back, last_request), UserMove,
            system=SIMULATOR_SYSTEM)


class MoveRecord(BaseModel):
    after_turn: int
    action: str
    message: str = ""
    reasoning: str = ""
    stage: int


class TurnDriver:
    """Feeds the harness one turn at a time from the task script and the user simulator.

    Stages are the task's (static) turns; `stage_of_turn[h]` says which stage harness turn h
    served. Roles (`task.meta["turn_roles"]`): `request` turns are sent verbatim, a `reveal`
    turn is the simulator's answer once the assistant asks, a `tool_added` turn is BFCL's
    "more functions" message with its tools.
    """

    def __init__(self, task: Task, simulator: UserSimulator, *, max_replies_per_stage: int = 2):
        self.script = task
        self.roles: list[str] = list(task.meta.get("turn_roles") or
                                     ["request"] * len(task.turns))
        self.simulator = simulator
        self.max_replies = max_replies_per_stage
        self.live = task.model_copy(deep=True)
        self.live.turns = [self.live.turns[0]]
        self.stage_of_turn = [0]
        self.moves: list[MoveRecord] = []
        self.stage = 0
        self.replies_in_stage = 0
        self.finished = False
        """True once every stage was sent and the user is satisfied (or said done)."""

    def _append(self, turn: Turn, stage: int) -> None:
        # The harness iterates over this very list, so the new turn runs next.
        self.live.turns.append(turn)
        self.stage_of_turn.append(stage)

    def _request_text(self, stage: int) -> str:
        # The request a reveal or a tool turn belongs to is the one before it.
        while stage > 0 and self.roles[stage] != "request":
            stage -= 1
        return " ".join(str(m.get("content", "")) for m in self.script.turns[stage].messages)

    def _next_request_stage(self) -> int | None:
        nxt = self.stage + 1
        while nxt < len(self.roles) and self.roles[nxt] == "reveal":
            nxt += 1  # a reveal nobody asked for is skipped, never volunteered
        return nxt if nxt < len(self.roles) else None

    async def on_turn_end(self, messages: list[Message], reply: Reply) -> None:
        after = len(self.live.turns) - 1
        nxt = self.stage + 1
        if nxt < len(self.roles) and self.roles[nxt] == "tool_added":
            self.moves.append(MoveRecord(after_turn=after, action="next", stage=nxt))
            self._advance(nxt)
            return
        pending = self.script.meta.get("held_back") if (
            nxt < len(self.roles) and self.roles[nxt] == "reveal") else None
        following = self._next_request_stage()
        move = await self.simulator.move(self.script, self._request_text(self.stage), messages,
                                         pending, last_request=following is None)
        self.moves.append(MoveRecord(after_turn=after, action=move.action, message=move.message,
                                     reasoning=move.reasoning, stage=self.stage))
        if move.action == "answer" and move.message.strip():
            if pending is not None:
                self.stage = nxt
                self.replies_in_stage = 0
                self._append(Turn(messages=[{"role": "user", "content": move.message}]), nxt)
            elif self.replies_in_stage < self.max_replies:
                self.replies_in_stage += 1
                self._append(Turn(messages=[{"role": "user", "content": move.message}]),
                             self.stage)
            return
        if move.action == "done" or following is None:
            self.finished = following is None
            return
        self._advance(following)

    def _advance(self, stage: int) -> None:
        self.stage = stage
        self.replies_in_stage = 0
        turn = self.script.turns[stage].model_copy(deep=True)
        self._append(Turn(messages=turn.messages, added_tools=turn.added_tools), stage)


class Dialogue(BaseModel):
    """A synthesized conversation: the harness transcript plus how it maps onto the task."""

    task_id: str
    transcript: Transcript
    stage_of_turn: list[int]
    moves: list[MoveRecord] = Field(default_factory=list)
    finished: bool = False
    stages_sent: list[int] = Field(default_factory=list)


async def synthesize(task: Task, assistant: ModelAdapter, simulator: UserSimulator, *,
                     target: Target | None = None, cache: ResponseCache | None = None,
                     max_steps: int = MAX_STEPS) -> Dialogue:
    """Run the assistant on `task` with the simulator playing the user."""
    driver = TurnDriver(task, simulator)
    model = AssistantModel(assistant, cache=cache, on_turn_end=driver.on_turn_end)
    transcript = await rollout(driver.live, model, target, max_steps=max_steps)
    if transcript.error is None and len(transcript.turns) != len(driver.live.turns):
        # The harness must pick up turns appended while it runs; if it ever stops doing so
        # this is where it shows, not as silently truncated data.
        transcript.error = (f"the harness ran {len(transcript.turns)} of "
                            f"{len(driver.live.turns)} turns")
    return Dialogue(task_id=task.id, transcript=transcript, stage_of_turn=driver.stage_of_turn,
                    moves=driver.moves, finished=driver.finished,
                    stages_sent=sorted(set(driver.stage_of_turn)))


async def list_tool_defs(domains: list[str], namespaced: bool = False,
                         target: Target | None = None) -> list[ToolDef]:
    """The tools exactly as the assistant is shown them (MCP listing, admin tools hidden)."""
    probe = Task(id="tool-listing", suite="synth", domains=domains, turns=[],
                 namespaced=namespaced)
    async with (target or Target()).connect(probe) as (agent, _admin):
        listed = await agent.list_tools()
    return [ToolDef(name=t.name, description=t.description or "", input_schema=t.input_schema)
            for t in listed if not t.name.startswith(f"{ADMIN_NAMESPACE}_")]
