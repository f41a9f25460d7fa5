"""Anthropic Messages API adapter over the official `anthropic` SDK.

Conversion rules (neutral → wire):
- every `system` message is hoisted into the top-level `system=` (joined by blank lines), in
  order, wherever it appeared: the Messages API has no system role inside `messages`;
- an assistant message becomes `text` (when it has non-blank text) + `tool_use` blocks;
- the `tool` messages that follow become ONE user message of `tool_result` blocks, and any user
  text after them joins that same message (after the results, which the API wants first);
- consecutive messages of one role are merged, so roles always alternate; an assistant message
  with neither text nor calls carries nothing and is dropped;
- tool-call ids are kept when they match the API's `^[a-zA-Z0-9_-]+$`, otherwise rewritten the
  same way for the `tool_use` and its `tool_result` (ids made by other adapters stay usable).

Thinking blocks a model returns next to `tool_use` must be sent back unchanged in that
assistant message; neutral messages cannot hold them, so the adapter remembers them by
tool-use id until the next `start()`.

SDK 2.14 has no `temperature` parameter anywhere, so `temperature` defaults to None (not sent)
and, when set, goes in `extra_body`.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

import anthropic
from anthropic.types import Message as WireMessage

from clients.models.base import (
    Message,
    ModelError,
    Reply,
    Sampling,
    TaskContext,
    ToolCall,
    ToolDef,
    Usage,
)
from clients.models.retry import RateLimited, parse_retry_after

_ID_OK = re.compile(r"^[a-zA-Z0-9_-]{1,256}$")
_THINKING_TYPES = ("thinking", "redacted_thinking")


def wire_id(call_id: str) -> str:
    """A tool-use id the API accepts, stable for the same input."""
    if _ID_OK.match(call_id):
        return call_id
    digest = hashlib.sha1(call_id.encode()).hexdigest()[:8]
    return f"{re.sub(r'[^a-zA-Z0-9_-]', '_', call_id)[:200]}_{digest}"


def to_anthropic(messages: list[Message],
                 thinking: dict[str, list[dict[str, Any]]] | None = None
                 ) -> tuple[str | None, list[dict[str, Any]]]:
    """Neutral messages → (`system`, `messages`) for `messages.create`."""
    system: list[str] = []
    out: list[dict[str, Any]] = []

    def push(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if out and out[-1]["role"] == role:
            prev = out[-1]["content"]
            if role == "user" and blocks[0]["type"] == "tool_result":
                # tool_result blocks must lead the user message: put new results after the
                # earlier results but before any text already there.
                n = sum(1 for b in prev if b["type"] == "tool_result")
                prev[n:n] = blocks
            else:
                prev.extend(blocks)
        else:
            out.append({"role": role, "content": list(blocks)})

    for m in messages:
        if m.role == "system":
            if m.content.strip():
                system.append(m.content)
        elif m.role == "user":
            if m.content.strip():
                push("user", [{"type": "text", "text": m.content}])
        elif m.role == "assistant":
            blocks: list[dict[str, Any]] = []
            if thinking and m.tool_calls:
                blocks.extend(thinking.get(m.tool_calls[0].id, []))
            if m.content.strip():
                blocks.append({"type": "text", "text": m.content})
            for c in m.tool_calls:
                blocks.append({"type": "tool_use", "id": wire_id(c.id), "name": c.name,
                               "input": c.arguments})
            push("assistant", blocks)
        else:  # tool
            result: dict[str, Any] = {"type": "tool_result",
                                      "tool_use_id": wire_id(m.tool_call_id or "")}
            if m.content:
                result["content"] = m.content
            if m.is_error:
                result["is_error"] = True
            push("user", [result])
    return ("\n\n".join(system) or None), out


def to_tools(tools: list[ToolDef]) -> list[dict[str, Any]]:
    out = []
    for t in tools:
        d: dict[str, Any] = {"name": t.name, "input_schema": t.input_schema}
        if t.description:
            d["description"] = t.description
        out.append(d)
    return out


def from_anthropic(msg: WireMessage) -> tuple[Reply, list[dict[str, Any]]]:
    """Response → (Reply, thinking blocks to echo back with its tool calls)."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[dict[str, Any]] = []
    for block in msg.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            args = block.input if isinstance(block.input, dict) else {"input": block.input}
            calls.append(ToolCall(id=block.id, name=block.name, arguments=args))
        elif block.type in _THINKING_TYPES:
            thinking.append(block.model_dump(mode="json", exclude_none=True))
    u = msg.usage
    # input_tokens excludes cached prompt tokens; the prompt the model read is the sum.
    usage = Usage(input_tokens=u.input_tokens + (u.cache_creation_input_tokens or 0)
                  + (u.cache_read_input_tokens or 0), output_tokens=u.output_tokens)
    reply = Reply(text="\n".join(t for t in texts if t), tool_calls=calls, usage=usage,
                  stop_reason=msg.stop_reason)
    return reply, thinking


def map_error(err: anthropic.AnthropicError) -> ModelError:
    """SDK exception → ModelError, retryable only for transient failures."""
    if isinstance(err, anthropic.APITimeoutError):
        return ModelError(f"anthropic: request timed out ({err.request.url})", retryable=True)
    if isinstance(err, anthropic.APIConnectionError):
        return ModelError(f"anthropic: connection error: {err}", retryable=True)
    if isinstance(err, anthropic.APIStatusError):
        status = err.status_code
        detail = err.api_message or str(err.body or err.message)
        kind = f" {err.type}" if err.type else ""
        text = f"anthropic: HTTP {status}{kind}: {detail}"
        if status == 429:
            return RateLimited(text, retry_after=parse_retry_after(err.response.headers))
        if status >= 500 or status == 408:
            # 500/502/503/504 and 529 overloaded: the service's problem, worth another try.
            hint = parse_retry_after(err.response.headers)
            if hint is not None:
                return RateLimited(text, retry_after=hint, status=status)
            return ModelError(text, retryable=True)
        return ModelError(text, retryable=False)
    return ModelError(f"anthropic: {type(err).__name__}: {err}", retryable=False)


class AnthropicAdapter:
    """A Claude model over the Messages API. Retries are left to `RetryingAdapter`."""

    def __init__(self, model: str, *, api_key: str | None = None, base_url: str | None = None,
                 max_tokens: int = 1024, temperature: float | None = None,
                 timeout: float = 60):
        key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise ModelError("Anthropic API key missing: pass api_key= or set ANTHROPIC_API_KEY",
                             retryable=False)
        self.name = f"anthropic:{model}"
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.client = anthropic.AsyncAnthropic(api_key=key, base_url=base_url, timeout=timeout,
                                               max_retries=0)
        self._thinking: dict[str, list[dict[str, Any]]] = {}
        self._sampling: Sampling | None = None
        self._cap: int | None = None

    async def start(self, task: TaskContext) -> None:
        self._thinking.clear()
        self._sampling = task.sampling
        self._cap = task.max_tokens

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        system, wire = to_anthropic(messages, self._thinking)
        kwargs: dict[str, Any] = {"model": self.model,
                                  "max_tokens": min(self.max_tokens, self._cap or self.max_tokens),
                                  "messages": wire}
        if system is not None:
            kwargs["system"] = system
        if tools:
            kwargs["tools"] = to_tools(tools)
        temperature = self._sampling.temperature if self._sampling else self.temperature
        if temperature is not None:  # the Messages API has no seed
            kwargs["extra_body"] = {"temperature": temperature}
        try:
            msg = await self.client.messages.create(**kwargs)
        except anthropic.AnthropicError as err:
            raise map_error(err) from err
        reply, thinking = from_anthropic(msg)
        if thinking and reply.tool_calls:
            self._thinking[reply.tool_calls[0].id] = thinking
        return reply

    async def aclose(self) -> None:
        await self.client.close()
