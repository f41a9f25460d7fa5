"""BFCL replay benchmark: all ground-truth trajectories (800 entries, four categories), in one
run on one machine, three ways:

1. the original BFCL classes in-process (fresh instances per entry),
2. our SQLite port in-process (a fresh isolated database per class per entry), both on first
   use of each scenario (its database is built) and with the built scenarios cached, as a
   server serving many episodes of the same tasks has them,
3. our port through real in-memory MCP sessions: one episode per entry opened on the admin
   surface, every call a real `tools/call` bound to that episode.

Call strings are parsed once up front for every side (parsing is not what is compared).
Run: `python -m benchmarks.bfcl_replay [--repeat N] [--markdown]`
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import anyio
from fastmcp import Client

from eigencore.bfcl.calls import Call, parse_call
from eigencore.bfcl.port import PortEpisode, bind_arguments
from eigencore.bfcl.reference import ReferenceEpisode
from eigencore.bfcl.release import CLASS_MODULES, Entry, load_release
from environments import registry
from environments.bfcl.common import scenario
from environments.envdb import TEMPLATES
from servers.episodes import EPISODE_META_KEY
from servers.transports import deploy, quiet_logs


def _calls(entries: list[Entry]) -> dict[str, list[list[Call]]]:
    return {e.id: [[parse_call(c) for c in turn] for turn in e.ground_truth] for e in entries}


def original(entries: list[Entry], calls: dict[str, list[list[Call]]]) -> int:
    n = 0
    for e in entries:
        ep = ReferenceEpisode(e)
        for turn in calls[e.id]:
            for c in turn:
                ep.execute(c)
                n += 1
    return n


def port(entries: list[Entry], calls: dict[str, list[list[Call]]]) -> int:
    n = 0
    for e in entries:
        ep = PortEpisode(e)
        for turn in calls[e.id]:
            for c in turn:
                ep.execute(c)
                n += 1
        ep.close()
    return n


async def through_mcp(entries: list[Entry], calls: dict[str, list[list[Call]]]) -> int:
    n = 0
    deployments: dict[tuple[str, ...], Any] = {}
    clients: dict[tuple[str, ...], tuple[Client, Client]] = {}
    try:
        for e in entries:
            domains = tuple(f"bfcl/{CLASS_MODULES[c]}" for c in e.involved_classes)
            if domains not in clients:
                dep = deploy([registry.get(d) for d in domains], namespaced=False,
                             unbound="reject")
                deployments[domains] = dep
                agent, admin = Client(dep.server), Client(dep.admin)
                await agent.__aenter__()
                await admin.__aenter__()
                await agent.list_tools()
                await admin.list_tools()
                clients[domains] = (agent, admin)
            agent, admin = clients[domains]
            specs = {d: scenario(e.initial_config.get(c, {}), e.long_context)
                     for d, c in zip(domains, e.involved_classes, strict=True)}
            opened = await admin.call_tool("open_episode", {"scenarios": specs})
            meta = {EPISODE_META_KEY: opened.structured_content["episode"]}
            tools = {s.name: s for d in domains for s in registry.get(d).tools}
            for turn in calls[e.id]:
                for c in turn:
                    args = bind_arguments(tools[c.name], c) if c.name in tools else c.kwargs
                    await agent.call_tool(c.name, args, meta=meta, raise_on_error=False)
                    n += 1
            await admin.call_tool("close_episode", {"episode": meta[EPISODE_META_KEY]})
    finally:
        for agent, admin in clients.values():
            await agent.__aexit__(None, None, None)
            await admin.__aexit__(None, None, None)
    return n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeat", type=int, default=3, help="runs per side; the median is kept")
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    quiet_logs()
    entries = load_release().all_entries()
    calls = _calls(entries)
    # Warm: module code for the original, scenario templates for the port (both cache these
    # across entries in normal use).
    original(entries[:5], calls)
    port(entries, calls)
    def cold_port() -> int:
        TEMPLATES.clear()
        return port(entries, calls)

    sides = {
        "original BFCL classes, in-process": lambda: original(entries, calls),
        "SQLite port, in-process, first use (scenario databases built)": cold_port,
        "SQLite port, in-process (scenario databases cached)": lambda: port(entries, calls),
        "SQLite port via in-memory MCP sessions": lambda: anyio.run(through_mcp, entries, calls),
    }
    rows = []
    for name, fn in sides.items():
        times = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            n = fn()
            times.append(time.perf_counter() - t0)
        rows.append({"side": name, "entries": len(entries), "calls": n,
                     "median_s": statistics.median(times), "runs": times})
    base = rows[0]["median_s"]
    for r in rows:
        r["ratio"] = r["median_s"] / base
    if a.markdown:
        print("| side | entries | calls | median (s) | vs original |\n|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['side']} | {r['entries']} | {r['calls']} | {r['median_s']:.2f} | "
                  f"{r['ratio']:.2f}x |")
    else:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
