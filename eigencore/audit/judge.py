"""The LLM judge of the BFCL audit: do a turn's reference calls do what the user asked?

`LLMJudge` implements the trajectory checks' `Judge`/`ItemJudge` seam over any pluggable
backend (`clients.models.specs`). Each question is one structured request through the LLM
layer (`eigencore.llm`): a `JudgeVerdict` validated by pydantic, whose quote must be copied
from what the judge was shown; local models answer through a tool call, which their grammar
constrains to the schema. Every exchange goes through a `ResponseCache`, so a re-run makes no
model call, and every verdict becomes a `Judgement` (a line of `judgements.jsonl`) with its
cache key, so it can be reviewed and replayed. A model error or an answer that never
validates is an `undecided` judgement: recorded, never a finding, never a crash.

Which turns are judged, and in which order, is decided by `trajectory.select_judge_items`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

from pydantic import BaseModel, Field, create_model, field_validator

from clients.models.base import ModelAdapter
from eigencore.audit.trajectory import JudgeItem, Verdict
from eigencore.llm.cache import ResponseCache
from eigencore.llm.structured import LLM, StructuredOutputError

StructuredMode = Literal["auto", "text", "tool"]
JudgementVerdict = Literal["supported", "unsupported", "undecided"]

SYSTEM = (
    "You audit a benchmark for tool-using assistants. You are shown a user's request and the "
    "reference tool calls the benchmark expects for it, with their results. Judge whether the "
    "calls do what the user asked. A call that only prepares a requested action (changing "
    "directory, logging in, looking up an id) serves the request. The calls do NOT do what "
    "was asked when a call does something the user did not ask for, does something other "
    "than what was asked (another action, another target, another value), or when an action "
    "the user asked for is missing. Values may come from earlier turns, which are not shown: "
    "a value you cannot trace is not by itself a reason to answer false."
)


class JudgeVerdict(BaseModel):
    """The judge's answer to one question (field order: evidence, reasoning, then verdict)."""

    quote: str = Field(min_length=1, description=(
        "the words of the request (or of a call) the verdict rests on, copied exactly"))
    reasoning: str = Field(min_length=1, description=(
        "one or two sentences: what the calls do, compared with what the user asked"))
    supported: bool = Field(description=(
        "true if the calls do what the user asked; false if a call does something not "
        "asked for or other than asked, or a requested action is missing"))


class Judgement(BaseModel):
    """One line of `judgements.jsonl`: a verdict with what it was about and how to replay it."""

    entry_id: str
    category: str
    turn: int
    tier: str
    """Why the turn was judged (`trajectory.JUDGE_TIERS`)."""
    question: str
    """The user's request the calls were judged against."""
    calls: list[str]
    model: str
    """The model spec (`openai:M@URL`, `local:N`, ...), or the adapter's name."""
    cache_key: str | None
    """The response-cache key of the first exchange (`eigencore.llm.cache.request_key`)."""
    verdict: JudgementVerdict
    quote: str | None = None
    reasoning: str = ""
    error: str | None = None
    """Why the verdict is `undecided`."""
    model_calls: int = 0
    """Model calls this verdict cost (0 when every exchange came from the cache)."""


_SPACE = re.compile(r"\s+")
_EDGE = " \t\n\"'`“”‘’.,;:!?()[]"


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text.replace("“", '"').replace("”", '"').replace("’", "'")
                      .replace("‘", "'")).strip(_EDGE).casefold()


def verdict_model(shown: str) -> type[JudgeVerdict]:
    """`JudgeVerdict` whose quote must appear in `shown` (what the judge was shown): a quote
    the judge invented is sent back as a validation error, and never becomes evidence."""
    haystack = _norm(shown)

    def quoted(cls: type[BaseModel], value: str) -> str:
        if not _norm(value) or _norm(value) not in haystack:
            raise ValueError("the quote is not in the request or the calls; copy the words "
                             "exactly")
        return value

    # Same name as the base class: the name is part of the request, so of the cache key.
    return create_model("JudgeVerdict", __base__=JudgeVerdict, __doc__=JudgeVerdict.__doc__,
                        __validators__={"quoted": field_validator("quote")(quoted)})


def prompt(item: JudgeItem) -> str:
    lines: list[str] = []
    if item.earlier:
        lines += ["## Earlier requests in this conversation (context only)",
                  *[f"- {q}" for q in item.earlier], ""]
    lines += ["## The user's request", item.request, "",
              "## The reference calls for this request, in order, with their results"]
    for n, (call, result) in enumerate(zip(item.calls, item.results, strict=True), 1):
        lines += [f"{n}. `{call}`", f"   result: {result}"]
    lines += ["", "Do these calls do what the user asked in this request? Quote the words your "
                  "verdict rests on exactly, then give your reasoning, then the verdict."]
    return "\n".join(lines)


class _KeyLog(ResponseCache):
    """A response cache that remembers the keys asked, to record each verdict's cache key."""

    def __init__(self, path: str | Path):
        super().__init__(path)
        self.asked: list[str] = []

    def get(self, key: str) -> Any:
        self.asked.append(key)
        return super().get(key)


class LLMJudge:
    """A `Judge` over an LLM backend; verdicts cached in `cache_path`, recorded in `records`
    (and, with `log`, appended to that JSONL file as they come)."""

    def __init__(self, adapter: ModelAdapter, cache_path: str | Path, *,
                 spec: str | None = None, structured: StructuredMode = "auto",
                 retries: int = 2, log: str | Path | None = None):
        self.cache = _KeyLog(cache_path)
        self.llm = LLM(adapter, cache=self.cache, retries=retries)
        self.model = spec or adapter.name
        local = (spec or adapter.name).startswith("local:")
        self.mode = ("tool" if local else "text") if structured == "auto" else structured
        self.records: list[Judgement] = []
        self._log: TextIO | None = None
        if log is not None:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            self._log = Path(log).open("w", encoding="utf-8")
        # One loop for the judge's life: HTTP adapters keep a client bound to the loop.
        self._runner = asyncio.Runner()

    @classmethod
    def from_spec(cls, spec: str, cache_path: str | Path, **kwargs: Any) -> LLMJudge:
        from clients.models.specs import adapter_factory

        return cls(adapter_factory(spec)(), cache_path, spec=spec, **kwargs)

    # -- the Judge / ItemJudge seam --------------------------------------------------------

    def judge(self, question: str, calls: Sequence[str],
              results: Sequence[str]) -> tuple[Verdict, str]:
        return self.judge_item(JudgeItem(entry_id="", category="", turn=0, request=question,
                                         calls=tuple(calls), results=tuple(results)))

    def judge_item(self, item: JudgeItem) -> tuple[Verdict, str]:
        record = self.ask(item)
        if record.verdict == "undecided":
            return "unsure", f"undecided: {record.error}"
        return record.verdict, f"quote: {json.dumps(record.quote, ensure_ascii=False)}; " \
                               f"reasoning: {record.reasoning}"

    # -- one question ------------------------------------------------------------------------

    def ask(self, item: JudgeItem) -> Judgement:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:  # a usage error, not a verdict: the catch-all below must not turn it undecided
            raise RuntimeError("LLMJudge is synchronous: call it outside a running event loop")
        text = prompt(item)
        schema = verdict_model(text)
        self.cache.asked.clear()
        calls_before = self.llm.accounting.calls
        base = {"entry_id": item.entry_id, "category": item.category, "turn": item.turn,
                "tier": item.reason, "question": item.request, "calls": list(item.calls),
                "model": self.model}
        try:
            verdict = self._runner.run(self._structured(text, schema))
        except Exception as exc:  # a model error or no valid answer: undecided, never a crash
            error = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, StructuredOutputError) and exc.attempts:
                error += f"; last answer began: {exc.attempts[-1][:300]!r}"
            record = Judgement(**base, cache_key=self._key(), verdict="undecided", error=error,
                               model_calls=self.llm.accounting.calls - calls_before)
        else:
            record = Judgement(**base, cache_key=self._key(),
                               verdict="supported" if verdict.supported else "unsupported",
                               quote=verdict.quote, reasoning=verdict.reasoning,
                               model_calls=self.llm.accounting.calls - calls_before)
        self.records.append(record)
        if self._log is not None:
            self._log.write(record.model_dump_json() + "\n")
            self._log.flush()
        return record

    async def _structured(self, text: str, schema: type[JudgeVerdict]) -> JudgeVerdict:
        if self.mode == "tool":
            from eigencore.agents import structured_by_tool

            return await structured_by_tool(self.llm, text, schema, system=SYSTEM)
        return await self.llm.structured(text, schema, system=SYSTEM)

    def _key(self) -> str | None:
        return self.cache.asked[0] if self.cache.asked else None

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        aclose = getattr(self.llm.adapter, "aclose", None)
        if aclose is not None:
            try:
                self._runner.run(aclose())
            except Exception:  # closing a connection must not fail the audit
                pass
        self._runner.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LLMJudge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def summary(records: list[Judgement]) -> dict[str, Any]:
    """Counts for the report: judged items, distinct questions, verdicts, model calls."""
    verdicts = Counter(r.verdict for r in records)
    return {
        "items": len(records),
        "questions": len({r.cache_key or id(r) for r in records}),
        "supported": verdicts["supported"],
        "unsupported": verdicts["unsupported"],
        "undecided": verdicts["undecided"],
        "model_calls": sum(r.model_calls for r in records),
        "models": sorted({r.model for r in records}),
    }


def read_judgements(path: str | Path) -> list[Judgement]:
    p = Path(path)
    if not p.is_file():
        return []
    return [Judgement.model_validate_json(line)
            for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
