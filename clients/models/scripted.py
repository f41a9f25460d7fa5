"""Scripted baselines and replays: `oracle` (plays the reference), `noop` (does nothing), and
`replay` of a recorded result file in BFCL's format. They need no model and are exact, which
makes them the fixed points of every metric: the oracle must pass sound tasks, the do-nothing
agent must fail tasks that owe a change or information."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clients.models.base import Message, Reply, TaskContext, ToolCall, ToolDef
from eigencore.bfcl.calls import Call, CallParseError, parse_call, parse_calls


def to_tool_call(call: Call, tools: list[ToolDef], ident: str) -> ToolCall:
    """A parsed call as a tool call; positional arguments take the schema's parameter order."""
    args = dict(call.kwargs)
    if call.args:
        tool = next((t for t in tools if t.name == call.name), None)
        names = list((tool.input_schema.get("properties") or {}) if tool else {})
        for name, value in zip(names, call.args, strict=False):
            args.setdefault(name, value)
    return ToolCall(id=ident, name=call.name, arguments=args)


def _results_summary(messages: list[Message]) -> str:
    """The tool results since the last user message, as the oracle's reply to the user."""
    results: list[str] = []
    for m in reversed(messages):
        if m.role == "user":
            break
        if m.role == "tool":
            results.append(m.content)
    return "Done. Results: " + " | ".join(reversed(results)) if results else "Done."


class OracleAdapter:
    """Plays the task's reference calls, one turn at a time, then reports their results."""

    name = "oracle"

    def __init__(self) -> None:
        self.reference: list[list[str]] = []

    async def start(self, task: TaskContext) -> None:
        self.reference = task.reference

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        calls = self.reference[turn] if turn < len(self.reference) else []
        if step == 0 and calls:
            return Reply(tool_calls=[to_tool_call(parse_call(c), tools, f"t{turn}s{step}c{i}")
                                     for i, c in enumerate(calls)])
        return Reply(text=_results_summary(messages))


class NoopAdapter:
    """Answers every turn without acting: the floor every metric must reject."""

    name = "noop"

    async def start(self, task: TaskContext) -> None:
        return None

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        return Reply(text="Sorry, I can't help with that.")


def _decode_step(step: Any) -> list[Call]:
    """One recorded step: a list of `{name: args}` objects or call strings, or one string."""
    if isinstance(step, str):
        text = step.strip()
        return parse_calls(text) if text.startswith("[") else [parse_call(text)] if text else []
    if isinstance(step, dict):
        step = [step]
    calls: list[Call] = []
    for item in step or []:
        if isinstance(item, str):
            calls.append(parse_call(item))
        elif isinstance(item, dict):
            calls.extend(Call.from_json_obj({k: v}) for k, v in item.items())
        else:
            raise CallParseError(f"a recorded call must be a string or an object, got {item!r}")
    return calls


def load_result_file(path: str | Path) -> dict[str, list[list[list[Call]]]]:
    """A BFCL result file (JSONL with `id` and `result`: turns -> steps -> calls), decoded."""
    out: dict[str, list[list[list[Call]]]] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        result = record["result"]
        if isinstance(result, str):
            result = json.loads(result)
        try:
            out[record["id"]] = [[_decode_step(step) for step in turn] for turn in result]
        except CallParseError as e:
            raise CallParseError(f"{path}:{n} ({record['id']}): {e}") from e
    return out


class ReplayAdapter:
    """Replays recorded calls per turn and step.

    A BFCL result file has no prose, so when a turn's recorded calls run out the replay ends
    the turn by relaying that turn's tool results to the user verbatim: information counts as
    given exactly when the recorded calls surfaced it.
    """

    name = "replay"

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.records = load_result_file(path)
        self.current: list[list[list[Call]]] = []

    async def start(self, task: TaskContext) -> None:
        self.current = self.records.get(task.task_id, [])

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        # An empty recorded step carries no call; the turn ends when the calls run out.
        steps = [s for s in self.current[turn] if s] if turn < len(self.current) else []
        if step >= len(steps):
            return Reply(text=_results_summary(messages))
        return Reply(tool_calls=[to_tool_call(c, tools, f"t{turn}s{step}c{i}")
                                 for i, c in enumerate(steps[step])])
