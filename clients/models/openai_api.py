"""Adapter for any OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp, Ollama, ...).

Plain httpx, no SDK: local servers differ in small ways and the wire is simple.

Endpoint rule for `base_url` (trailing slashes ignored):
- ends in `/chat/completions` → used as is;
- ends in a version segment such as `/v1` → `/chat/completions` is appended;
- otherwise → `/v1/chat/completions` is appended (`http://host:8000` and `http://host:8000/v1`
  reach the same place).

Malformed tool-call arguments (not JSON, or JSON that is not an object) do not raise: the call
is returned with `arguments == {MALFORMED_ARGUMENTS: <raw text>}`. A harness that knows the
marker (`malformed_arguments(call)`) can answer with a tool error without running anything;
one that does not still gets a schema error from a strict tool (an unknown argument). When
the conversation is sent back, such a call is echoed with its raw text, as the model wrote it.

A `tool` message with `is_error` goes out as `"Error: " + content`: the wire has no error flag.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any

import httpx

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

MALFORMED_ARGUMENTS = "__malformed_arguments__"
"""Key of the single argument that marks a tool call whose arguments could not be parsed."""

_MAX_ERROR_BODY = 2000


def malformed_arguments(call: ToolCall) -> str | None:
    """The raw argument text when the model's call could not be parsed, else None."""
    if set(call.arguments) == {MALFORMED_ARGUMENTS}:
        raw = call.arguments[MALFORMED_ARGUMENTS]
        return raw if isinstance(raw, str) else json.dumps(raw)
    return None


def endpoint(base_url: str) -> str:
    """The chat-completions URL for a base URL given with or without `/v1`."""
    url = base_url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    if re.search(r"/v\d+$", url):
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


def to_openai(messages: list[Message]) -> list[dict[str, Any]]:
    """Neutral messages → OpenAI chat messages."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "assistant":
            d: dict[str, Any] = {"role": "assistant", "content": m.content or None}
            if m.tool_calls:
                d["tool_calls"] = [
                    {"id": c.id, "type": "function",
                     "function": {"name": c.name, "arguments": _arguments_text(c)}}
                    for c in m.tool_calls]
            elif d["content"] is None:
                d["content"] = ""
            out.append(d)
        elif m.role == "tool":
            content = f"Error: {m.content}" if m.is_error else m.content
            out.append({"role": "tool", "tool_call_id": m.tool_call_id or "",
                        "content": content})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def _arguments_text(call: ToolCall) -> str:
    raw = malformed_arguments(call)
    return raw if raw is not None else json.dumps(call.arguments, ensure_ascii=False)


def to_tools(tools: list[ToolDef]) -> list[dict[str, Any]]:
    return [{"type": "function",
             "function": {"name": t.name, "description": t.description,
                          "parameters": t.input_schema}} for t in tools]


def parse_arguments(raw: Any) -> dict[str, Any]:
    """`function.arguments` → dict; unparseable text → the malformed marker."""
    if isinstance(raw, dict):  # some servers (Ollama's native shape) send an object
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}  # llama.cpp and others send "" for a call without arguments
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return {MALFORMED_ARGUMENTS: raw}
        if isinstance(value, dict):
            return value
    return {MALFORMED_ARGUMENTS: raw if isinstance(raw, str) else json.dumps(raw)}


def from_openai(data: dict[str, Any]) -> Reply:
    """A `chat.completion` JSON body → Reply."""
    try:
        choice = data["choices"][0]
        msg = choice["message"]
    except (KeyError, IndexError, TypeError) as err:
        raise ModelError(f"openai-compat: response has no choices[0].message: "
                         f"{json.dumps(data)[:_MAX_ERROR_BODY]}") from err
    calls = []
    for tc in msg.get("tool_calls") or []:
        fn = tc.get("function") or {}
        calls.append(ToolCall(id=tc.get("id") or f"call_{uuid.uuid4().hex[:24]}",
                              name=fn.get("name") or "", arguments=parse_arguments(
                                  fn.get("arguments"))))
    content = msg.get("content")
    if isinstance(content, list):  # content-part arrays from some servers
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    usage = data.get("usage") or {}
    return Reply(text=content or "", tool_calls=calls,
                 usage=Usage(input_tokens=usage.get("prompt_tokens") or 0,
                             output_tokens=usage.get("completion_tokens") or 0),
                 stop_reason=choice.get("finish_reason"))


def status_error(response: httpx.Response) -> ModelError:
    """A non-2xx response → ModelError carrying the server's error body."""
    status = response.status_code
    text = f"openai-compat: HTTP {status}: {response.text[:_MAX_ERROR_BODY]}"
    hint = parse_retry_after(response.headers)
    if status == 429:
        return RateLimited(text, retry_after=hint)
    if status >= 500 or status == 408:
        if hint is not None:
            return RateLimited(text, retry_after=hint, status=status)
        return ModelError(text, retryable=True)
    return ModelError(text, retryable=False)


class OpenAICompatAdapter:
    """A model behind an OpenAI-compatible `/chat/completions` endpoint."""

    def __init__(self, model: str, base_url: str, *, api_key: str | None = None,
                 temperature: float | None = 0.0, max_tokens: int | None = 1024,
                 timeout: float = 120, tool_choice: str | None = "auto"):
        self.name = f"openai-compat:{model}"
        self.model = model
        self.url = endpoint(base_url)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.tool_choice = tool_choice
        self.timeout = timeout
        key = api_key or os.environ.get("OPENAI_API_KEY")
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client: httpx.AsyncClient | None = None
        self._sampling: Sampling | None = None
        self._cap: int | None = None

    async def start(self, task: TaskContext) -> None:
        self._sampling = task.sampling
        self._cap = task.max_tokens

    def request_body(self, messages: list[Message], tools: list[ToolDef]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": to_openai(messages)}
        if tools:
            body["tools"] = to_tools(tools)
            if self.tool_choice is not None:
                body["tool_choice"] = self.tool_choice
        if self._sampling is not None:
            body["temperature"] = self._sampling.temperature
            body["seed"] = self._sampling.seed
        elif self.temperature is not None:
            body["temperature"] = self.temperature
        cap = min(filter(None, (self.max_tokens, self._cap)), default=None)
        if cap is not None:
            body["max_tokens"] = cap
        return body

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout),
                                             headers=self._headers)
        try:
            response = await self._client.post(self.url,
                                               json=self.request_body(messages, tools))
        except httpx.TimeoutException as err:
            raise ModelError(f"openai-compat: request timed out after {self.timeout}s "
                             f"({self.url})", retryable=True) from err
        except httpx.TransportError as err:
            raise ModelError(f"openai-compat: connection error ({self.url}): {err!r}",
                             retryable=True) from err
        if response.status_code >= 400:
            raise status_error(response)
        try:
            data = response.json()
        except ValueError as err:
            raise ModelError(f"openai-compat: response is not JSON: "
                             f"{response.text[:_MAX_ERROR_BODY]}") from err
        if isinstance(data, dict) and "error" in data and not data.get("choices"):
            raise ModelError(f"openai-compat: error in a 200 response: "
                             f"{json.dumps(data['error'])[:_MAX_ERROR_BODY]}")
        return from_openai(data)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
