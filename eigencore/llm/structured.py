"""One interface for the agents: plain completions and pydantic-validated structured outputs.

A structured request asks for one JSON object matching the model's schema; an answer that
does not parse or validate is sent back with the validation error and retried, up to a
budget. Every exchange goes through the response cache and is counted (tokens, cost).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from clients.models.base import (
    Message,
    ModelAdapter,
    ModelError,
    Reply,
    Sampling,
    TaskContext,
    ToolDef,
    Usage,
)
from eigencore.llm.cache import ResponseCache, request_key

T = TypeVar("T", bound=BaseModel)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class StructuredOutputError(Exception):
    """The model never produced a valid object within the retry budget."""

    def __init__(self, message: str, attempts: list[str]):
        super().__init__(message)
        self.attempts = attempts


@dataclass
class Accounting:
    calls: int = 0
    cached: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0


def extract_json(text: str) -> str:
    """The JSON object in a reply: inside a code fence, or from the first `{` to the last `}`."""
    m = _FENCE.search(text)
    if m:
        text = m.group(1)
    start, end = text.find("{"), text.rfind("}")
    return text[start:end + 1] if start != -1 and end > start else text.strip()


class LLM:
    def __init__(self, adapter: ModelAdapter, *, cache: ResponseCache | None = None,
                 replay_only: bool = False, retries: int = 2,
                 price_per_mtok: tuple[float, float] = (0.0, 0.0)):
        self.adapter = adapter
        self.cache = cache
        self.replay_only = replay_only
        """Serve from the cache only (a recorded run replayed offline); a miss is an error."""
        self.retries = retries
        self.price_per_mtok = price_per_mtok
        self.accounting = Accounting()

    async def complete(self, messages: list[Message], tools: list[ToolDef] | None = None, *,
                       sampling: Sampling | None = None, max_tokens: int | None = None
                       ) -> Reply:
        """One exchange: from the cache when recorded, else from the adapter (counted and
        recorded). `sampling` overrides the adapter's decoding and `max_tokens` caps the
        reply for this request; both are part of the cache key when given."""
        tools = tools or []
        params: dict[str, object] = {}
        if sampling is not None:
            params["sampling"] = sampling.model_dump()
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        key = request_key(self.adapter.name, messages, tools, params or None)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.accounting.cached += 1
                return hit
        if self.replay_only:
            raise ModelError(f"no recorded response for this request (key {key[:12]}) in "
                             f"{self.cache.path if self.cache else 'the cache'}")
        await self.adapter.start(TaskContext(task_id="llm", sampling=sampling,
                                             max_tokens=max_tokens))
        reply = await self.adapter.respond(messages, tools, turn=0, step=0)
        self.accounting.calls += 1
        self.accounting.usage = self.accounting.usage + reply.usage
        pin, pout = self.price_per_mtok
        self.accounting.cost_usd += (reply.usage.input_tokens * pin
                                     + reply.usage.output_tokens * pout) / 1e6
        if self.cache is not None:
            self.cache.put(key, self.adapter.name, messages, reply)
        return reply

    async def structured(self, prompt: str, schema: type[T], *, system: str | None = None,
                         sampling: Sampling | None = None) -> T:
        instructions = (
            f"Answer with one JSON object, and nothing else, that validates against this "
            f"JSON Schema:\n{json.dumps(schema.model_json_schema())}"
        )
        messages = [Message(role="system", content="\n\n".join(filter(None, [system,
                                                                            instructions])))]
        messages.append(Message(role="user", content=prompt))
        attempts: list[str] = []
        for _ in range(self.retries + 1):
            reply = await self.complete(messages, sampling=sampling)
            attempts.append(reply.text)
            try:
                return schema.model_validate_json(extract_json(reply.text))
            except ValidationError as e:
                problem = str(e)
            messages = [*messages, Message(role="assistant", content=reply.text),
                        Message(role="user", content=(
                            "That answer is not valid:\n" + problem
                            + "\nReply again with only the corrected JSON object."))]
        raise StructuredOutputError(
            f"no valid {schema.__name__} after {len(attempts)} attempts", attempts)
