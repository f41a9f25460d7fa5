"""The HTTP adapters against fake Anthropic / OpenAI servers speaking the real wire formats."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from clients.models.anthropic_api import AnthropicAdapter, to_anthropic, wire_id
from clients.models.base import (
    Message,
    ModelError,
    Reply,
    Sampling,
    TaskContext,
    ToolCall,
    ToolDef,
)
from clients.models.openai_api import (
    MALFORMED_ARGUMENTS,
    OpenAICompatAdapter,
    endpoint,
    malformed_arguments,
)
from clients.models.retry import RateLimited, RetryingAdapter, parse_retry_after
from tests.models.fake_servers import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    Canned,
    Fake,
    anthropic_app,
    openai_app,
    serving,
)

pytestmark = pytest.mark.anyio

TOOLS = [
    ToolDef(name="find_city", description="Find a city id.",
            input_schema={"type": "object", "properties": {"name": {"type": "string"}},
                          "required": ["name"]}),
    ToolDef(name="get_weather", description="Weather for a city id.",
            input_schema={"type": "object", "properties": {"city_id": {"type": "integer"}},
                          "required": ["city_id"]}),
]
SYSTEM = "You are a careful assistant."


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def _anthropic_server() -> Iterator[tuple[str, Fake]]:
    fake = Fake(ANTHROPIC_KEY)
    with serving(anthropic_app(fake)) as url:
        yield url, fake


@pytest.fixture(scope="module")
def _openai_server() -> Iterator[tuple[str, Fake]]:
    fake = Fake(OPENAI_KEY)
    with serving(openai_app(fake)) as url:
        yield url, fake


@pytest.fixture
def anth(_anthropic_server: tuple[str, Fake]) -> tuple[str, Fake]:
    _anthropic_server[1].reset()
    return _anthropic_server


@pytest.fixture
def oai(_openai_server: tuple[str, Fake]) -> tuple[str, Fake]:
    _openai_server[1].reset()
    return _openai_server


class Sleeps:
    """A fake `sleep` for RetryingAdapter: records the delays, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def add_step(messages: list[Message], reply: Reply, results: dict[str, tuple[str, bool]]
             ) -> None:
    """What a harness does after a step: the assistant message, then one tool message per call."""
    messages.append(Message(role="assistant", content=reply.text, tool_calls=reply.tool_calls))
    for call in reply.tool_calls:
        content, is_error = results[call.name]
        messages.append(Message(role="tool", content=content, tool_call_id=call.id,
                                is_error=is_error))


# -- Anthropic --------------------------------------------------------------------------------

async def test_anthropic_three_step_tool_loop(anth: tuple[str, Fake]) -> None:
    url, fake = anth
    fake.script(
        Canned(text="Let me look the city up.", calls=[("find_city", {"name": "Paris"})],
               usage=(100, 20)),
        Canned(calls=[("get_weather", {"city_id": 7}), ("find_city", {"name": "Lyon"})],
               usage=(150, 30)),
        Canned(text="It is sunny in Paris.", usage=(200, 12)),
    )
    adapter = AnthropicAdapter("claude-test", api_key=ANTHROPIC_KEY, base_url=url)
    messages = [Message(role="system", content=SYSTEM),
                Message(role="user", content="Weather in Paris?")]
    replies = []
    try:
        for step in range(3):
            reply = await adapter.respond(messages, TOOLS, turn=0, step=step)
            replies.append(reply)
            add_step(messages, reply, {"find_city": ('{"city_id": 7}', False),
                                       "get_weather": ("sunny", False)} if step == 0 else
                     {"get_weather": ("sunny", False), "find_city": ("no such city", True)})
    finally:
        await adapter.aclose()

    assert fake.errors == [] and len(fake.served) == 3
    assert replies[0].text == "Let me look the city up." and replies[0].stop_reason == "tool_use"
    assert [c.name for c in replies[1].tool_calls] == ["get_weather", "find_city"]
    assert replies[1].tool_calls[0].arguments == {"city_id": 7}
    assert replies[2].text == "It is sunny in Paris." and replies[2].tool_calls == []
    assert replies[2].stop_reason == "end_turn"
    total = replies[0].usage + replies[1].usage + replies[2].usage
    assert (total.input_tokens, total.output_tokens) == (450, 62)

    first, last = fake.served[0], fake.served[2]
    assert first.headers["authorization"] == f"Bearer {ANTHROPIC_KEY}"
    assert first.headers["anthropic-version"]
    assert first.body["system"] == SYSTEM and first.body["model"] == "claude-test"
    assert first.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]}]
    assert first.body["tools"][1] == {"name": "get_weather",
                                      "description": "Weather for a city id.",
                                      "input_schema": TOOLS[1].input_schema}
    ids = [c.id for r in replies[:2] for c in r.tool_calls]
    assert last.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me look the city up."},
            {"type": "tool_use", "id": ids[0], "name": "find_city", "input": {"name": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": ids[0], "content": '{"city_id": 7}'}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": ids[1], "name": "get_weather", "input": {"city_id": 7}},
            {"type": "tool_use", "id": ids[2], "name": "find_city", "input": {"name": "Lyon"}}]},
        # both results of the parallel step in ONE user message, the error flagged
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": ids[1], "content": "sunny"},
            {"type": "tool_result", "tool_use_id": ids[2], "content": "no such city",
             "is_error": True}]},
    ]


async def test_anthropic_user_text_after_tool_results_joins_their_message(
        anth: tuple[str, Fake]) -> None:
    url, fake = anth
    fake.script(Canned(text="ok"))
    messages = [
        Message(role="system", content="A"),
        Message(role="user", content="first"),
        Message(role="assistant", tool_calls=[ToolCall(id="call:1.a", name="find_city",
                                                       arguments={"name": "X"})]),
        Message(role="tool", content="42", tool_call_id="call:1.a"),
        Message(role="system", content="B"),
        Message(role="user", content="I have updated some more functions."),
    ]
    adapter = AnthropicAdapter("claude-test", api_key=ANTHROPIC_KEY, base_url=url)
    try:
        reply = await adapter.respond(messages, TOOLS, turn=1, step=0)
    finally:
        await adapter.aclose()
    assert reply.text == "ok" and fake.errors == []
    body = fake.served[0].body
    assert body["system"] == "A\n\nB"
    safe = wire_id("call:1.a")
    assert safe != "call:1.a" and safe == wire_id("call:1.a")
    assert body["messages"][1]["content"][0]["id"] == safe
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": safe, "content": "42"},
        {"type": "text", "text": "I have updated some more functions."}]}


def test_to_anthropic_merges_and_drops() -> None:
    system, wire = to_anthropic([
        Message(role="user", content="a"), Message(role="user", content="b"),
        Message(role="assistant", content=""),  # nothing to say: dropped
        Message(role="user", content="c"),
    ])
    assert system is None
    assert wire == [{"role": "user", "content": [{"type": "text", "text": t}
                                                 for t in ("a", "b", "c")]}]


async def test_anthropic_thinking_blocks_are_sent_back_with_their_tool_use(
        anth: tuple[str, Fake]) -> None:
    url, fake = anth
    fake.script(Canned(thinking="I need the city.", calls=[("find_city", {"name": "Oslo"})]),
                Canned(text="done"))
    adapter = AnthropicAdapter("claude-test", api_key=ANTHROPIC_KEY, base_url=url)
    messages = [Message(role="user", content="go")]
    try:
        reply = await adapter.respond(messages, TOOLS, turn=0, step=0)
        assert reply.text == ""  # thinking is not answer text
        add_step(messages, reply, {"find_city": ("1", False)})
        assert (await adapter.respond(messages, TOOLS, turn=0, step=1)).text == "done"
    finally:
        await adapter.aclose()
    assert fake.errors == []  # the fake rejects a tool_use whose thinking was not echoed
    assert fake.served[1].body["messages"][1]["content"][0]["type"] == "thinking"


@pytest.mark.parametrize(("status", "retry_after"), [(429, "7"), (500, None), (529, None)])
async def test_anthropic_retries_transient_errors(anth: tuple[str, Fake], status: int,
                                                  retry_after: str | None) -> None:
    url, fake = anth
    fake.fail_next(2, status, retry_after=retry_after)
    fake.script(Canned(text="finally"))
    sleeps = Sleeps()
    adapter = RetryingAdapter(AnthropicAdapter("claude-test", api_key=ANTHROPIC_KEY,
                                               base_url=url), sleep=sleeps)
    try:
        reply = await adapter.respond([Message(role="user", content="hi")], TOOLS, turn=0,
                                      step=0)
    finally:
        await adapter.aclose()
    assert reply.text == "finally"
    assert adapter.last_retries == adapter.retries == 2 and len(sleeps.delays) == 2
    assert [r.status for r in fake.requests] == [status, status, 200]
    assert str(status) in adapter.retry_log[0]
    if retry_after:
        assert all(d >= 7 for d in sleeps.delays)
    else:
        assert all(d <= 1 for d in sleeps.delays)


async def test_anthropic_no_retry_on_401_and_400(anth: tuple[str, Fake]) -> None:
    url, fake = anth
    sleeps = Sleeps()
    bad_key = RetryingAdapter(AnthropicAdapter("claude-test", api_key="wrong", base_url=url),
                              sleep=sleeps)
    with pytest.raises(ModelError) as info:
        await bad_key.respond([Message(role="user", content="hi")], TOOLS, turn=0, step=0)
    await bad_key.aclose()
    assert not info.value.retryable and "401" in str(info.value)
    assert "invalid x-api-key" in str(info.value)

    # A tool result with no tool_use before it: the API's own 400, not retried.
    adapter = RetryingAdapter(AnthropicAdapter("claude-test", api_key=ANTHROPIC_KEY,
                                               base_url=url), sleep=sleeps)
    orphan = [Message(role="user", content="hi"),
              Message(role="tool", content="x", tool_call_id="toolu_nowhere")]
    with pytest.raises(ModelError) as info:
        await adapter.respond(orphan, TOOLS, turn=0, step=0)
    await adapter.aclose()
    assert not info.value.retryable and "400" in str(info.value)
    assert "tool_use_id" in str(info.value)
    assert sleeps.delays == [] and len(fake.requests) == 2


async def test_anthropic_gives_up_after_attempts(anth: tuple[str, Fake]) -> None:
    url, fake = anth
    fake.fail_next(10, 529)
    sleeps = Sleeps()
    adapter = RetryingAdapter(AnthropicAdapter("claude-test", api_key=ANTHROPIC_KEY,
                                               base_url=url), attempts=3, sleep=sleeps)
    with pytest.raises(ModelError) as info:
        await adapter.respond([Message(role="user", content="hi")], TOOLS, turn=0, step=0)
    await adapter.aclose()
    assert info.value.retryable and "529" in str(info.value) and "Overloaded" in str(info.value)
    assert len(fake.requests) == 3 and adapter.retries == 2


async def test_anthropic_timeout_is_retryable(anth: tuple[str, Fake]) -> None:
    url, fake = anth
    fake.stall_next(0.8)
    fake.script(Canned(text="after the stall"))
    inner = AnthropicAdapter("claude-test", api_key=ANTHROPIC_KEY, base_url=url, timeout=0.2)
    with pytest.raises(ModelError) as info:
        await inner.respond([Message(role="user", content="hi")], TOOLS, turn=0, step=0)
    assert info.value.retryable and "timed out" in str(info.value)
    fake.stall_next(0.8)
    adapter = RetryingAdapter(inner, sleep=Sleeps())
    reply = await adapter.respond([Message(role="user", content="hi")], TOOLS, turn=0, step=0)
    await adapter.aclose()
    assert reply.text == "after the stall" and adapter.retries == 1


async def test_anthropic_key_from_env_or_clear_error(anth: tuple[str, Fake],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    url, fake = anth
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ModelError, match="ANTHROPIC_API_KEY") as info:
        AnthropicAdapter("claude-test", base_url=url)
    assert not info.value.retryable
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    fake.script(Canned(text="hello"))
    adapter = AnthropicAdapter("claude-test", base_url=url, temperature=0.0)
    try:
        assert (await adapter.respond([Message(role="user", content="hi")], [], turn=0,
                                      step=0)).text == "hello"
    finally:
        await adapter.aclose()
    body = fake.served[0].body
    assert body["temperature"] == 0.0 and "tools" not in body


async def test_connection_refused_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once closed
    for adapter in (AnthropicAdapter("m", api_key="k", base_url=url, timeout=2),
                    OpenAICompatAdapter("m", url, timeout=2)):
        with pytest.raises(ModelError) as info:
            await adapter.respond([Message(role="user", content="hi")], TOOLS, turn=0, step=0)
        await adapter.aclose()
        assert info.value.retryable and "connection" in str(info.value).lower()


# -- OpenAI-compatible ------------------------------------------------------------------------

async def test_openai_three_step_tool_loop(oai: tuple[str, Fake]) -> None:
    url, fake = oai
    fake.script(
        Canned(calls=[("find_city", {"name": "Paris"})], usage=(100, 20)),
        Canned(text="Checking both.", calls=[("get_weather", {"city_id": 7}),
                                             ("find_city", {"name": "Lyon"})], usage=(150, 30)),
        Canned(text="It is sunny in Paris.", usage=(200, 12)),
    )
    adapter = OpenAICompatAdapter("qwen-test", url + "/v1/", api_key=OPENAI_KEY)
    messages = [Message(role="system", content=SYSTEM),
                Message(role="user", content="Weather in Paris?")]
    replies = []
    try:
        for step in range(3):
            reply = await adapter.respond(messages, TOOLS, turn=0, step=step)
            replies.append(reply)
            add_step(messages, reply, {"find_city": ('{"city_id": 7}', False),
                                       "get_weather": ("sunny", False)} if step == 0 else
                     {"get_weather": ("sunny", False), "find_city": ("no such city", True)})
    finally:
        await adapter.aclose()

    assert fake.errors == [] and len(fake.served) == 3
    assert replies[0].text == "" and replies[0].stop_reason == "tool_calls"
    assert replies[1].tool_calls[1].arguments == {"name": "Lyon"}
    assert replies[2].text == "It is sunny in Paris." and replies[2].stop_reason == "stop"
    total = replies[0].usage + replies[1].usage + replies[2].usage
    assert (total.input_tokens, total.output_tokens) == (450, 62)

    first, last = fake.served[0], fake.served[2]
    assert first.path == "/v1/chat/completions"
    assert first.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert first.body["tools"][0] == {"type": "function", "function": {
        "name": "find_city", "description": "Find a city id.",
        "parameters": TOOLS[0].input_schema}}
    assert first.body["tool_choice"] == "auto" and first.body["temperature"] == 0.0
    assert first.body["max_tokens"] == 1024
    ids = [c.id for r in replies[:2] for c in r.tool_calls]
    assert last.body["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": ids[0], "type": "function",
             "function": {"name": "find_city", "arguments": '{"name": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": ids[0], "content": '{"city_id": 7}'},
        {"role": "assistant", "content": "Checking both.", "tool_calls": [
            {"id": ids[1], "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city_id": 7}'}},
            {"id": ids[2], "type": "function",
             "function": {"name": "find_city", "arguments": '{"name": "Lyon"}'}}]},
        {"role": "tool", "tool_call_id": ids[1], "content": "sunny"},
        {"role": "tool", "tool_call_id": ids[2], "content": "Error: no such city"},
    ]


async def test_openai_malformed_arguments_are_marked_and_echoed_verbatim(
        oai: tuple[str, Fake]) -> None:
    url, fake = oai
    raw = '{"name": "Par'
    fake.script(Canned(calls=[("find_city", raw), ("get_weather", "[7]"),
                              ("find_city", "")]),
                Canned(text="sorry"))
    adapter = OpenAICompatAdapter("qwen-test", url, api_key=OPENAI_KEY)
    messages = [Message(role="user", content="go")]
    try:
        reply = await adapter.respond(messages, TOOLS, turn=0, step=0)
        bad, not_object, empty = reply.tool_calls
        assert bad.arguments == {MALFORMED_ARGUMENTS: raw} and malformed_arguments(bad) == raw
        assert malformed_arguments(not_object) == "[7]"
        assert empty.arguments == {} and malformed_arguments(empty) is None
        messages.append(Message(role="assistant", tool_calls=reply.tool_calls))
        for call in reply.tool_calls:
            messages.append(Message(role="tool", tool_call_id=call.id, is_error=True,
                                    content="Your arguments were not valid JSON."))
        assert (await adapter.respond(messages, TOOLS, turn=0, step=1)).text == "sorry"
    finally:
        await adapter.aclose()
    sent = fake.served[1].body["messages"][1]["tool_calls"]
    assert [c["function"]["arguments"] for c in sent] == [raw, "[7]", "{}"]


@pytest.mark.parametrize(("status", "retry_after"), [(429, "3"), (500, None), (503, None)])
async def test_openai_retries_transient_errors(oai: tuple[str, Fake], status: int,
                                               retry_after: str | None) -> None:
    url, fake = oai
    fake.fail_next(2, status, retry_after=retry_after)
    fake.script(Canned(text="finally"))
    sleeps = Sleeps()
    adapter = RetryingAdapter(OpenAICompatAdapter("m", url, api_key=OPENAI_KEY), sleep=sleeps)
    try:
        reply = await adapter.respond([Message(role="user", content="hi")], TOOLS, turn=0,
                                      step=0)
    finally:
        await adapter.aclose()
    assert reply.text == "finally" and adapter.retries == 2
    assert [r.status for r in fake.requests] == [status, status, 200]
    if retry_after:
        assert sleeps.delays and all(d >= 3 for d in sleeps.delays)


async def test_openai_no_retry_on_4xx_and_error_body_in_message(oai: tuple[str, Fake]) -> None:
    url, fake = oai
    sleeps = Sleeps()
    adapter = RetryingAdapter(OpenAICompatAdapter("m", url, api_key="wrong"), sleep=sleeps)
    with pytest.raises(ModelError) as info:
        await adapter.respond([Message(role="user", content="hi")], TOOLS, turn=0, step=0)
    assert not info.value.retryable and "401" in str(info.value)
    assert "invalid_api_key" in str(info.value)
    await adapter.aclose()

    fake.fail_next(1, 400, message="This model's maximum context length is 8192 tokens.")
    adapter = RetryingAdapter(OpenAICompatAdapter("m", url, api_key=OPENAI_KEY), sleep=sleeps)
    with pytest.raises(ModelError) as info:
        await adapter.respond([Message(role="user", content="hi")], TOOLS, turn=0, step=0)
    await adapter.aclose()
    assert not info.value.retryable and "maximum context length" in str(info.value)
    assert sleeps.delays == [] and len(fake.requests) == 2


async def test_openai_timeout_is_retryable(oai: tuple[str, Fake]) -> None:
    url, fake = oai
    fake.stall_next(0.8)
    adapter = OpenAICompatAdapter("m", url, api_key=OPENAI_KEY, timeout=0.2)
    with pytest.raises(ModelError) as info:
        await adapter.respond([Message(role="user", content="hi")], TOOLS, turn=0, step=0)
    await adapter.aclose()
    assert info.value.retryable and "timed out" in str(info.value)


async def test_openai_without_key_or_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    fake = Fake(api_key=None)  # a local server that needs no key
    with serving(openai_app(fake)) as url:
        fake.script(Canned(text="local"))
        adapter = OpenAICompatAdapter("m", url, temperature=None, max_tokens=None,
                                      tool_choice=None)
        try:
            reply = await adapter.respond([Message(role="user", content="hi")], [], turn=0,
                                          step=0)
        finally:
            await adapter.aclose()
    assert reply.text == "local" and fake.errors == []
    body, headers = fake.served[0].body, fake.served[0].headers
    assert "authorization" not in headers
    assert set(body) == {"model", "messages"}  # no tools → no tool_choice either


async def test_a_sampling_override_reaches_the_wire(oai: tuple[str, Fake],
                                                   anth: tuple[str, Fake]) -> None:
    """The synthesis agents ask again sampled when a greedy model is stuck: the override
    (TaskContext.sampling) replaces the adapter's temperature for that task only."""
    ask = [Message(role="user", content="hi")]
    (ourl, ofake), (aurl, afake) = oai, anth
    ofake.script(Canned(text="a"), Canned(text="b"))
    afake.script(Canned(text="a"), Canned(text="b"))
    oa = OpenAICompatAdapter("m", ourl, api_key=OPENAI_KEY)
    an = AnthropicAdapter("claude-test", base_url=aurl, api_key=ANTHROPIC_KEY, temperature=0.0)
    try:
        for adapter in (oa, an):
            await adapter.start(TaskContext(task_id="t", max_tokens=200,
                                            sampling=Sampling(temperature=0.8, seed=3)))
            await adapter.respond(ask, [], turn=0, step=0)
            await adapter.start(TaskContext(task_id="t"))
            await adapter.respond(ask, [], turn=0, step=0)
    finally:
        await oa.aclose()
        await an.aclose()
    sampled, plain = (s.body for s in ofake.served)
    assert (sampled["temperature"], sampled["seed"], sampled["max_tokens"]) == (0.8, 3, 200)
    assert plain["temperature"] == 0.0 and "seed" not in plain and plain["max_tokens"] == 1024
    assert [s.body["temperature"] for s in afake.served] == [0.8, 0.0]
    assert [s.body["max_tokens"] for s in afake.served] == [200, 1024]


# -- pure helpers -----------------------------------------------------------------------------

def test_endpoint_rule() -> None:
    assert endpoint("http://h:8000") == "http://h:8000/v1/chat/completions"
    assert endpoint("http://h:8000/") == "http://h:8000/v1/chat/completions"
    assert endpoint("http://h:8000/v1") == "http://h:8000/v1/chat/completions"
    assert endpoint("http://h:11434/v1/") == "http://h:11434/v1/chat/completions"
    assert endpoint("http://h/x/v1/chat/completions") == "http://h/x/v1/chat/completions"


def test_parse_retry_after() -> None:
    assert parse_retry_after(httpx.Headers({"retry-after": "2.5"})) == 2.5
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "1500",
                                            "retry-after": "9"})) == 1.5
    assert parse_retry_after(httpx.Headers({})) is None
    assert parse_retry_after(httpx.Headers({"retry-after": "soon"})) is None
    when = parse_retry_after(httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert when == 0.0


async def test_retrying_backoff_schedule() -> None:
    class Flaky:
        name = "flaky"

        def __init__(self) -> None:
            self.calls = 0

        async def start(self, task: object) -> None: ...

        async def respond(self, *args: object, **kwargs: object) -> Reply:
            self.calls += 1
            if self.calls < 5:
                raise ModelError("boom", retryable=True)
            return Reply(text="ok")

    sleeps = Sleeps()
    adapter = RetryingAdapter(Flaky(), attempts=5, base_delay=1, max_delay=5, jitter=False,
                              sleep=sleeps)
    assert (await adapter.respond([], [], turn=0, step=0)).text == "ok"
    assert sleeps.delays == [1, 2, 4, 5] and adapter.retries == 4
    hinted = RetryingAdapter(Flaky(), jitter=False, sleep=sleeps, max_retry_after=30)
    assert hinted.delay(0, RateLimited("x", retry_after=1000)) == 30


# -- the fakes reject what the real APIs reject -------------------------------------------------

_HEADERS = {"authorization": f"Bearer {ANTHROPIC_KEY}", "anthropic-version": "2023-06-01"}
_USE = {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                                          "name": "find_city", "input": {}}]}
_TOOLS = [{"name": "find_city", "input_schema": {"type": "object"}}]


def _result(tid: str) -> dict:
    return {"type": "tool_result", "tool_use_id": tid, "content": "x"}


@pytest.mark.parametrize(("headers", "messages", "needle"), [
    ({"x-api-key": ANTHROPIC_KEY}, [{"role": "user", "content": "hi"}], "anthropic-version"),
    ({"anthropic-version": "2023-06-01"}, [{"role": "user", "content": "hi"}], "x-api-key"),
    (_HEADERS, [{"role": "system", "content": "hi"}], "role"),
    (_HEADERS, [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
     "alternate"),
    # results of one step split over two user messages, as a naive conversion would send them
    (_HEADERS, [{"role": "user", "content": "a"}, _USE,
                {"role": "user", "content": [_result("toolu_1")]},
                {"role": "user", "content": [_result("toolu_2")]}], "alternate"),
    (_HEADERS, [{"role": "user", "content": "a"}, _USE, {"role": "user", "content": "b"}],
     "without `tool_result`"),
    (_HEADERS, [{"role": "user", "content": "a"}, _USE,
                {"role": "user", "content": [{"type": "text", "text": "b"},
                                             _result("toolu_1")]}], "must come first"),
    (_HEADERS, [{"role": "user", "content": " "}], "non-empty"),
])
def test_fake_anthropic_rejects_like_the_api(_anthropic_server: tuple[str, Fake],
                                             headers: dict, messages: list, needle: str) -> None:
    url, fake = _anthropic_server
    fake.reset()
    body = {"model": "m", "max_tokens": 10, "messages": messages, "tools": _TOOLS}
    r = httpx.post(url + "/v1/messages", json=body, headers=headers)
    assert r.status_code in (400, 401) and r.json()["type"] == "error"
    assert needle in r.json()["error"]["message"]


@pytest.mark.parametrize(("messages", "needle"), [
    ([{"role": "user", "content": "a"}, {"role": "tool", "tool_call_id": "c1", "content": "x"}],
     "preceeding message with 'tool_calls'"),
    ([{"role": "user", "content": "a"},
      {"role": "assistant", "content": None, "tool_calls": [
          {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {}}}]}],
     "expected a string"),
    ([{"role": "user", "content": "a"},
      {"role": "assistant", "content": None, "tool_calls": [
          {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "user", "content": "b"}], "did not have response messages"),
])
def test_fake_openai_rejects_like_the_api(_openai_server: tuple[str, Fake], messages: list,
                                          needle: str) -> None:
    url, fake = _openai_server
    fake.reset()
    r = httpx.post(url + "/v1/chat/completions", json={"model": "m", "messages": messages},
                   headers={"authorization": f"Bearer {OPENAI_KEY}"})
    assert r.status_code == 400 and needle in r.json()["error"]["message"]
