"""Scripted fakes of the Anthropic Messages API and OpenAI chat completions, on 127.0.0.1.

Each fake validates requests the way the real service does (roles, tool-use pairing, headers,
extra fields) and answers with the real response JSON shape, so an adapter that passes here
sends what the real API accepts. A `Fake` control object holds the queue of canned replies,
records every request, and can fail (status + `retry-after`) or stall the next requests.
Failed, stalled and rejected requests never consume a canned reply.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ANTHROPIC_KEY = "sk-ant-test-key"
OPENAI_KEY = "sk-openai-test-key"


@dataclass
class Canned:
    """One scripted model step. `calls` are (name, arguments); a str argument is sent verbatim
    (OpenAI only), to script malformed JSON."""

    text: str = ""
    calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    usage: tuple[int, int] = (10, 5)
    stop_reason: str | None = None
    thinking: str | None = None
    """Anthropic only: a thinking block before the other content."""


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0
    error: str | None = None


@dataclass
class _Failure:
    status: int = 0
    retry_after: str | None = None
    message: str | None = None
    stall: float = 0.0


class Fake:
    """Control object shared by the test (caller thread) and the server thread."""

    def __init__(self, api_key: str | None):
        self.api_key = api_key
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.replies: deque[Canned] = deque()
            self.requests: list[Recorded] = []
            self._failures: deque[_Failure] = deque()
            self.issued: dict[str, str | None] = {}
            """Tool-use ids this fake handed out → signature of the thinking sent with them."""
            self._n = 0

    def script(self, *replies: Canned) -> None:
        with self._lock:
            self.replies.extend(replies)

    def fail_next(self, n: int, status: int, *, retry_after: str | None = None,
                  message: str | None = None) -> None:
        with self._lock:
            self._failures.extend(_Failure(status, retry_after, message) for _ in range(n))

    def stall_next(self, seconds: float, n: int = 1) -> None:
        """Answer the next n requests only after `seconds` (the client should time out)."""
        with self._lock:
            self._failures.extend(_Failure(stall=seconds) for _ in range(n))

    @property
    def served(self) -> list[Recorded]:
        """Requests that got a 200."""
        return [r for r in self.requests if r.status == 200]

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.requests if r.error]

    def next_id(self, prefix: str) -> str:
        with self._lock:
            self._n += 1
            return f"{prefix}{self._n:020d}"

    def _take_failure(self) -> _Failure | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def _take_reply(self) -> Canned | None:
        with self._lock:
            return self.replies.popleft() if self.replies else None


class Invalid(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# -- Anthropic Messages API ---------------------------------------------------------------

_ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                          403: "permission_error", 404: "not_found_error",
                          413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                          503: "api_error", 529: "overloaded_error"}
_ANTHROPIC_TOP = {"model", "max_tokens", "messages", "system", "tools", "tool_choice",
                  "temperature", "top_p", "top_k", "stop_sequences", "stream", "metadata",
                  "thinking", "service_tier"}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_TOOL_USE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def _anthropic_error(status: int, message: str, headers: dict[str, str] | None = None
                     ) -> JSONResponse:
    body = {"type": "error", "error": {"type": _ANTHROPIC_ERROR_TYPES.get(status, "api_error"),
                                       "message": message}, "request_id": "req_fake"}
    return JSONResponse(body, status_code=status, headers=headers)


def _nonblank_text(block: dict[str, Any], where: str) -> None:
    text = block.get("text")
    if not isinstance(text, str):
        raise Invalid(400, f"{where}.text: Field required")
    if not text.strip():
        raise Invalid(400, f"{where}: text content blocks must contain non-whitespace text")


def validate_anthropic(fake: Fake, headers: dict[str, str], body: Any) -> None:
    """Raise Invalid like the real API would for this request."""
    key = headers.get("x-api-key")
    auth = headers.get("authorization", "")
    if key is None and auth.startswith("Bearer "):
        key = auth[len("Bearer "):]  # the 2.x SDK sends the API key as a bearer token
    if not key:
        raise Invalid(401, "x-api-key header is required")
    if fake.api_key is not None and key != fake.api_key:
        raise Invalid(401, "invalid x-api-key")
    if not headers.get("anthropic-version"):
        raise Invalid(400, "anthropic-version: header is required")
    if not isinstance(body, dict):
        raise Invalid(400, "Input should be an object")
    for k in body:
        if k not in _ANTHROPIC_TOP:
            raise Invalid(400, f"{k}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Invalid(400, "model: Field required")
    mt = body.get("max_tokens")
    if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
        raise Invalid(400, "max_tokens: Field required (an integer >= 1)")
    if "temperature" in body and not (isinstance(body["temperature"], int | float)
                                      and 0 <= body["temperature"] <= 1):
        raise Invalid(400, "temperature: Input should be between 0 and 1")
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        if not isinstance(system, list):
            raise Invalid(400, "system: Input should be a valid string or list")
        for j, b in enumerate(system):
            if not isinstance(b, dict) or b.get("type") != "text":
                raise Invalid(400, f"system.{j}: Input should be a text block")
            _nonblank_text(b, f"system.{j}")

    tool_names: set[str] = set()
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise Invalid(400, "tools: Input should be a valid list")
        for i, t in enumerate(tools):
            if not isinstance(t, dict):
                raise Invalid(400, f"tools.{i}: Input should be an object")
            extra = set(t) - {"name", "description", "input_schema", "cache_control", "type"}
            if extra:
                raise Invalid(400, f"tools.{i}.{sorted(extra)[0]}: Extra inputs are not permitted")
            name = t.get("name")
            if not isinstance(name, str) or not _TOOL_NAME.match(name):
                raise Invalid(400, f"tools.{i}.name: String should match pattern "
                                   f"'{_TOOL_NAME.pattern}'")
            schema = t.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                raise Invalid(400, f"tools.{i}.input_schema.type: Input should be 'object'")
            if "description" in t and not isinstance(t["description"], str):
                raise Invalid(400, f"tools.{i}.description: Input should be a valid string")
            if name in tool_names:
                raise Invalid(400, "tools: Tool names must be unique.")
            tool_names.add(name)

    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid(400, "messages: at least one message is required")
    pending: list[str] = []  # tool_use ids of the previous assistant message
    uses_tools = False
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise Invalid(400, f"messages.{i}: Input should be an object")
        extra = set(m) - {"role", "content"}
        if extra:
            raise Invalid(400, f"messages.{i}.{sorted(extra)[0]}: Extra inputs are not permitted")
        role = m.get("role")
        if role not in ("user", "assistant"):
            raise Invalid(400, f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if i == 0 and role != "user":
            raise Invalid(400, 'messages: first message must use the "user" role')
        if i > 0 and role == messages[i - 1].get("role"):
            raise Invalid(400, f'messages: roles must alternate between "user" and "assistant", '
                               f'but found multiple "{role}" roles in a row')
        content = m.get("content")
        if isinstance(content, str):
            if not content.strip():
                raise Invalid(400, f"messages.{i}: all messages must have non-empty content")
            blocks: list[Any] = [{"type": "text", "text": content}]
        elif isinstance(content, list) and content:
            blocks = content
        else:
            raise Invalid(400, f"messages.{i}: all messages must have non-empty content")

        uses: list[str] = []
        results: list[str] = []
        seen_other = False
        for j, b in enumerate(blocks):
            where = f"messages.{i}.content.{j}"
            if not isinstance(b, dict):
                raise Invalid(400, f"{where}: Input should be an object")
            kind = b.get("type")
            if kind == "text":
                _nonblank_text(b, where)
                seen_other = True
            elif kind == "tool_use" and role == "assistant":
                bid = b.get("id")
                if not isinstance(bid, str) or not _TOOL_USE_ID.match(bid):
                    raise Invalid(400, f"{where}.id: String should match pattern "
                                       f"'{_TOOL_USE_ID.pattern}'")
                if not isinstance(b.get("name"), str) or not isinstance(b.get("input"), dict):
                    raise Invalid(400, f"{where}: tool_use needs a name and an object input")
                if fake.issued.get(bid) and (
                        blocks[0].get("type") != "thinking"
                        or blocks[0].get("signature") != fake.issued[bid]):
                    raise Invalid(400, f"{where}: the thinking block that came with this "
                                       "tool_use must be passed back unmodified")
                uses.append(bid)
                uses_tools = True
            elif kind in ("thinking", "redacted_thinking") and role == "assistant":
                if j != 0:
                    raise Invalid(400, f"{where}: thinking blocks must come first")
            elif kind == "tool_result" and role == "user":
                if seen_other:
                    raise Invalid(400, f"{where}: tool_result blocks must come first in the "
                                       "content, before any other blocks")
                tid = b.get("tool_use_id")
                if tid not in pending:
                    raise Invalid(400, f"{where}: unexpected `tool_use_id` found in "
                                       f"`tool_result` blocks: {tid}. Each `tool_result` block "
                                       "must have a corresponding `tool_use` block in the "
                                       "previous message.")
                if tid in results:
                    raise Invalid(400, f"{where}: duplicate tool_result for {tid}")
                rc = b.get("content", "")
                if not isinstance(rc, str | list):
                    raise Invalid(400, f"{where}.content: Input should be a string or list")
                if "is_error" in b and not isinstance(b["is_error"], bool):
                    raise Invalid(400, f"{where}.is_error: Input should be a valid boolean")
                extra = set(b) - {"type", "tool_use_id", "content", "is_error", "cache_control"}
                if extra:
                    raise Invalid(400, f"{where}.{sorted(extra)[0]}: Extra inputs are not "
                                       "permitted")
                results.append(tid)
                uses_tools = True
            else:
                raise Invalid(400, f"{where}.type: unexpected block type {kind!r} in a "
                                   f"{role} message")
        missing = [p for p in pending if p not in results]
        if missing:
            raise Invalid(400, f"messages.{i}: `tool_use` ids were found without `tool_result` "
                               f"blocks immediately after: {', '.join(missing)}. Each "
                               "`tool_use` block must have a corresponding `tool_result` block "
                               "in the next message.")
        pending = uses
    if pending:
        raise Invalid(400, f"messages: `tool_use` ids were found without `tool_result` blocks "
                           f"immediately after: {', '.join(pending)}")
    if uses_tools and not tool_names:
        raise Invalid(400, "Requests which include `tool_use` or `tool_result` blocks must "
                           "define tools.")


def anthropic_app(fake: Fake) -> Starlette:
    async def messages(request: Request) -> JSONResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        rec = Recorded(request.url.path, headers, body)
        fake.requests.append(rec)
        failure = fake._take_failure()
        if failure is not None and failure.stall:
            await anyio.sleep(failure.stall)
            rec.status = 504
            return _anthropic_error(504, "stalled (the client should have timed out)")
        if failure is not None:
            rec.status = failure.status
            extra = {"retry-after": failure.retry_after} if failure.retry_after else None
            default = "Overloaded" if failure.status == 529 else f"scripted {failure.status}"
            return _anthropic_error(failure.status, failure.message or default, extra)
        try:
            validate_anthropic(fake, headers, body)
        except Invalid as err:
            rec.status, rec.error = err.status, str(err)
            return _anthropic_error(err.status, str(err))
        canned = fake._take_reply()
        if canned is None:
            rec.status, rec.error = 400, "fake: no scripted reply left"
            return _anthropic_error(400, rec.error)
        content: list[dict[str, Any]] = []
        signature = None
        if canned.thinking is not None:
            signature = fake.next_id("sig_")
            content.append({"type": "thinking", "thinking": canned.thinking,
                            "signature": signature})
        if canned.text:
            content.append({"type": "text", "text": canned.text})
        for name, args in canned.calls:
            tid = fake.next_id("toolu_01")
            fake.issued[tid] = signature
            content.append({"type": "tool_use", "id": tid, "name": name,
                            "input": args if isinstance(args, dict) else json.loads(args)})
        rec.status = 200
        stop = canned.stop_reason or ("tool_use" if canned.calls else "end_turn")
        return JSONResponse({
            "id": fake.next_id("msg_01"), "type": "message", "role": "assistant",
            "model": body["model"], "content": content, "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": canned.usage[0], "output_tokens": canned.usage[1],
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "service_tier": "standard"},
        }, headers={"request-id": "req_fake"})

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])


# -- OpenAI chat completions ----------------------------------------------------------------

_OPENAI_TOP = {"model", "messages", "tools", "tool_choice", "temperature", "max_tokens",
               "max_completion_tokens", "top_p", "n", "stop", "stream", "seed",
               "parallel_tool_calls", "response_format", "user"}
_FN_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _openai_error(status: int, message: str, *, kind: str = "invalid_request_error",
                  code: str | None = None, headers: dict[str, str] | None = None
                  ) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def validate_openai(fake: Fake, headers: dict[str, str], body: Any) -> None:
    if fake.api_key is not None and headers.get("authorization") != f"Bearer {fake.api_key}":
        raise Invalid(401, "Incorrect API key provided.")
    if not isinstance(body, dict):
        raise Invalid(400, "We could not parse the JSON body of your request.")
    for k in body:
        if k not in _OPENAI_TOP:
            raise Invalid(400, f"Unrecognized request argument supplied: {k}")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Invalid(400, "you must provide a model parameter")
    t = body.get("temperature")
    if t is not None and not (isinstance(t, int | float) and 0 <= t <= 2):
        raise Invalid(400, "Invalid 'temperature': must be between 0 and 2.")
    mt = body.get("max_tokens")
    if mt is not None and (not isinstance(mt, int) or mt < 1):
        raise Invalid(400, "Invalid 'max_tokens': integer below minimum value.")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not tools:
            raise Invalid(400, "Invalid 'tools': empty array. Expected an array with minimum "
                               "length 1.")
        for i, tool in enumerate(tools):
            fn = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function" or \
                    not isinstance(fn, dict):
                raise Invalid(400, f"Invalid 'tools[{i}]': expected a function tool.")
            if not isinstance(fn.get("name"), str) or not _FN_NAME.match(fn["name"]):
                raise Invalid(400, f"Invalid 'tools[{i}].function.name': string does not match "
                                   f"pattern. Expected a string that matches the pattern "
                                   f"'{_FN_NAME.pattern}'.")
            if "parameters" in fn and not isinstance(fn["parameters"], dict):
                raise Invalid(400, f"Invalid 'tools[{i}].function.parameters': expected an "
                                   "object.")
    if "tool_choice" in body:
        if not tools:
            raise Invalid(400, "Invalid value for 'tool_choice': 'tool_choice' is only allowed "
                               "when 'tools' are specified.")
        tc = body["tool_choice"]
        if not (tc in ("none", "auto", "required") or isinstance(tc, dict)):
            raise Invalid(400, f"Invalid value for 'tool_choice': {tc!r}.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid(400, "Invalid 'messages': empty array. Expected an array with minimum "
                           "length 1.")
    pending: list[str] = []
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("system", "developer", "user", "assistant", "tool"):
            raise Invalid(400, f"Invalid value: '{role}'. Supported values are: 'system', "
                               "'assistant', 'user', 'tool', and 'developer'.")
        if role != "tool" and pending:
            raise Invalid(400, "An assistant message with 'tool_calls' must be followed by tool "
                               "messages responding to each 'tool_call_id'. The following "
                               f"tool_call_ids did not have response messages: "
                               f"{', '.join(pending)}")
        content = m.get("content")
        if role == "assistant":
            calls = m.get("tool_calls")
            if content is not None and not isinstance(content, str | list):
                raise Invalid(400, f"Invalid type for 'messages[{i}].content'.")
            if calls is not None:
                if not isinstance(calls, list) or not calls:
                    raise Invalid(400, f"Invalid 'messages[{i}].tool_calls': empty array.")
                for j, c in enumerate(calls):
                    fn = c.get("function") if isinstance(c, dict) else None
                    if not isinstance(c, dict) or c.get("type") != "function" or \
                            not isinstance(c.get("id"), str) or not isinstance(fn, dict):
                        raise Invalid(400, f"Invalid 'messages[{i}].tool_calls[{j}]'.")
                    if not isinstance(fn.get("arguments"), str):
                        raise Invalid(400, f"Invalid type for 'messages[{i}].tool_calls[{j}]"
                                           ".function.arguments': expected a string.")
                    pending.append(c["id"])
            elif content is None:
                raise Invalid(400, f"Invalid value for 'messages[{i}].content': expected a "
                                   "string, got null.")
        elif role == "tool":
            tid = m.get("tool_call_id")
            if tid not in pending:
                raise Invalid(400, "Invalid parameter: messages with role 'tool' must be a "
                                   "response to a preceeding message with 'tool_calls'.")
            pending.remove(tid)
            if not isinstance(content, str | list):
                raise Invalid(400, f"Invalid type for 'messages[{i}].content'.")
        elif not isinstance(content, str | list):
            raise Invalid(400, f"Invalid type for 'messages[{i}].content': expected one of a "
                               "string or array of objects.")
    if pending:
        raise Invalid(400, "An assistant message with 'tool_calls' must be followed by tool "
                           f"messages responding to each 'tool_call_id': {', '.join(pending)}")


def openai_app(fake: Fake) -> Starlette:
    async def completions(request: Request) -> JSONResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        rec = Recorded(request.url.path, headers, body)
        fake.requests.append(rec)
        failure = fake._take_failure()
        if failure is not None and failure.stall:
            await anyio.sleep(failure.stall)
            rec.status = 504
            return _openai_error(504, "stalled", kind="server_error")
        if failure is not None:
            rec.status = failure.status
            extra = {"retry-after": failure.retry_after} if failure.retry_after else None
            kind = "requests" if failure.status == 429 else (
                "server_error" if failure.status >= 500 else "invalid_request_error")
            return _openai_error(failure.status, failure.message or f"scripted {failure.status}",
                                 kind=kind, headers=extra)
        try:
            validate_openai(fake, headers, body)
        except Invalid as err:
            rec.status, rec.error = err.status, str(err)
            return _openai_error(err.status, str(err),
                                 code="invalid_api_key" if err.status == 401 else None)
        canned = fake._take_reply()
        if canned is None:
            rec.status, rec.error = 400, "fake: no scripted reply left"
            return _openai_error(400, rec.error)
        message: dict[str, Any] = {"role": "assistant", "content": canned.text or None,
                                   "refusal": None, "annotations": []}
        if canned.calls:
            message["tool_calls"] = [
                {"id": fake.next_id("call_"), "type": "function",
                 "function": {"name": name,
                              "arguments": args if isinstance(args, str) else json.dumps(args)}}
                for name, args in canned.calls]
        rec.status = 200
        stop = canned.stop_reason or ("tool_calls" if canned.calls else "stop")
        p, c = canned.usage
        return JSONResponse({
            "id": fake.next_id("chatcmpl-"), "object": "chat.completion",
            "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": stop}],
            "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
                      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}},
            "service_tier": "default", "system_fingerprint": "fp_fake",
        })

    # Only the /v1 path: an adapter with a wrong endpoint rule gets a 404.
    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


# -- running ----------------------------------------------------------------------------------

@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """Serve `app` with uvicorn on a free 127.0.0.1 port in a daemon thread; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="error", lifespan="off",
                            timeout_graceful_shutdown=0.5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("fake server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
