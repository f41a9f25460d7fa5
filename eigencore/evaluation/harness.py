"""The rollout harness: drive a model through a task against live MCP servers.

For each task sample: open an isolated episode through the administrative surface (loading
the task's scenarios), show the model only the domain tools available at the current turn,
run the turn step by step up to a step limit, execute its calls through MCP bound to the
episode, and record everything: messages, calls, results, timings, token counts, and the
state diff after every turn. Servers are in-process (default), a stdio subprocess per task,
or remote URLs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fastmcp import Client
from pydantic import BaseModel, Field

from clients.mcp import episode_meta, http_client, stdio_client
from clients.models.base import (
    Message,
    ModelAdapter,
    Reply,
    TaskContext,
    ToolDef,
    Usage,
)
from eigencore.evaluation.task import Task
from environments import registry
from servers.transports import ADMIN_NAMESPACE, deploy

MAX_STEPS = 20


class CallRecord(BaseModel):
    id: str
    name: str
    arguments: dict[str, Any]
    result: str
    is_error: bool
    executed: bool
    """False when the harness refused it (unknown or not yet available tool)."""
    latency_ms: float


class StepRecord(BaseModel):
    text: str = ""
    calls: list[CallRecord] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    model_latency_ms: float = 0.0


class TurnRecord(BaseModel):
    index: int
    user: list[dict[str, Any]]
    tools: list[str]
    steps: list[StepRecord] = Field(default_factory=list)
    hit_step_limit: bool = False
    state: dict[str, Any] = Field(default_factory=dict)
    """Per domain, the episode's diff from its initial state after this turn."""

    @property
    def reply_text(self) -> str:
        return "\n".join(s.text for s in self.steps if s.text)


class Transcript(BaseModel):
    task_id: str
    sample: int
    model: str
    turns: list[TurnRecord] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    duration_s: float = 0.0
    error: str | None = None
    tool_digests: dict[str, str] = Field(default_factory=dict)
    """Every domain tool listed, in listing order: name -> `tool_digest` (description and
    schema). With `offered`, what a replay checks the tools against (empty in old runs)."""
    offered: list[list[str]] = Field(default_factory=list)
    """Per turn started (also one cut short by an error), the tool names offered, in order."""

    def decoded_calls(self) -> list[list[list[str]]]:
        """The calls in BFCL's decoded form: turns -> steps -> call strings."""
        from eigencore.bfcl.calls import Call, format_call

        return [[[format_call(Call(c.name, (), c.arguments)) for c in s.calls] for s in t.steps
                 if s.calls] for t in self.turns]


@dataclass
class Target:
    """Where the environment servers are."""

    kind: Literal["inprocess", "stdio", "url"] = "inprocess"
    url: str | None = None
    """For `url`: the agent surface, e.g. http://127.0.0.1:8765/mcp (admin at /admin/mcp)."""
    token: str | None = None

    @contextlib.asynccontextmanager
    async def connect(self, task: Task) -> AsyncIterator[tuple[Client, Client | None]]:
        """(agent client, admin client); a None admin means admin tools are in-band."""
        if self.kind == "inprocess":
            bundles = [registry.get(d) for d in task.domains]
            dep = _deployment(tuple(task.domains), task.namespaced, bundles)
            async with Client(dep.server) as agent, Client(dep.admin) as admin:
                yield agent, admin
        elif self.kind == "stdio":
            extra = ["--with-admin", "--namespaced", "yes" if task.namespaced else "no"]
            async with stdio_client(task.domains, extra_args=extra) as agent:
                yield agent, None
        else:
            if not self.url:
                raise ValueError("a url target needs the agent surface's URL")
            admin_url = self.url.rsplit("/mcp", 1)[0] + "/admin/mcp"
            async with http_client(self.url, token=self.token) as agent, \
                    http_client(admin_url, token=self.token) as admin:
                yield agent, admin


_DEPLOYMENTS: dict[tuple[tuple[str, ...], bool], Any] = {}


def _deployment(domains: tuple[str, ...], namespaced: bool, bundles: Sequence[Any]) -> Any:
    # One in-process deployment per domain set: episodes isolate tasks, and templates are
    # built once per scenario.
    key = (domains, namespaced)
    if key not in _DEPLOYMENTS:
        _DEPLOYMENTS[key] = deploy(bundles, namespaced=namespaced, unbound="reject")
    return _DEPLOYMENTS[key]


class Admin:
    """The administrative operations the harness needs, over either admin channel."""

    def __init__(self, agent: Client, admin: Client | None):
        self.client = admin or agent
        self.prefix = "" if admin is not None else f"{ADMIN_NAMESPACE}_"
        self._listed = False

    async def _call(self, tool: str, args: dict[str, Any]) -> Any:
        if not self._listed:
            # The client validates results against listed output schemas and re-lists on
            # every call to a tool it has not seen listed: list once.
            await self.client.list_tools()
            self._listed = True
        r = await self.client.call_tool(self.prefix + tool, args, raise_on_error=False)
        if r.is_error:
            raise RuntimeError(f"admin {tool} failed: {r.content[0].text if r.content else r}")
        return r.structured_content

    async def open(self, scenarios: dict[str, Any]) -> str:
        return (await self._call("open_episode", {"scenarios": scenarios or None}))["episode"]

    async def diff(self, episode: str) -> dict[str, Any]:
        out = await self._call("diff", {"episode": episode})
        return {d: v["changes"] for d, v in out.items()}

    async def close(self, episode: str) -> None:
        await self._call("close_episode", {"episode": episode})


def tool_digest(tool: ToolDef) -> str:
    """A short fingerprint of what the model sees of a tool (name, description, schema)."""
    blob = json.dumps(tool.model_dump(mode="json"), sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _result_text(result: Any) -> str:
    parts = [getattr(c, "text", "") for c in result.content or []]
    if any(parts):
        return "\n".join(p for p in parts if p)
    return json.dumps(result.structured_content)


async def rollout(task: Task, model: ModelAdapter, target: Target | None = None, *,
                  sample: int = 0, max_steps: int = MAX_STEPS) -> Transcript:
    """Run one sample of one task; errors end the run of this task and are recorded."""
    target = target or Target()
    started = time.perf_counter()
    transcript = Transcript(task_id=task.id, sample=sample, model=model.name)
    await model.start(TaskContext(task_id=task.id, sample=sample,
                                  reference=task.reference_turns()))
    async with target.connect(task) as (agent, admin_client):
        admin = Admin(agent, admin_client)
        episode = await admin.open(task.scenarios)
        meta = episode_meta(episode)
        messages = [Message(role="system", content=task.system_prompt)]
        try:
            listed = [t for t in await agent.list_tools()
                      if not t.name.startswith(f"{ADMIN_NAMESPACE}_")]
            all_tools = [ToolDef(name=t.name, description=t.description or "",
                                 input_schema=t.input_schema) for t in listed]
            transcript.tool_digests = {t.name: tool_digest(t) for t in all_tools}
            for index, turn in enumerate(task.turns):
                hidden = task.hidden_tools(index)
                tools = [t for t in all_tools if t.name not in hidden]
                visible = {t.name for t in tools}
                transcript.offered.append([t.name for t in tools])
                messages += [Message(role="user", content=str(m.get("content", "")))
                             for m in turn.messages]
                record = TurnRecord(index=index, user=turn.messages, tools=sorted(visible))
                for step in range(max_steps + 1):
                    if step == max_steps:
                        record.hit_step_limit = True
                        break
                    t0 = time.perf_counter()
                    reply: Reply = await model.respond(messages, tools, turn=index, step=step)
                    srec = StepRecord(text=reply.text, usage=reply.usage,
                                      model_latency_ms=(time.perf_counter() - t0) * 1000)
                    transcript.usage = transcript.usage + reply.usage
                    messages.append(Message(role="assistant", content=reply.text,
                                            tool_calls=reply.tool_calls))
                    for call in reply.tool_calls:
                        c0 = time.perf_counter()
                        if call.name not in visible:
                            text = json.dumps({"error": {
                                "kind": "unknown_tool",
                                "message": f"no tool named {call.name!r} is available"}})
                            crec = CallRecord(id=call.id, name=call.name,
                                              arguments=call.arguments, result=text,
                                              is_error=True, executed=False, latency_ms=0.0)
                        else:
                            r = await agent.call_tool(call.name, call.arguments, meta=meta,
                                                      raise_on_error=False)
                            crec = CallRecord(id=call.id, name=call.name,
                                              arguments=call.arguments, result=_result_text(r),
                                              is_error=bool(r.is_error), executed=True,
                                              latency_ms=(time.perf_counter() - c0) * 1000)
                        srec.calls.append(crec)
                        messages.append(Message(role="tool", content=crec.result,
                                                tool_call_id=call.id, is_error=crec.is_error))
                    record.steps.append(srec)
                    if not reply.tool_calls:
                        break
                record.state = await admin.diff(episode)
                transcript.turns.append(record)
        except Exception as e:  # a failed model or server ends this task, never the run
            transcript.error = f"{type(e).__name__}: {e}"
        finally:
            transcript.messages = messages
            with contextlib.suppress(Exception):
                await admin.close(episode)
    transcript.duration_s = time.perf_counter() - started
    return transcript
