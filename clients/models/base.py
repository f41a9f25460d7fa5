"""The provider-neutral conversation and the interface every model adapter implements.

Messages use one neutral shape (close to OpenAI's chat format, which most local servers also
speak); each adapter converts to and from its provider's wire format. An adapter sees only
the tools it is given for the current turn, never the administrative surface.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field


class ToolDef(BaseModel):
    """A tool as a model sees it: name, description, JSON Schema of the arguments."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class ToolCall(BaseModel):
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Message(BaseModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """Assistant messages: the calls the model made."""
    tool_call_id: str | None = None
    """Tool messages: which call this result answers."""
    is_error: bool = False


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(input_tokens=self.input_tokens + other.input_tokens,
                     output_tokens=self.output_tokens + other.output_tokens)


class Reply(BaseModel):
    """One model step: text and/or tool calls. No calls means the turn is over."""

    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    stop_reason: str | None = None


class Sampling(BaseModel):
    """A sampling override for the requests of one task (instead of the adapter's own)."""

    temperature: float
    seed: int = 0


class TaskContext(BaseModel):
    """What a scripted adapter may know about the task (the reference, a recorded result).

    Model-backed adapters use only `sampling` and `max_tokens`: a candidate model only ever
    sees messages and tools.
    """

    task_id: str
    sample: int = 0
    reference: list[list[str]] = Field(default_factory=list)
    """Per turn, the reference call strings."""
    sampling: Sampling | None = None
    """Sample with these settings instead of the adapter's (the synthesis agents ask again
    this way when a greedy model repeats an answer that failed)."""
    max_tokens: int | None = None
    """At most this many output tokens per reply (the lower of this and the adapter's own
    limit): a request that needs little, e.g. one function, is not left to run on."""


class ModelError(Exception):
    """A model call failed. `retryable` errors (timeouts, 429, 5xx) are retried with backoff."""

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class ModelAdapter(Protocol):
    name: str

    async def start(self, task: TaskContext) -> None:
        """Called once before each task sample (scripted adapters load their script)."""

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        """The model's next step given the conversation so far and the tools available now."""
        ...
