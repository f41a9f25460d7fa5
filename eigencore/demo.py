"""The main job on embedded defaults: publish the showcase domain and exercise it for real.

Starts the library environment in-memory, as a stdio subprocess and over HTTP on 127.0.0.1,
runs a scripted circulation-desk episode through MCP on each, shows that a bad call changes
nothing, that two episodes never see each other's writes, and prints the state diff.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
from fastmcp import Client

from clients.mcp import call, http_client, stdio_client
from environments import registry
from servers.transports import ADMIN_PATH, DOMAIN_PATH, deploy, quiet_logs, running_http

SCRIPT: list[tuple[str, dict[str, Any]]] = [
    ("search_catalog", {"query": "tolkien"}),
    ("get_member", {"card_number": "C-1002"}),
    ("return_copy", {"barcode": "B10007"}),
    ("pay_fine", {"card_number": "C-1002", "amount_cents": 325}),
    ("checkout", {"card_number": "C-1002", "barcode": "B10008"}),
    ("checkout", {"card_number": "C-1010", "barcode": "B10003"}),  # suspended: refused
    ("pay_fine", {"card_number": "C-1002", "amount_cents": -5}),  # invalid: refused
]


def _short(result: Any) -> str:
    data = result.structured_content
    text = json.dumps(data if data is not None else [c.text for c in result.content])
    return ("ERROR " if result.is_error else "") + (text[:110] + "..." if len(text) > 110 else text)


async def _run_script(client: Client, label: str, episode: str | None = None) -> float:
    tools = await client.list_tools()
    print(f"\n[{label}] {len(tools)} tools: {', '.join(t.name for t in tools)}")
    t0 = time.perf_counter()
    for name, args in SCRIPT:
        r = await call(client, name, args, episode)
        print(f"  {name}({', '.join(f'{k}={v!r}' for k, v in args.items())}) -> {_short(r)}")
    return (time.perf_counter() - t0) * 1000 / len(SCRIPT)


async def main() -> int:
    quiet_logs()
    bundle = registry.get("library")
    dep = deploy([bundle])
    print(f"EigenData demo: domain '{bundle.name}' — {bundle.description}")

    # In-memory: an explicit episode opened on the admin surface, plus a second one.
    async with Client(dep.admin) as admin, Client(dep.server) as agent:
        a = (await admin.call_tool("open_episode", {})).structured_content["episode"]
        b = (await admin.call_tool("open_episode", {})).structured_content["episode"]
        ms = await _run_script(agent, f"in-memory, episode {a}", a)
        d = (await admin.call_tool("diff", {"episode": a})).structured_content
        print(f"\nState diff of episode {a} (comparison rules applied):\n{d['library']['text']}")
        other = (await admin.call_tool("diff", {"episode": b})).structured_content
        print(f"Episode {b} saw: {other['library']['text']}  (isolation)")
        print(f"in-memory: {ms:.2f} ms per call")

    # stdio: a real subprocess speaking MCP over its pipes.
    async with stdio_client([bundle.name]) as client:
        ms = await _run_script(client, "stdio subprocess")
        res = await client.read_resource("state://library/diff")
        n = len(json.loads(res[0].text)["diff"]["changes"])
        print(f"stdio: {ms:.2f} ms per call; state://library/diff lists {n} changed rows")

    # Streamable HTTP on loopback with a bearer token; the admin surface has its own path.
    token = "demo-token"
    async with running_http(deploy([bundle], unbound="reject"), token=token) as url:
        async with http_client(url + ADMIN_PATH, token=token) as admin:
            ep = (await admin.call_tool("open_episode", {})).structured_content["episode"]
            async with http_client(url + DOMAIN_PATH, token=token) as client:
                ms = await _run_script(client, f"HTTP {url}{DOMAIN_PATH}", ep)
            d = (await admin.call_tool("diff", {"episode": ep})).structured_content
            print(f"HTTP: {ms:.2f} ms per call; {len(d['library']['changes'])} changed rows")
    print("\nDone: the same environment served in-memory, over stdio and over HTTP.")
    return 0


def run() -> int:
    return anyio.run(main)
