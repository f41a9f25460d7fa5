"""Model specs as the CLI takes them: `anthropic:MODEL`, `openai:MODEL@URL`,
`local:qwen2.5-coder-1.5b`, `replay:FILE`, `oracle`, `noop`.

A spec becomes a factory of adapters: concurrent workers each get their own instance (scripted
adapters keep per-task state); heavy resources such as a local model are shared by the
adapters themselves.
"""

from __future__ import annotations

from collections.abc import Callable

from clients.models.base import ModelAdapter

AdapterFactory = Callable[[], ModelAdapter]


def adapter_factory(spec: str) -> AdapterFactory:
    kind, _, rest = spec.partition(":")
    if kind == "oracle" and not rest:
        from clients.models.scripted import OracleAdapter

        return OracleAdapter
    if kind == "noop" and not rest:
        from clients.models.scripted import NoopAdapter

        return NoopAdapter
    if kind == "replay" and rest:
        from clients.models.scripted import ReplayAdapter, load_result_file

        load_result_file(rest)  # fail now, not in a worker, if the file is bad
        return lambda: ReplayAdapter(rest)
    if kind == "anthropic" and rest:
        from clients.models.anthropic_api import AnthropicAdapter
        from clients.models.retry import RetryingAdapter

        return lambda: RetryingAdapter(AnthropicAdapter(rest))
    if kind == "openai" and "@" in rest:
        from clients.models.openai_api import OpenAICompatAdapter
        from clients.models.retry import RetryingAdapter

        model, _, url = rest.partition("@")
        return lambda: RetryingAdapter(OpenAICompatAdapter(model, url))
    if kind == "local" and rest:
        from clients.models.local import LocalAdapter

        return lambda: LocalAdapter(rest)
    raise ValueError(
        f"unknown model spec {spec!r}; use anthropic:MODEL, openai:MODEL@URL, "
        "local:qwen2.5-coder-0.5b|qwen2.5-coder-1.5b, replay:FILE, oracle or noop"
    )
