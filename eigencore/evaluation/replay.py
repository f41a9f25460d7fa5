"""Transcript replay: a model adapter that replays a stored run's assistant steps verbatim.

At every step it first checks that what the harness gives it is exactly what the original
model was given at that step: the conversation so far (system prompt, user messages, its own
earlier replies, every tool result and error flag) and the tools offered (names, order, and
each tool's description and schema by digest). Only then does it return the recorded step.
At the first difference it stops the task with a `Diverged` reason saying where and what.

So a task the replay finishes got, at every step, the inputs the model had: a model that
decodes deterministically (greedy) would have produced this same trajectory, and scoring it
against a new reference is sound. A diverged task needs a real re-run. Sampled decoding
gives no such guarantee: the replay reproduces one draw, not what a new draw would do.

Old transcripts (before tool digests were recorded) are checked on tool names only, and an
errored turn's tool list is unknown there; `schemas_checked` says which case applied.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from clients.models.base import Message, Reply, TaskContext, ToolDef, Usage
from eigencore.evaluation.harness import Transcript, tool_digest

Lookup = Callable[[str, int], Transcript | None]
"""(task id, sample) -> the stored transcript, None when the run has none."""


class Diverged(Exception):
    """The harness gave the replay an input the original model did not see."""

    def __init__(self, turn: int, step: int, what: str):
        super().__init__(f"turn {turn} step {step}: {what}")
        self.turn, self.step, self.what = turn, step, what


class ReplayedError(Exception):
    """The original run ended with this error at a point whose inputs were identical."""


def _short(value: Any, n: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= n else text[: n - 1] + "…"


def _changed(was: Any, now: Any, n: int = 120) -> str:
    """`was` and `now` shown from a little before their first difference (long texts that
    differ late would otherwise look equal once shortened)."""
    if isinstance(was, str) and isinstance(now, str):
        same = next((i for i, (a, b) in enumerate(zip(was, now, strict=False)) if a != b),
                    min(len(was), len(now)))
        start = max(0, same - 30)
        lead = "…" if start else ""
        return (f"was {lead + _short(was[start:], n)!r}, "
                f"now {lead + _short(now[start:], n)!r}")
    return f"was {_short(was)!r}, now {_short(now)!r}"


def _describe(messages: list[Message], i: int) -> str:
    m = messages[i]
    if m.role != "tool":
        return f"#{i}, {m.role}"
    name = next((c.name for prev in reversed(messages[:i]) for c in prev.tool_calls
                 if c.id == m.tool_call_id), "?")
    return f"#{i}, result of {name} call {m.tool_call_id}"


def first_difference(got: list[Message], want: list[Message]) -> str | None:
    """Where and how `got` differs from `want` (None when equal), readable in one line."""
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        gd, wd = g.model_dump(mode="json"), w.model_dump(mode="json")
        if gd != wd:
            fields = "; ".join(f"{k} {_changed(wd[k], gd.get(k))}"
                               for k in wd if gd.get(k) != wd[k])
            return f"message {_describe(want, i)} differs: {fields}"
    if len(got) > len(want):
        return (f"message {_describe(got, len(want))} was not in the original conversation "
                f"here: {_short(got[len(want)].content)!r}")
    if len(got) < len(want):
        return (f"the original conversation had message {_describe(want, len(got))} here: "
                f"{_short(want[len(got)].content)!r}")
    return None


class TranscriptReplay:
    """Replays stored transcripts (one adapter per worker, like every scripted adapter).

    After a task, `diverged` holds the reason the replay stopped (None: reproduced) and
    `schemas_checked` whether tool schemas could be compared (False for old transcripts).
    """

    def __init__(self, lookup: Lookup, name: str = "transcript-replay"):
        self.lookup = lookup
        self.name = name
        self.original: Transcript | None = None
        self.positions: list[int] = []
        self.next = 0
        self.diverged: str | None = None
        self.schemas_checked = True

    async def start(self, task: TaskContext) -> None:
        self.original = self.lookup(task.task_id, task.sample)
        msgs = self.original.messages if self.original else []
        # The k-th assistant message is the k-th step; what precedes it is what the model saw.
        self.positions = [i for i, m in enumerate(msgs) if m.role == "assistant"]
        self.next = 0
        self.diverged = None
        self.schemas_checked = True

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        try:
            return self._respond(messages, tools, turn, step)
        except Diverged as d:
            self.diverged = str(d)
            raise

    def _respond(self, messages: list[Message], tools: list[ToolDef], turn: int,
                 step: int) -> Reply:
        orig = self.original
        if orig is None:
            raise Diverged(turn, step, "the original run has no transcript of this sample")
        self._check_tools(orig, tools, turn, step)
        if self.next < len(self.positions):
            at = self.positions[self.next]
            if (diff := first_difference(messages, orig.messages[:at])) is not None:
                raise Diverged(turn, step, diff)
            self.next += 1
            recorded = orig.messages[at]
            return Reply(text=recorded.content,
                         tool_calls=[c.model_copy(deep=True) for c in recorded.tool_calls],
                         usage=self._usage(orig, turn, step))
        if (diff := first_difference(messages, orig.messages)) is not None:
            raise Diverged(turn, step, diff)
        if orig.error:
            # Same inputs as when the original failed (e.g. a prompt over the context
            # window): the failure is part of the model's record, as in the original run.
            raise ReplayedError(orig.error)
        raise Diverged(turn, step, "the original run took no further step here")

    def _check_tools(self, orig: Transcript, tools: list[ToolDef], turn: int,
                     step: int) -> None:
        names = [t.name for t in tools]
        if orig.offered:
            if turn >= len(orig.offered):
                raise Diverged(turn, step, "the original run never reached this turn")
            want = orig.offered[turn]
            if names != want:
                raise Diverged(turn, step, _tool_list_difference(names, want))
        elif turn < len(orig.turns):  # an old transcript: sorted names per finished turn
            want = orig.turns[turn].tools
            if sorted(names) != want:
                raise Diverged(turn, step, _tool_list_difference(sorted(names), want))
        else:
            raise Diverged(turn, step, "the original run recorded no tool list for this turn"
                           + (f" (it ended with: {_short(orig.error)})" if orig.error else ""))
        if not orig.tool_digests:
            self.schemas_checked = False
            return
        for t in tools:
            if tool_digest(t) != orig.tool_digests.get(t.name):
                raise Diverged(turn, step, f"tool {t.name!r} is offered with another "
                               "description or input schema than the original model saw")

    @staticmethod
    def _usage(orig: Transcript, turn: int, step: int) -> Usage:
        # The recorded cost of producing this step (zero where the record has none).
        if turn < len(orig.turns) and step < len(orig.turns[turn].steps):
            return orig.turns[turn].steps[step].usage
        return Usage()


def _tool_list_difference(got: list[str], want: list[str]) -> str:
    extra, missing = sorted(set(got) - set(want)), sorted(set(want) - set(got))
    parts = ([f"now offered {extra}"] if extra else []) + (
        [f"no longer offered {missing}"] if missing else [])
    return "tools offered differ: " + ("; ".join(parts) or "same tools in another order")
