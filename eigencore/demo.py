"""The main job on embedded defaults, no keys and nothing to start by hand.

1. Publishes the showcase domain in-memory, as a stdio subprocess and over HTTP on 127.0.0.1,
   runs a circulation-desk episode through MCP on each, and shows that a bad call changes
   nothing, that two episodes never see each other's writes, and the state diff.
2. Evaluates the scripted baselines (reference oracle, do-nothing) on the showcase suite and on
   BFCL-V3 multi-turn tasks (release fetched and hash-checked on first use) against live MCP
   servers, outcome-aware verdicts beside BFCL's own, and writes a leaderboard and an HTML
   report.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
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
    print("\nThe same environment served in-memory, over stdio and over HTTP.")
    return 0


async def evaluate(out: Path, per_category: int) -> None:
    from clients.models.specs import adapter_factory
    from eigencore.evaluation.report import html_report, leaderboard
    from eigencore.evaluation.runner import RunConfig, run_suite
    from eigencore.evaluation.store import RunStore
    from eigencore.evaluation.suites import load_suite

    out.mkdir(parents=True, exist_ok=True)
    db = out / "demo.db"
    for stale in (db, db.with_name("demo.db-wal"), db.with_name("demo.db-shm")):
        stale.unlink(missing_ok=True)
    store = RunStore(db)
    bfcl = load_suite("bfcl-v3")
    per_cat: dict[str, int] = {}
    picked = [t for t in bfcl if per_cat.setdefault(t.category, 0) < per_category
              and not per_cat.__setitem__(t.category, per_cat[t.category] + 1)]
    suites = {"library-demo": load_suite("library-demo"), "bfcl-v3": picked}
    runs = []
    for suite, tasks in suites.items():
        for model in ("oracle", "noop"):
            print(f"\nevaluating {model} on {suite} ({len(tasks)} tasks, live MCP servers)")
            config = RunConfig(model=model, suite=suite, concurrency=4)
            runs.append(await run_suite(tasks, adapter_factory(model), store, config,
                                        progress=False))
    print()
    print(leaderboard(store, runs))
    html = html_report(store, runs, out / "demo-report.html")
    print(f"\nHTML report: {html}\nrun store: {db} (eigen eval report --store {db})")


def run(out: str = "runs", per_category: int = 25) -> int:
    code = anyio.run(main)
    anyio.run(evaluate, Path(out), per_category)
    return code
