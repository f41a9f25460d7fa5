"""The LLM layer with a scripted backend: validation feedback, retries, cache, accounting."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from pydantic import BaseModel

from clients.models.base import Message, Reply, Sampling, TaskContext, ToolDef, Usage
from eigencore.llm.cache import ResponseCache
from eigencore.llm.structured import LLM, StructuredOutputError, extract_json


class Table(BaseModel):
    name: str
    columns: list[str]


class Scripted:
    """Answers with the given texts in order, recording what it was asked (labelled
    scripted: these are fixtures, not model output)."""

    name = "scripted:test"

    def __init__(self, texts: list[str]):
        self.texts = list(texts)
        self.seen: list[list[Message]] = []

    async def start(self, task: TaskContext) -> None:
        return None

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        self.seen.append(list(messages))
        return Reply(text=self.texts.pop(0), usage=Usage(input_tokens=100, output_tokens=20))


def test_invalid_output_is_fed_back_and_retried() -> None:
    backend = Scripted(['{"name": "orders"}',
                        '```json\n{"name": "orders", "columns": ["id"]}\n```'])
    llm = LLM(backend, price_per_mtok=(3.0, 15.0))
    table = anyio.run(lambda: llm.structured("Design the orders table.", Table))
    assert table == Table(name="orders", columns=["id"])
    feedback = backend.seen[1][-1].content
    assert "columns" in feedback and "Field required" in feedback  # the validation error
    assert llm.accounting.calls == 2 and llm.accounting.usage.input_tokens == 200
    assert llm.accounting.cost_usd == pytest.approx((200 * 3 + 40 * 15) / 1e6)


def test_gives_up_after_the_budget() -> None:
    llm = LLM(Scripted(["nope", "still no", "no"]), retries=2)
    with pytest.raises(StructuredOutputError) as e:
        anyio.run(lambda: llm.structured("x", Table))
    assert len(e.value.attempts) == 3


def test_cache_makes_reruns_free_and_replays_offline(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "llm.db")
    first = LLM(Scripted(['{"name": "t", "columns": []}']), cache=cache)
    anyio.run(lambda: first.structured("make t", Table))
    replay = LLM(Scripted([]), cache=ResponseCache(tmp_path / "llm.db"), replay_only=True)
    assert anyio.run(lambda: replay.structured("make t", Table)).name == "t"
    assert replay.accounting.calls == 0 and replay.accounting.cached == 1
    with pytest.raises(Exception, match="no recorded response"):
        anyio.run(lambda: replay.structured("something else", Table))


def test_a_sampled_request_is_its_own_exchange(tmp_path: Path) -> None:
    seen: list[Sampling | None] = []
    caps: list[int | None] = []

    class Recording(Scripted):
        async def start(self, task: TaskContext) -> None:
            seen.append(task.sampling)
            caps.append(task.max_tokens)

    llm = LLM(Recording(["greedy", "sampled", "capped"]),
              cache=ResponseCache(tmp_path / "llm.db"))
    ask = [Message(role="user", content="x")]
    assert anyio.run(lambda: llm.complete(ask)).text == "greedy"
    hot = Sampling(temperature=0.8, seed=1)
    assert anyio.run(lambda: llm.complete(ask, sampling=hot)).text == "sampled"
    assert anyio.run(lambda: llm.complete(ask, max_tokens=99)).text == "capped"
    assert seen == [None, hot, None] and caps == [None, None, 99]
    # Both are recorded under their own keys and replay offline.
    replay = LLM(Scripted([]), cache=ResponseCache(tmp_path / "llm.db"), replay_only=True)
    assert anyio.run(lambda: replay.complete(ask, sampling=hot)).text == "sampled"
    assert anyio.run(lambda: replay.complete(ask)).text == "greedy"
    assert anyio.run(lambda: replay.complete(ask, max_tokens=99)).text == "capped"


def test_extract_json() -> None:
    assert extract_json('Sure! {"a": 1} hope that helps') == '{"a": 1}'
    assert extract_json("```json\n{\"a\": 2}\n```") == '{"a": 2}'
