"""Synthesis agents: a DatabaseAgent and a CodingAgent build a verified environment bundle
from a short Markdown spec (see `docs/synthesis.md`).

This module holds what both agents share: the round journal. Every round lives in
`out/rounds/<stage>-<n>/` (prompt, response, validation). A round whose prompt on disk equals
the prompt being asked again is replayed from disk instead of calling the model: that makes
a killed run resumable, and since prompts are built only from earlier responses and
validation results, a replayed prefix leads to exactly the same later prompts.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from clients.models.base import Message, ModelError, Sampling, ToolCall, ToolDef
from eigencore.llm.structured import LLM, StructuredOutputError

StructuredMode = Literal["text", "tool"]
"""How a structured answer is asked for: `text` is `LLM.structured` (a JSON object in the
reply); `tool` offers the answer's schema as the one tool to call, so an adapter that
constrains tool arguments by grammar (the local llama.cpp one) can only emit valid JSON."""

T = TypeVar("T", bound=BaseModel)
V = TypeVar("V")


def write_atomic(path: Path, text: str) -> None:
    """Write via rename, so a kill mid-write never leaves a half file a resume would trust."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def prompt_hash(system: str | None, prompt: str) -> str:
    return hashlib.sha256(f"{system or ''}\x00{prompt}".encode()).hexdigest()


@dataclass
class Round:
    stage: str
    n: int
    path: Path
    replayed: bool = False
    llm_calls: int = 0

    @property
    def label(self) -> str:
        return f"{self.stage}-{self.n}"

    def write_text(self, name: str, text: str) -> Path:
        write_atomic(self.path / name, text)
        return self.path / name

    def write_json(self, name: str, obj: Any) -> Path:
        return self.write_text(name, json.dumps(obj, indent=1, ensure_ascii=False, default=str))

    def read_json(self, name: str) -> Any | None:
        p = self.path / name
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None


@dataclass
class Journal:
    """Numbers the rounds of each stage in execution order and keeps their records."""

    out_dir: Path
    counters: dict[str, int] = field(default_factory=dict)
    rounds: list[Round] = field(default_factory=list)

    def next_round(self, stage: str) -> Round:
        n = self.counters.get(stage, 0) + 1
        self.counters[stage] = n
        r = Round(stage, n, Path(self.out_dir) / "rounds" / f"{stage}-{n}")
        r.path.mkdir(parents=True, exist_ok=True)
        self.rounds.append(r)
        return r


SUBMIT = "submit_answer"


async def structured_by_tool(llm: LLM, prompt: str, schema: type[T], *,
                             system: str | None = None, sampling: Sampling | None = None) -> T:
    """Like `LLM.structured`, but the answer is the arguments of a call of one tool whose
    input schema is `schema`'s; invalid arguments are sent back as the tool's error."""
    tool = ToolDef(name=SUBMIT, description=f"Submit your answer: the complete "
                                             f"{schema.__name__} object.",
                   input_schema=schema.model_json_schema())
    instructions = (f"Answer by calling the `{SUBMIT}` tool once, with the complete answer as "
                    "its arguments. Do not answer in prose.")
    messages = [Message(role="system", content="\n\n".join(filter(None, [system,
                                                                        instructions]))),
                Message(role="user", content=prompt)]
    attempts: list[str] = []
    for n in range(llm.retries + 1):
        reply = await llm.complete(messages, [tool], sampling=sampling)
        call = next((c for c in reply.tool_calls if c.name == SUBMIT), None)
        if call is None:
            attempts.append(reply.text)
            problem = f"You answered in prose; call `{SUBMIT}` with the answer as arguments."
            messages = [*messages, Message(role="assistant", content=reply.text),
                        Message(role="user", content=problem)]
            continue
        attempts.append(json.dumps(call.arguments, ensure_ascii=False))
        try:
            return schema.model_validate(call.arguments)
        except ValidationError as e:
            problem = str(e)
        ident = call.id or f"submit-{n}"
        messages = [*messages,
                    Message(role="assistant", tool_calls=[ToolCall(id=ident, name=SUBMIT,
                                                                   arguments=call.arguments)]),
                    Message(role="tool", tool_call_id=ident, is_error=True,
                            content="Invalid answer:\n" + problem
                            + f"\nCall `{SUBMIT}` again with the corrected object.")]
    raise StructuredOutputError(f"no valid {schema.__name__} after {len(attempts)} attempts",
                                attempts)


async def ask_recorded(llm: LLM, rnd: Round, key: str, prompt_md: str,
                       request: Callable[[], Awaitable[V]], *, dump: Callable[[V], Any],
                       load: Callable[[Any], V],
                       invalid: tuple[type[Exception], ...]) -> tuple[V | None, str | None]:
    """One model request, recorded in (or replayed from) the round's directory.

    `key` identifies the request (a replay needs the same key); `invalid` are the errors of
    an answer that never validated (exceptions with `attempts`), a round outcome recorded and
    replayed like an answer. A non-retryable model error (e.g. a prompt longer than the
    context window) fails the round without recording it, so a resumed run (perhaps with
    other model options) asks again.
    """
    recorded = rnd.read_json("response.json")
    if recorded is not None and recorded.get("prompt_sha256") == key:
        rnd.replayed = True
        if recorded["ok"]:
            return load(recorded["value"]), None
        return None, recorded["error"]
    rnd.write_text("prompt.md", prompt_md)
    before = llm.accounting.calls + llm.accounting.cached
    try:
        value = await request()
        record: dict[str, Any] = {"prompt_sha256": key, "ok": True, "value": dump(value)}
        out: tuple[V | None, str | None] = (value, None)
    except invalid as e:
        attempts = getattr(e, "attempts", [])
        reason = f"{e}; last answer began: {attempts[-1][:400]!r}" if attempts else str(e)
        record = {"prompt_sha256": key, "ok": False, "error": reason, "attempts": attempts}
        out = (None, reason)
    except ModelError as e:
        if e.retryable:
            raise
        rnd.llm_calls = llm.accounting.calls + llm.accounting.cached - before
        return None, f"model error: {e}"
    rnd.llm_calls = llm.accounting.calls + llm.accounting.cached - before
    record["llm_requests"] = rnd.llm_calls
    rnd.write_json("response.json", record)
    return out


RESAMPLE_TEMPERATURE = 0.8


def resample(seed: int) -> Sampling:
    """How a request is asked again after a greedy model repeated an answer that failed:
    sampled, with a seed fixed by the round, so the run stays reproducible and cacheable."""
    return Sampling(temperature=RESAMPLE_TEMPERATURE, seed=seed)


def request_id(kind: str, system: str | None, prompt: str,
               sampling: Sampling | None = None, max_tokens: int | None = None) -> str:
    """A round's request key: the prompt hash, with the sampling and the output cap when
    given (so rounds recorded without them keep their keys)."""
    tag = f":T={sampling.temperature},seed={sampling.seed}" if sampling else ""
    tag += f":max_tokens={max_tokens}" if max_tokens else ""
    return prompt_hash(f"{kind}:{system or ''}{tag}", prompt)


def prompt_record(system: str | None, prompt: str, sampling: Sampling | None = None) -> str:
    """A round's `prompt.md`: what was asked, and how it was decoded when sampled."""
    tag = (f"<!-- sampled: temperature {sampling.temperature}, seed {sampling.seed} -->\n"
           if sampling else "")
    return (tag + (f"<!-- system -->\n{system}\n\n" if system else "")
            + f"<!-- user -->\n{prompt}\n")


async def ask(llm: LLM, rnd: Round, prompt: str, schema: type[T], *,
              system: str | None = None, mode: StructuredMode = "text",
              sampling: Sampling | None = None) -> tuple[T | None, str | None]:
    """One structured request, recorded in (or replayed from) the round's directory.

    Returns the object, or None and the reason when the model gave no valid object within
    the LLM layer's retry budget (that is a round outcome too, and is replayed as such).
    """
    ask_fn = structured_by_tool if mode == "tool" else LLM.structured
    return await ask_recorded(
        llm, rnd, request_id(mode, system, prompt, sampling),
        prompt_record(system, prompt, sampling),
        lambda: ask_fn(llm, prompt, schema, system=system, sampling=sampling),
        dump=lambda v: v.model_dump(mode="json"), load=schema.model_validate,
        invalid=(StructuredOutputError,))
