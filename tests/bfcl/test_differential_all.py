"""The whole port against the original: all 800 ground-truth trajectories, every class of
every entry at once (no restriction), every call's result and the state after every turn."""

from __future__ import annotations

from eigencore.bfcl.differential import differential
from eigencore.bfcl.release import CLASS_MODULES, Entry
from environments.bfcl import by_class


def test_every_class_is_ported() -> None:
    assert set(by_class()) == set(CLASS_MODULES)
    assert sum(len(b.tools) for b in by_class().values()) == 129


def test_all_800_ground_truths_replay_identically(all_entries: list[Entry]) -> None:
    assert len(all_entries) == 800
    deviations = [str(d) for e in all_entries for d in differential(e)]
    assert deviations == [], "\n".join(deviations[:20])


def test_bfcl_domains_serve_and_a_task_scoped_server(tmp_path) -> None:
    """`eigen serve bfcl/<domain>` and `eigen bfcl serve ENTRY` speak MCP over stdio."""
    import sys

    import anyio
    from fastmcp import Client
    from fastmcp.client.transports import StdioTransport

    async def main() -> None:
        entry = StdioTransport(command=sys.executable, args=[
            "-m", "eigencore.cli", "bfcl", "serve", "multi_turn_base_0"])
        async with Client(entry) as c:
            names = {t.name for t in await c.list_tools()}
            assert {"ls", "cd", "post_tweet"} <= names  # GorillaFileSystem + TwitterAPI
            r = await c.call_tool("cd", {"folder": "document"})
            assert r.content[0].text == '{"current_working_directory": "document"}'
        single = StdioTransport(command=sys.executable, args=[
            "-m", "eigencore.cli", "serve", "bfcl/trading_bot"])
        async with Client(single) as c:
            r = await c.call_tool("get_stock_info", {"symbol": "AAPL"})
            assert '"price": 227.16' in r.content[0].text

    anyio.run(main)
