"""What an evaluation task is: environments, initial state, user turns, reference trajectory.

A task names the domains it runs against and the scenario each starts from, the user's turns
(some turns reveal tools held out until then), the reference calls per turn (known to
accomplish every turn) and, optionally, the information each turn owes the user. Its outcome
reference (expected state, owed facts) is computed by executing the reference, see `outcome`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant with access to tools that act on the user's real systems. "
    "Use the tools to do what the user asks, one turn at a time. When a request is done, reply "
    "to the user with the outcome and any information they asked for. If you need information "
    "that only the user has, ask for it instead of guessing."
)


class Fact(BaseModel):
    """A piece of information the user must be given in a turn's replies."""

    value: Any
    label: str = ""
    """Where it came from, e.g. `get_stock_info.price` (for explanations)."""


class Turn(BaseModel):
    messages: list[dict[str, Any]] = Field(default_factory=list)
    """The user message(s) of this turn, `{"role": "user", "content": ...}`."""
    added_tools: list[str] = Field(default_factory=list)
    """Tools that become available at this turn (held out until now)."""
    reference: list[str] = Field(default_factory=list)
    """Reference calls (call syntax, literals only) that accomplish this turn."""
    owed: list[Fact] | None = None
    """Information owed in this turn's replies; None = derive it from the reference."""


class Task(BaseModel):
    id: str
    suite: str
    category: str = "default"
    domains: list[str]
    """Bundle names served for this task."""
    scenarios: dict[str, Any] = Field(default_factory=dict)
    """Per domain, the scenario data (absent = the bundle's default)."""
    turns: list[Turn]
    withheld: list[str] = Field(default_factory=list)
    """Tools not available at the start (they appear in some turn's `added_tools`)."""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    namespaced: bool = False
    meta: dict[str, Any] = Field(default_factory=dict)

    def reference_turns(self) -> list[list[str]]:
        return [t.reference for t in self.turns]

    def hidden_tools(self, turn: int) -> set[str]:
        """Tools the model may not see at `turn`."""
        revealed = {name for t in self.turns[: turn + 1] for name in t.added_tools}
        return set(self.withheld) - revealed
