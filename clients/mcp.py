"""MCP-client helpers: connect to a published deployment in-memory, over stdio or HTTP, and
make calls bound to an episode (the binding travels in the request `_meta`, which a model
never sees)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

from servers.episodes import EPISODE_META_KEY


def stdio_client(domains: list[str], *, extra_args: list[str] | None = None,
                 env: Mapping[str, str] | None = None, mode: str = "auto") -> Client:
    """A client that spawns `eigen serve DOMAINS --transport stdio` with this interpreter."""
    transport = StdioTransport(
        command=sys.executable,
        args=["-m", "eigencore.cli", "serve", ",".join(domains), "--transport", "stdio",
              *(extra_args or [])],
        env=dict(env) if env else None,
    )
    return Client(transport, mode=mode)  # type: ignore[arg-type]


def http_client(url: str, *, token: str | None = None, mode: str = "auto",
                headers: Mapping[str, str] | None = None) -> Client:
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    return Client(StreamableHttpTransport(url, headers=h), mode=mode)  # type: ignore[arg-type]


def episode_meta(episode: str | None) -> dict[str, Any] | None:
    return {EPISODE_META_KEY: episode} if episode else None


async def call(client: Client, tool: str, arguments: Mapping[str, Any],
               episode: str | None = None) -> Any:
    """Call a tool, bound to `episode` when given; errors come back as results, not raises."""
    return await client.call_tool(tool, dict(arguments), meta=episode_meta(episode),
                                  raise_on_error=False)
