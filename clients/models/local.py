"""Offline local models through llama.cpp: `local:qwen2.5-coder-0.5b`, `local:qwen2.5-coder-1.5b`.

Options ride on the spec as a query string, e.g.
`local:qwen2.5-coder-1.5b?temperature=0.7&seed=3` (see `LocalOptions`); temperature 0, the
default, is greedy and deterministic.

How a step works:
- the conversation is rendered with the chat template embedded in the GGUF (Qwen2.5: tools as
  `<tools>` JSON in the system prompt, calls as `<tool_call>` JSON, results as
  `<tool_response>` in a user turn), with one extra pseudo-tool, `final_answer`, through which
  the model replies to the user;
- decoding is constrained by a GBNF grammar built from the tools' JSON Schemas: the output is
  always calls of the tools offered at this step (up to `parallel_calls`, default 1), with
  arguments of the right shape, or a single `final_answer`. The grammar is checked against
  the one sampled token (`RejectionSampler`), not the whole vocabulary as llama-cpp-python
  does. llama-cpp-python's schema converter mistranslates regex
  escapes such as `\\d`, so patterns go through a translator of our own; a schema (or
  pattern) the grammar cannot express is loosened for that tool only, down to "any object",
  and the MCP server still validates every call;
- the output is parsed leniently anyway (code fences, missing tags, doubled braces), since a
  grammar guarantees the shape only while generation is not cut off;
- a request with no tools (a code answer, a simulated user's line) is a plain chat turn:
  no grammar, no `final_answer`, the reply is the text up to the end of turn;
- a call identical (name and arguments) to one already made in this turn is dropped; if
  nothing new is left the model is asked, under a `final_answer`-only grammar, for its reply,
  and `Reply.stop_reason` says which call repeated. Small models otherwise loop on their
  last call until the step limit.

One `llama_cpp.Llama` per model file per process is shared by every adapter: loading is
guarded by a lock, and so is generation (a llama.cpp context is not thread-safe), which runs
in a worker thread to keep the event loop responsive. The first `n_ctx` and `threads`
requested for a model win for the life of the process. On a 2-core machine shared with other
work, `threads=1` was several times faster than 2 (llama.cpp's threads wait on each other).
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import parse_qsl

import anyio

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
from clients.models.gguf import ensure_model, model_spec

FINAL_ANSWER = "final_answer"
FINAL_HINT = (
    "To reply to the user, call `{name}` with your reply as `text`; that ends your turn. "
    "Do it once the request is done (or cannot be done), and put in your reply the concrete "
    "values the user asked for, taken from the tool results."
)


# --- options -------------------------------------------------------------------------------


@dataclass
class LocalOptions:
    """Generation settings; any of them can be given in the spec's query string."""

    temperature: float = 0.0
    seed: int = 0
    """Base sampling seed; sample k of a task uses seed + k (pass^k runs differ, reproducibly)."""
    n_ctx: int = 8192
    max_tokens: int = 768
    """Per step; a reply cut off here is returned as text (stop_reason "length")."""
    threads: int = 0
    """0 = every core this process may use."""
    parallel_calls: int = 1
    """Most calls the grammar allows in one step. One by default: given several, the small
    models chain guesses without seeing results (the 0.5B followed a wrong `checkout` with
    `pay_fine`, `set_member_status` and `delete_member` in one step)."""


def parse_spec(spec: str) -> tuple[str, LocalOptions]:
    """`qwen2.5-coder-1.5b?temperature=0.7&seed=3` → (model name, options)."""
    name, _, query = spec.partition("?")
    options = LocalOptions()
    types = {f.name: f.type for f in fields(LocalOptions)}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key not in types:
            raise ValueError(f"unknown option {key!r} in local model spec {spec!r}; "
                             f"known: {', '.join(types)}")
        try:
            setattr(options, key, float(value) if types[key] == "float" else int(value))
        except ValueError:
            raise ValueError(f"option {key}={value!r} in {spec!r} is not a number") from None
    model_spec(name)  # an unknown model fails here, when the spec is read
    return name, options


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# --- the shared model ----------------------------------------------------------------------


@dataclass
class LoadedModel:
    """One llama.cpp model and the lock that serialises its use."""

    llm: Any
    name: str
    load_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _grammars: dict[str, str] = field(default_factory=dict)

    @property
    def chat_template(self) -> str:
        template = (getattr(self.llm, "metadata", None) or {}).get("tokenizer.chat_template")
        if not template:
            raise ModelError(f"local:{self.name}: the GGUF has no chat template")
        return str(template)

    def grammar_compiles(self, gbnf: str) -> bool:
        """Whether llama.cpp's own parser accepts `gbnf`.

        Asked before use because llama-cpp-python passes a failed parse on as a null sampler,
        which crashes the process. A fake model (tests) has no vocabulary: everything passes.
        """
        model = getattr(self.llm, "_model", None)
        if model is None:
            return True
        import llama_cpp

        sampler = llama_cpp.llama_sampler_init_grammar(model.vocab, gbnf.encode(), b"root")
        if not sampler:
            return False
        llama_cpp.llama_sampler_free(sampler)
        return True

    def perf(self) -> dict[str, float]:
        """llama.cpp's cumulative counters: prompt tokens evaluated, tokens generated, ms."""
        ctx = getattr(getattr(self.llm, "_ctx", None), "ctx", None)
        if ctx is None:
            return {}
        import llama_cpp

        data = llama_cpp.llama_perf_context(ctx)
        return {"prompt_tokens": data.n_p_eval, "prompt_ms": data.t_p_eval_ms,
                "gen_tokens": data.n_eval, "gen_ms": data.t_eval_ms}


class RejectionSampler:
    """Grammar-constrained sampling that consults the grammar for one token, not 151k.

    llama-cpp-python puts the grammar in the sampler chain, where it is evaluated against the
    whole 151k-token vocabulary at every step (measured on the 0.5B, one thread, same
    prompt and output: 11.6 tok/s with it, 14.6 with this, 15.3 unconstrained). As
    llama.cpp's own `common_sampler` does, this samples without the grammar,
    checks the one chosen token, and only when the grammar rejects it samples again with
    the grammar over the whole vocabulary. Both paths pick the same token under greedy
    decoding; sampling keeps the same distribution restricted to what the grammar allows.
    """

    def __init__(self, llm: Any, gbnf: str, *, temp: float, seed: int, top_k: int,
                 top_p: float, min_p: float):
        import llama_cpp

        self._lib = llama_cpp
        vocab = llm._model.vocab
        self.check = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode(), b"root")
        self.free = self._chain(None, temp, seed, top_k, top_p, min_p)
        full_grammar = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode(), b"root")
        self.full = self._chain(full_grammar, temp, seed, top_k, top_p, min_p)
        self._one = (llama_cpp.llama_token_data * 1)()
        self._one_array = llama_cpp.llama_token_data_array(
            data=self._one, size=1, selected=-1, sorted=False)

    def _chain(self, grammar: Any, temp: float, seed: int, top_k: int, top_p: float,
               min_p: float) -> Any:
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if grammar is not None:
            lib.llama_sampler_chain_add(chain, grammar)
        if temp <= 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
        else:
            for sampler in (lib.llama_sampler_init_top_k(top_k),
                            lib.llama_sampler_init_top_p(top_p, 1),
                            lib.llama_sampler_init_min_p(min_p, 1),
                            lib.llama_sampler_init_temp(temp),
                            lib.llama_sampler_init_dist(seed)):
                lib.llama_sampler_chain_add(chain, sampler)
        return chain

    def _allowed(self, token: int) -> bool:
        self._one[0].id = token
        self._one[0].logit = 0.0
        self._one[0].p = 0.0
        self._one_array.size = 1
        self._one_array.selected = -1
        self._lib.llama_sampler_apply(self.check, ctypes.byref(self._one_array))
        return bool(self._one[0].logit > -math.inf)

    def sample(self, ctx: Any, idx: int = -1) -> int:
        lib = self._lib
        token = int(lib.llama_sampler_sample(self.free, ctx.ctx, idx))
        if self._allowed(token):
            lib.llama_sampler_accept(self.full, token)  # keep the full chain's grammar in step
        else:
            token = int(lib.llama_sampler_sample(self.full, ctx.ctx, idx))
        lib.llama_sampler_accept(self.check, token)
        return token

    def close(self) -> None:
        for name in ("check", "free", "full"):
            sampler = getattr(self, name, None)
            if sampler:
                self._lib.llama_sampler_free(sampler)
                setattr(self, name, None)

    def __del__(self) -> None:
        self.close()


def install_rejection_sampling(llm: Any) -> bool:
    """Route llama-cpp-python's grammar sampling through `RejectionSampler`.

    It hooks `Llama._init_sampler` (private, as of llama-cpp-python 0.3.36, which the `local`
    extra pins); without that hook the stock, slower sampler is used unchanged.
    """
    original = getattr(llm, "_init_sampler", None)
    if original is None or not hasattr(llm, "_model"):
        return False

    def init_sampler(**kwargs: Any) -> Any:
        grammar = kwargs.get("grammar")
        if grammar is None or kwargs.get("logits_processor") or kwargs.get("mirostat_mode"):
            return original(**kwargs)
        return RejectionSampler(llm, grammar._grammar, temp=kwargs.get("temp", 0.0),
                                seed=int(getattr(llm, "_seed", 0)) & 0xFFFFFFFF,
                                top_k=kwargs.get("top_k", 40), top_p=kwargs.get("top_p", 0.95),
                                min_p=kwargs.get("min_p", 0.05))

    llm._init_sampler = init_sampler
    return True


_LOADED: dict[str, LoadedModel] = {}
_LOAD_LOCK = threading.Lock()


def load_model(name: str, *, n_ctx: int = 8192, threads: int = 0) -> LoadedModel:
    """The process-wide model for `name`, assembling and loading it on first use."""
    with _LOAD_LOCK:
        if name in _LOADED:
            return _LOADED[name]
        path = ensure_model(name)
        try:
            import llama_cpp
        except ImportError as err:
            raise ModelError("local models need llama-cpp-python: pip install "
                             "'eigendata[local]' (llama-cpp-python==0.3.36)") from err
        n = threads or default_threads()
        started = time.perf_counter()
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n,
                              n_threads_batch=n, verbose=False)
        install_rejection_sampling(llm)
        loaded = LoadedModel(llm=llm, name=name, load_s=time.perf_counter() - started)
        _LOADED[name] = loaded
        return loaded


def unload_model(name: str) -> None:
    """Free a loaded model (benchmarks run one model at a time); adapters reload on use."""
    with _LOAD_LOCK:
        loaded = _LOADED.pop(name, None)
    if loaded is not None:
        with loaded.lock:
            close = getattr(loaded.llm, "close", None)
            if close is not None:
                close()


# --- prompt rendering ----------------------------------------------------------------------


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    # As transformers renders chat templates: jinja's own tojson escapes HTML characters.
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


class TemplateFailed(ValueError):
    """The chat template refused the conversation (its `raise_exception`)."""


def _raise(message: str) -> None:
    raise TemplateFailed(message)


_TEMPLATES: dict[str, Any] = {}


def _compile_template(template: str) -> Any:
    # jinja2 comes with llama-cpp-python (the `local` extra), not with the base install.
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    compiled = _TEMPLATES.get(template)
    if compiled is None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise
        compiled = _TEMPLATES[template] = env.from_string(template)
    return compiled


def final_answer_name(tools: Sequence[ToolDef]) -> str:
    names = {t.name for t in tools}
    name = FINAL_ANSWER
    while name in names:  # never shadow a real tool
        name += "_"
    return name


def final_answer_tool(name: str = FINAL_ANSWER) -> ToolDef:
    return ToolDef(
        name=name,
        description="Reply to the user and end your turn: report what was done and give the "
                    "information they asked for, or ask them for what you need.",
        input_schema={"type": "object", "additionalProperties": False,
                      "properties": {"text": {"type": "string", "minLength": 1,
                                              "description": "Your reply to the user."}},
                      "required": ["text"]})


def template_tools(tools: Sequence[ToolDef]) -> list[dict[str, Any]]:
    return [{"type": "function",
             "function": {"name": t.name, "description": t.description,
                          "parameters": t.input_schema}} for t in tools]


def template_messages(messages: Sequence[Message], final_name: str) -> list[dict[str, Any]]:
    """Neutral messages → the template's; plain assistant replies become `final_answer` calls
    (as the model was asked to produce them), and the final-answer hint joins the system
    prompt."""
    hint = FINAL_HINT.format(name=final_name)
    out: list[dict[str, Any]] = []
    if not messages or messages[0].role != "system":
        out.append({"role": "system", "content": hint})
    for i, m in enumerate(messages):
        if m.role == "system" and i == 0:
            out.append({"role": "system", "content": f"{m.content}\n\n{hint}".strip()})
        elif m.role == "assistant":
            calls = [{"type": "function", "id": c.id,
                      "function": {"name": c.name, "arguments": c.arguments}}
                     for c in m.tool_calls]
            if not calls:
                calls = [{"type": "function",
                          "function": {"name": final_name, "arguments": {"text": m.content}}}]
                out.append({"role": "assistant", "content": "", "tool_calls": calls})
            else:
                out.append({"role": "assistant", "content": m.content, "tool_calls": calls})
        elif m.role == "tool":
            content = f"Error: {m.content}" if m.is_error else m.content
            out.append({"role": "tool", "content": content, "tool_call_id": m.tool_call_id})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def render_prompt(template: str, messages: Sequence[Message], tools: Sequence[ToolDef]) -> str:
    """The prompt text for the next assistant step, tools and `final_answer` included; with
    no tools, a plain conversation (the reply is free text)."""
    if not tools:
        plain = [{"role": m.role, "content": m.content} for m in messages]
        return str(_compile_template(template).render(
            messages=plain, add_generation_prompt=True, bos_token="", eos_token="<|im_end|>"))
    final_name = final_answer_name(tools)
    return str(_compile_template(template).render(
        messages=template_messages(messages, final_name),
        tools=template_tools([*tools, final_answer_tool(final_name)]),
        add_generation_prompt=True, bos_token="", eos_token="<|im_end|>"))


# --- regex → GBNF --------------------------------------------------------------------------


class Unsupported(ValueError):
    """A regex construct the translator does not handle; the pattern is then dropped."""


# Characters that cannot appear raw inside a JSON string.
_FORBIDDEN = [(0x00, 0x1F), (0x22, 0x22), (0x5C, 0x5C)]
_SHORTHAND = {"d": [(0x30, 0x39)], "w": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
              "s": [(0x20, 0x20)]}  # \s: a space; other whitespace needs JSON escapes
_SIMPLE_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v"}


def _gbnf_char(code: int) -> str:
    c = chr(code)
    if c.isascii() and (c.isalnum() or c == " "):
        return c
    return f"\\x{code:02X}" if code < 0x80 else (
        f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}")


def _subtract(ranges: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = list(ranges)
    for lo_h, hi_h in holes:
        nxt: list[tuple[int, int]] = []
        for lo, hi in out:
            if hi < lo_h or lo > hi_h:
                nxt.append((lo, hi))
                continue
            if lo < lo_h:
                nxt.append((lo, lo_h - 1))
            if hi > hi_h:
                nxt.append((hi_h + 1, hi))
        out = nxt
    return out


def _class(ranges: list[tuple[int, int]], negated: bool) -> str:
    if negated:
        ranges = ranges + _FORBIDDEN
    else:
        ranges = _subtract(ranges, _FORBIDDEN)
        if not ranges:
            raise Unsupported("a character class of JSON-escaped characters only")
    body = "".join(_gbnf_char(lo) if lo == hi else f"{_gbnf_char(lo)}-{_gbnf_char(hi)}"
                   for lo, hi in ranges)
    return f"[{'^' if negated else ''}{body}]"


def _literal(char: str) -> str:
    """One regex literal character as GBNF for its JSON-encoded form."""
    encoded = json.dumps(char)[1:-1]  # '"' → \", newline → \n, ...
    return '"' + "".join(_gbnf_char(ord(c)) for c in encoded) + '"'


class _RegexTranslator:
    """A recursive-descent translator for the common subset of ECMA/Python regexes: literals,
    escapes, classes, `.`, groups, alternation and the quantifiers `* + ? {n} {n,} {n,m}`."""

    def __init__(self, pattern: str):
        self.p = pattern
        self.i = 0

    def peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def alternation(self) -> str:
        alts = [self.sequence()]
        while self.peek() == "|":
            self.i += 1
            alts.append(self.sequence())
        return alts[0] if len(alts) == 1 else "(" + " | ".join(a or '""' for a in alts) + ")"

    def sequence(self) -> str:
        items: list[str] = []
        while self.peek() not in ("", "|", ")"):
            atom = self.atom()
            items.append(self.quantified(atom))
        return " ".join(items)

    def quantified(self, atom: str) -> str:
        c = self.peek()
        if c in ("*", "+", "?"):
            self.i += 1
            quant = c
        elif c == "{" and (m := re.match(r"\{(\d+)(,(\d*))?\}", self.p[self.i:])):
            self.i += len(m.group(0))
            lo, comma, hi = m.group(1), m.group(2), m.group(3)
            quant = f"{{{lo}}}" if not comma else f"{{{lo},{hi}}}"
        else:
            return atom
        if self.peek() in ("?", "+"):  # lazy/possessive: the same language
            self.i += 1
        return f"({atom}){quant}"

    def atom(self) -> str:
        c = self.peek()
        self.i += 1
        if c == "(":
            if self.peek() == "?":
                if self.p[self.i:self.i + 2] != "?:":
                    raise Unsupported("lookaround or named group")
                self.i += 2
            inner = self.alternation()
            if self.peek() != ")":
                raise Unsupported("unbalanced parenthesis")
            self.i += 1
            return f"({inner or chr(34) * 2})"
        if c == "[":
            return self.char_class()
        if c == ".":
            return _class([], negated=True)
        if c == "\\":
            return self.escape()
        if c in ("^", "$"):
            raise Unsupported("an anchor inside the pattern")
        if c in ("*", "+", "?"):
            raise Unsupported("a quantifier with nothing to repeat")
        return _literal(c)

    def escape(self) -> str:
        c = self.peek()
        self.i += 1
        if c in _SHORTHAND:
            return _class(_SHORTHAND[c], negated=False)
        if c.lower() in _SHORTHAND:
            return _class(_SHORTHAND[c.lower()], negated=True)
        if c in _SIMPLE_ESCAPES:
            return _literal(_SIMPLE_ESCAPES[c])
        if c and not c.isalnum():
            return _literal(c)
        raise Unsupported(f"escape \\{c}")

    def class_char(self) -> int | list[tuple[int, int]]:
        c = self.peek()
        if not c:
            raise Unsupported("unterminated character class")
        self.i += 1
        if c != "\\":
            return ord(c)
        e = self.peek()
        self.i += 1
        if e in _SHORTHAND:
            return _SHORTHAND[e]
        if e in _SIMPLE_ESCAPES:
            return ord(_SIMPLE_ESCAPES[e])
        if e and not e.isalnum():
            return ord(e)
        raise Unsupported(f"escape \\{e} in a class")

    def char_class(self) -> str:
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while first or self.peek() != "]":
            if not self.peek():
                raise Unsupported("unterminated character class")
            first = False
            lo = self.class_char()
            if isinstance(lo, list):
                ranges += lo
                continue
            if self.peek() == "-" and self.p[self.i + 1:self.i + 2] not in ("]", ""):
                self.i += 1
                hi = self.class_char()
                if isinstance(hi, list) or hi < lo:
                    raise Unsupported("bad range in a class")
                ranges.append((lo, hi))
            else:
                ranges.append((lo, lo))
        self.i += 1
        return _class(ranges, negated)


def regex_to_gbnf(pattern: str) -> str:
    """A GBNF expression for the JSON string body (without quotes) of strings that match
    `pattern` (JSON Schema semantics: unanchored ends match anything)."""
    body = pattern
    head = body.startswith("^")
    tail = body.endswith("$") and not body.endswith("\\$")
    body = body[1 if head else 0:len(body) - 1 if tail else len(body)]
    translator = _RegexTranslator(body)
    expr = translator.alternation()
    if translator.i != len(body):
        raise Unsupported("unbalanced parenthesis")
    anything = _class([], negated=True) + "*"
    parts = ([] if head else [anything]) + [f"({expr})" if expr else ""] + (
        [] if tail else [anything])
    return " ".join(p for p in parts if p) or '""'


# --- JSON Schema → GBNF --------------------------------------------------------------------


_MAX_STRING_BOUND = 64
"""Longer maxLength bounds are dropped: they cost grammar states and the server checks them."""
_LOOSE_KEYS = {"type", "properties", "required", "items", "enum", "const", "anyOf", "oneOf",
               "additionalProperties"}


def inline_refs(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """Replace local `$ref`s by their targets (each tool's refs stay its own); recursion
    deeper than a few levels becomes `{}` (any value)."""
    root = schema if root is None else root
    if isinstance(schema, list):
        return [inline_refs(s, root, depth) for s in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if not ref.startswith("#/") or depth > 8:
            return {}
        target: Any = root
        for part in ref[2:].split("/"):
            if not isinstance(target, dict) or part not in target:
                return {}
            target = target[part]
        return inline_refs(target, root, depth + 1)
    return {k: inline_refs(v, root, depth) for k, v in schema.items()
            if k not in ("$defs", "definitions")}


def strict_schema(schema: Any) -> Any:
    """The schema as the grammar enforces it: objects with declared properties take no others
    (models invent parameters), over-long string bounds are dropped."""
    if isinstance(schema, list):
        return [strict_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict_schema(v) if k != "properties" else
           {p: strict_schema(s) for p, s in v.items()} for k, v in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if out.get("maxLength", 0) > _MAX_STRING_BOUND:
        del out["maxLength"]
    return out


def loose_schema(schema: Any) -> Any:
    """Only the shape: types, properties, required, enums; no patterns, formats or bounds."""
    if isinstance(schema, list):
        return [loose_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _LOOSE_KEYS:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {p: loose_schema(s) for p, s in value.items()}
        elif key == "type" and isinstance(value, str) and value not in (
                "object", "array", "string", "number", "integer", "boolean", "null"):
            continue
        else:
            out[key] = loose_schema(value)
    return out


def _converter() -> Any:
    from llama_cpp.llama_grammar import PRIMITIVE_RULES, RESERVED_NAMES, SchemaConverter

    class Converter(SchemaConverter):  # type: ignore[misc]
        """llama-cpp-python's converter with our pattern translator and compact lengths."""

        def _visit_pattern(self, pattern: str, name: str) -> str:
            try:
                body = regex_to_gbnf(pattern)
            except Unsupported:
                return self._add_rule(name, self._add_primitive("string",
                                                                PRIMITIVE_RULES["string"]))
            return self._add_rule(name, f'"\\"" {body} "\\"" space')

        def visit(self, schema: dict[str, Any], name: str) -> str:
            if (schema.get("type") == "string" and not {"pattern", "format", "enum", "const"}
                    & schema.keys() and ("minLength" in schema or "maxLength" in schema)):
                # GBNF has bounded repetition; the stock converter nests one group per char.
                rule_name = name + "-" if name in RESERVED_NAMES else name or "root"
                char = self._add_primitive("char", PRIMITIVE_RULES["char"])
                lo, hi = int(schema.get("minLength", 0)), schema.get("maxLength")
                return self._add_rule(
                    rule_name, f'"\\"" {char}{{{lo},{"" if hi is None else int(hi)}}} '
                               f'"\\"" space')
            return str(super().visit(schema, name))

    return Converter(prop_order={"name": 0, "arguments": 1}, allow_fetch=False, dotall=False,
                     raw_pattern=False)


def call_schema(name: str, arguments: Any) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": ["name", "arguments"],
            "properties": {"name": {"const": name}, "arguments": arguments}}


def _rules_for(converter: Any, schema: dict[str, Any], rule: str) -> str:
    return str(converter.visit(schema, rule))


def tool_argument_schemas(tools: Sequence[ToolDef],
                          compiles: Callable[[str], bool]) -> list[tuple[dict[str, Any], str]]:
    """Per tool, the strictest argument schema the grammar can carry and its level."""
    out: list[tuple[dict[str, Any], str]] = []
    for tool in tools:
        base = inline_refs(tool.input_schema or {"type": "object"})
        for level, make in (("strict", strict_schema), ("loose", loose_schema),
                            ("any", lambda _: {"type": "object"})):
            try:
                candidate = make(base)
                conv = _converter()
                root = _rules_for(conv, call_schema(tool.name, candidate), "call")
                text = conv.format_grammar() + f"\nroot ::= {root}"
            except Exception:  # the converter asserts on what it cannot express
                continue
            if compiles(text):
                out.append((candidate, level))
                break
        else:
            out.append(({"type": "object"}, "any"))
    return out


def build_grammar(tools: Sequence[ToolDef], *, parallel_calls: int = 1,
                  compiles: Callable[[str], bool] = lambda _: True,
                  final_only: bool = False) -> str:
    """GBNF: one or more calls of `tools` (tagged `<tool_call>` or bare JSON, one per line),
    or exactly one `final_answer` call."""
    final_name = final_answer_name(tools)
    conv = _converter()
    final = _rules_for(conv, call_schema(final_name, final_answer_tool(final_name).input_schema),
                       "final")
    lines = [f'final-item ::= "<tool_call>\\n" {final} "\\n</tool_call>" | {final}']
    if tools and not final_only:
        names = []
        for i, (tool, (schema, _)) in enumerate(
                zip(tools, tool_argument_schemas(tools, compiles), strict=True)):
            names.append(_rules_for(conv, call_schema(tool.name, schema), f"call-{i}"))
        lines += [f"call ::= {' | '.join(names)}",
                  'call-item ::= "<tool_call>\\n" call "\\n</tool_call>" | call']
        more = max(0, parallel_calls - 1)
        calls = "call-item" + (f' ("\\n" call-item){{0,{more}}}' if more else "")
        lines.append(f"root ::= {calls} | final-item")
    else:
        lines.append("root ::= final-item")
    return conv.format_grammar() + "\n" + "\n".join(lines) + "\n"


# --- parsing -------------------------------------------------------------------------------


@dataclass
class ParsedOutput:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    final: str | None = None
    leftover: str = ""
    """Text outside any call object (what is left of a plain-prose reply)."""


_FENCE = re.compile(r"```[a-zA-Z]*")
_TAGS = re.compile(r"</?tool_call>")


def _arguments(obj: dict[str, Any]) -> dict[str, Any]:
    raw = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return raw if isinstance(raw, dict) else {}


def parse_output(text: str, final_name: str = FINAL_ANSWER) -> ParsedOutput:
    """Calls (and a final answer) from model output, tolerant of fences, missing or extra
    tags, doubled braces and trailing chatter. Objects without a `name` are skipped."""
    cleaned = _TAGS.sub("\n", _FENCE.sub("\n", text))
    decoder = json.JSONDecoder()
    out = ParsedOutput()
    rest: list[str] = []
    i = 0
    while i < len(cleaned):
        j = cleaned.find("{", i)
        if j < 0:
            rest.append(cleaned[i:])
            break
        rest.append(cleaned[i:j])
        try:
            obj, end = decoder.raw_decode(cleaned, j)
        except ValueError:
            rest.append("{")
            i = j + 1
            continue
        i = end
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            continue
        args = _arguments(obj)
        if obj["name"] == final_name:
            value = args.get("text")
            if not isinstance(value, str):
                value = next((v for v in args.values() if isinstance(v, str)), "")
            out.final = value if out.final is None else f"{out.final}\n{value}"
        else:
            out.calls.append((obj["name"], args))
    leftover = "".join(rest).strip()
    out.leftover = "" if re.fullmatch(r"[\s{}\[\],]*", leftover) else leftover
    return out


def call_key(name: str, arguments: dict[str, Any]) -> str:
    return json.dumps([name, arguments], sort_keys=True, default=str)


def calls_this_turn(messages: Sequence[Message]) -> set[str]:
    """Keys of the calls made since the last user message."""
    seen: set[str] = set()
    for m in reversed(messages):
        if m.role == "user":
            break
        for c in m.tool_calls:
            seen.add(call_key(c.name, c.arguments))
    return seen


# --- the adapter ---------------------------------------------------------------------------


@dataclass
class Completion:
    text: str
    usage: Usage
    finish_reason: str | None


class LocalAdapter:
    """A GGUF model run in-process by llama.cpp, with grammar-constrained tool calls."""

    def __init__(self, spec: str, *, llm: Any = None):
        self.model_name, self.options = parse_spec(spec)
        self.name = f"local:{spec}"
        self._given = LoadedModel(llm=llm, name=self.model_name) if llm is not None else None
        self._sample = 0
        self._sampling: Sampling | None = None
        self._cap: int | None = None

    async def start(self, task: TaskContext) -> None:
        self._sample = task.sample
        self._sampling = task.sampling
        self._cap = task.max_tokens

    async def model(self) -> LoadedModel:
        if self._given is not None:
            return self._given
        opts = self.options
        try:
            return await anyio.to_thread.run_sync(
                lambda: load_model(self.model_name, n_ctx=opts.n_ctx, threads=opts.threads))
        except ModelError:
            raise
        except Exception as err:  # not installed, bad hash, llama.cpp failed to load
            raise ModelError(f"local:{self.model_name}: {err}") from err

    def grammar(self, model: LoadedModel, tools: Sequence[ToolDef], *,
                final_only: bool = False) -> str:
        key = call_key("grammar", {"tools": [[t.name, t.input_schema] for t in tools],
                                   "final_only": final_only,
                                   "parallel": self.options.parallel_calls})
        gbnf = model._grammars.get(key)
        if gbnf is None:
            gbnf = build_grammar(tools, parallel_calls=self.options.parallel_calls,
                                 compiles=model.grammar_compiles, final_only=final_only)
            if not model.grammar_compiles(gbnf):
                raise ModelError(f"local:{self.model_name}: llama.cpp rejected the tool grammar")
            if len(model._grammars) > 256:
                model._grammars.clear()
            model._grammars[key] = gbnf
        return gbnf

    def _complete(self, model: LoadedModel, prompt: str, gbnf: str | None) -> Completion:
        from llama_cpp import LlamaGrammar

        opts = self.options
        grammar = LlamaGrammar.from_string(gbnf, verbose=False) if gbnf is not None else None
        with model.lock:
            try:
                override = self._sampling
                out = model.llm.create_completion(
                    prompt, grammar=grammar,
                    max_tokens=min(opts.max_tokens, self._cap or opts.max_tokens),
                    temperature=override.temperature if override else opts.temperature,
                    seed=override.seed if override else opts.seed + self._sample)
            except ValueError as err:  # e.g. the prompt exceeds the context window
                raise ModelError(f"local:{self.model_name}: {err}") from err
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Completion(text=choice.get("text") or "",
                          usage=Usage(input_tokens=usage.get("prompt_tokens") or 0,
                                      output_tokens=usage.get("completion_tokens") or 0),
                          finish_reason=choice.get("finish_reason"))

    async def _generate(self, model: LoadedModel, prompt: str, gbnf: str | None) -> Completion:
        return await anyio.to_thread.run_sync(self._complete, model, prompt, gbnf)

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        model = await self.model()
        try:
            prompt = render_prompt(model.chat_template, messages, tools)
        except Exception as err:  # jinja2's errors, or the template's own refusal
            raise ModelError(f"local:{self.model_name}: chat template failed: {err}") from err
        if not tools:
            # Nothing to call: a plain chat reply, unconstrained, as any other backend gives.
            # (Wrapped in a `final_answer` string, small models described code instead of
            # writing it.)
            plain = await self._generate(model, prompt, None)
            return Reply(text=plain.text.strip(), usage=plain.usage,
                         stop_reason="length" if plain.finish_reason == "length" else "end_turn")
        final_name = final_answer_name(tools)
        done = await self._generate(model, prompt, self.grammar(model, tools))
        usage = done.usage
        parsed = parse_output(done.text, final_name)

        seen = calls_this_turn(messages)
        calls: list[ToolCall] = []
        repeated: list[str] = []
        for name, args in parsed.calls:
            key = call_key(name, args)
            if key in seen:
                repeated.append(name)
                continue
            seen.add(key)
            calls.append(ToolCall(id=f"call_t{turn}s{step}c{len(calls)}", name=name,
                                  arguments=args))
        if calls:
            return Reply(text=parsed.final or "", tool_calls=calls, usage=usage,
                         stop_reason="tool_calls")
        if parsed.final is not None:
            return Reply(text=parsed.final, usage=usage, stop_reason="final_answer")
        if repeated:
            # The model would loop: ask it for its reply instead, from the same prompt.
            forced = await self._generate(model, prompt,
                                          self.grammar(model, tools, final_only=True))
            usage = usage + forced.usage
            answer = parse_output(forced.text, final_name)
            return Reply(text=answer.final or answer.leftover, usage=usage,
                         stop_reason=f"repeated_call:{repeated[0]}")
        # Unparseable: generation was cut off (or a fake model said prose). Relay the text.
        return Reply(text=parsed.leftover or done.text.strip(), usage=usage,
                     stop_reason="length" if done.finish_reason == "length" else "unparsed")
