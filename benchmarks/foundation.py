"""Foundation benchmark: tool-call latency per transport (ours vs a bare fastmcp tool doing the
same SQLite query), the cost of opening an isolated episode, and checkpoint+diff cost as the
database grows with a fixed number of changed rows.

Run: `python -m benchmarks.foundation [--calls N] [--markdown]`
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from clients.mcp import http_client, stdio_client
from environments import registry
from environments.contract import DomainBundle, tool
from environments.envdb import EnvDb, build_database
from environments.rules import ComparisonRules, TableRule
from servers.transports import deploy, quiet_logs

ARGS = {"card_number": "C-1004"}


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


async def time_calls(client: Client, n: int, warmup: int = 30) -> list[float]:
    for _ in range(warmup):
        await client.call_tool("get_member", ARGS)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = await client.call_tool("get_member", ARGS)
        out.append((time.perf_counter() - t0) * 1000)
        assert r.structured_content["card_number"] == "C-1004"
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def subprocess_http(cmd: list[str], port: int) -> AsyncIterator[str]:
    env = {**os.environ, "FASTMCP_LOG_LEVEL": "ERROR"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        for _ in range(400):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            await anyio.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


async def latency(n: int) -> list[dict[str, Any]]:
    from benchmarks.bare_server import bare

    library = registry.get("library")
    rows = []

    async def row(transport: str, ours: Client, base: Client) -> None:
        async with ours, base:
            # Interleave rounds so drift (thermal, other load) hits both sides alike.
            o: list[float] = []
            b: list[float] = []
            for _ in range(3):
                o += await time_calls(ours, n // 3)
                b += await time_calls(base, n // 3)
        rows.append({"transport": transport, "ours_median_ms": statistics.median(o),
                     "ours_p99_ms": pct(o, 0.99), "bare_median_ms": statistics.median(b),
                     "bare_p99_ms": pct(b, 0.99),
                     "ratio_median": statistics.median(o) / statistics.median(b)})

    await row("in-memory", Client(deploy([library]).server), Client(bare))
    bare_stdio = Client(StdioTransport(command=sys.executable,
                                       args=["-m", "benchmarks.bare_server"]))
    await row("stdio", stdio_client(["library"]), bare_stdio)
    p1, p2 = _free_port(), _free_port()
    ours_cmd = [sys.executable, "-m", "eigencore.cli", "serve", "library", "--transport", "http",
                "--port", str(p1), "--unbound", "shared"]
    bare_cmd = [sys.executable, "-m", "benchmarks.bare_server", "--http", str(p2)]
    async with subprocess_http(ours_cmd, p1) as u1, subprocess_http(bare_cmd, p2) as u2:
        await row("streamable HTTP (127.0.0.1)", http_client(u1), http_client(u2))
    return rows


def episode_open(n: int = 500) -> dict[str, float]:
    library = registry.get("library")
    EnvDb.open(library).close()  # template built once, as a server does at first use
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        e = EnvDb.open(library)
        times.append((time.perf_counter() - t0) * 1000)
        e.close()
    dep = deploy([library])
    store_times = []
    for _ in range(n):
        t0 = time.perf_counter()
        ep = dep.store.open()
        store_times.append((time.perf_counter() - t0) * 1000)
        dep.store.close(ep.id)
    return {"envdb_median_ms": statistics.median(times), "envdb_p99_ms": pct(times, 0.99),
            "store_median_ms": statistics.median(store_times),
            "store_p99_ms": pct(store_times, 0.99)}


@tool
def _touch(db: Any) -> None:
    """Unused: the benchmark bundle needs one tool."""


def _bundle(n: int) -> DomainBundle:
    def load(db: Any, scenario: Any) -> None:
        db.executemany("INSERT INTO items (id, sku, qty, note) VALUES (?, ?, ?, ?)",
                       ((i, f"SKU{i:08d}", i % 97, "stock") for i in range(n)))

    return DomainBundle(
        name=f"bench{n}", description="", tools=[_touch.__eigen_tool__], loader=load,
        schema_sql="CREATE TABLE items (id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE,"
                   " qty INTEGER NOT NULL CHECK (qty >= 0), note TEXT);",
        rules=ComparisonRules(tables={"items": TableRule(natural_key=("sku",),
                                                         ignore=frozenset({"id"}))}),
    )


def diff_cost(sizes: tuple[int, ...], changed: int = 10, repeats: int = 20) -> list[dict]:
    rows = []
    for n in sizes:
        bundle = _bundle(n)
        t0 = time.perf_counter()
        env = EnvDb(bundle, build_database(bundle, {}))
        build_s = time.perf_counter() - t0
        samples = []
        for r in range(repeats):
            ids = [(r * 7919 + k * 104729) % n for k in range(changed)]
            t0 = time.perf_counter()
            cp = env.checkpoint()
            t1 = time.perf_counter()
            env.db.executemany("UPDATE items SET qty = qty + 1 WHERE id = ?", ((i,) for i in ids))
            t2 = time.perf_counter()
            d = env.diff(cp)
            t3 = time.perf_counter()
            assert len(d.changes) == len(set(ids))
            samples.append(((t1 - t0) + (t3 - t2)) * 1000)
        t0 = time.perf_counter()
        env.snapshot()
        full_ms = (time.perf_counter() - t0) * 1000
        rows.append({"rows": n, "changed": changed, "checkpoint_plus_diff_median_ms":
                     statistics.median(samples), "full_snapshot_ms": full_ms,
                     "build_s": build_s})
        env.close()
    base = rows[0]["checkpoint_plus_diff_median_ms"]
    for r in rows:
        r["ratio_vs_smallest"] = r["checkpoint_plus_diff_median_ms"] / base
    return rows


def markdown(res: dict[str, Any]) -> str:
    lines = ["| transport | ours median (ms) | ours p99 | bare median (ms) | bare p99 | ratio |",
             "|---|---|---|---|---|---|"]
    for r in res["latency"]:
        lines.append(f"| {r['transport']} | {r['ours_median_ms']:.3f} | {r['ours_p99_ms']:.3f} | "
                     f"{r['bare_median_ms']:.3f} | {r['bare_p99_ms']:.3f} | "
                     f"{r['ratio_median']:.2f}x |")
    e = res["episode_open"]
    lines += ["", "| opening an isolated episode (in-process) | median (ms) | p99 (ms) |",
              "|---|---|---|",
              f"| `EnvDb.open` (one domain) | {e['envdb_median_ms']:.3f} | "
              f"{e['envdb_p99_ms']:.3f} |",
              f"| `EpisodeStore.open` | {e['store_median_ms']:.3f} | {e['store_p99_ms']:.3f} |",
              "", "| rows | changed | checkpoint+diff median (ms) | vs 10^3 | full snapshot (ms) |",
              "|---|---|---|---|---|"]
    for r in res["diff"]:
        lines.append(f"| {r['rows']:,} | {r['changed']} | "
                     f"{r['checkpoint_plus_diff_median_ms']:.3f} | {r['ratio_vs_smallest']:.2f}x"
                     f" | {r['full_snapshot_ms']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--calls", type=int, default=600)
    p.add_argument("--sizes", default="1000,100000,1000000")
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    quiet_logs()
    res: dict[str, Any] = {"machine": f"{platform.machine()} {os.cpu_count()} cores, "
                                      f"Python {platform.python_version()}"}
    res["latency"] = anyio.run(latency, a.calls)
    res["episode_open"] = episode_open()
    res["diff"] = diff_cost(tuple(int(s) for s in a.sizes.split(",")))
    print(markdown(res) if a.markdown else json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
