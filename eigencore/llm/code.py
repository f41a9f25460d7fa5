"""Code answers: source code taken from a fenced block in the reply text, not from JSON.

Small models cannot JSON-escape a long module (asked for one as a JSON string field, the
1.5B local model answered `"None"`), but they write plain code in a Markdown fence readily.
`code_answer` asks with a plain completion (`LLM.complete`: cached, counted, replayable; the
local adapter answers a tool-less request through its free-text `final_answer`), takes the
fenced block, and checks that it parses (`ast.parse`: syntax only; the code is never run
here). A reply with no block, or with code that does not parse, goes back with the reason,
within the LLM's retry budget.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

from clients.models.base import Message, Sampling
from eigencore.llm.structured import LLM, StructuredOutputError

_BLOCK = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)


class CodeOutputError(StructuredOutputError):
    """The model gave no usable code block within the retry budget."""


@dataclass
class CodeAnswer:
    code: str
    """The code (empty when the reply was accepted as text by `accept_text`)."""
    text: str
    """The whole reply."""


def extract_code(text: str, language: str = "python") -> str | None:
    """The code of a reply: its fenced blocks tagged `language` (or untagged) joined in
    order; an unterminated last fence (a reply cut off) counts up to the end. Without any
    fence, the whole reply if it parses as Python and defines something."""
    blocks = [body for tag, body in _BLOCK.findall(text)
              if tag.lower() in ("", language, "py" if language == "python" else language)]
    if blocks:
        return "\n\n".join(b.strip("\n") for b in blocks if b.strip()) or None
    bare = text.strip()
    if language == "python" and re.search(r"^(def|class|@)\s*\w", bare, re.M):
        try:
            ast.parse(bare)
        except SyntaxError:
            return None
        return bare
    return None


def syntax_problem(code: str) -> str | None:
    """Why `code` is not valid Python, with the line, or None."""
    try:
        ast.parse(code)
    except SyntaxError as e:
        line = (e.text or "").rstrip()
        return f"SyntaxError on line {e.lineno} of your code: {e.msg}" + (
            f"\n    {line}" if line else "")
    return None


async def code_answer(llm: LLM, prompt: str, *, system: str | None = None,
                      language: str = "python",
                      accept_text: Callable[[str], bool] | None = None,
                      sampling: Sampling | None = None,
                      max_tokens: int | None = None) -> CodeAnswer:
    """Ask for code in a fenced block; retry with the reason until one parses.

    `accept_text(reply)` lets a reply without code through (e.g. a request to change the
    schema instead of code); it is returned with `code=""`.
    """
    messages = [*([Message(role="system", content=system)] if system else []),
                Message(role="user", content=prompt)]
    attempts: list[str] = []
    for _ in range(llm.retries + 1):
        reply = await llm.complete(messages, sampling=sampling, max_tokens=max_tokens)
        attempts.append(reply.text)
        code = extract_code(reply.text, language)
        if code is None:
            if accept_text is not None and accept_text(reply.text):
                return CodeAnswer(code="", text=reply.text)
            cut = " It was cut off before the end." if reply.stop_reason == "length" else ""
            problem = (f"Your reply has no ```{language} code block.{cut} Reply with the code "
                       f"in one ```{language} block and nothing else.")
        else:
            problem = syntax_problem(code) if language == "python" else None
            if problem is None:
                return CodeAnswer(code=code, text=reply.text)
            problem += "\nReply with the corrected code in one ```python block."
        messages = [*messages, Message(role="assistant", content=reply.text),
                    Message(role="user", content=problem)]
    raise CodeOutputError(f"no usable {language} code after {len(attempts)} attempts", attempts)
