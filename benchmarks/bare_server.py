"""The baseline: a bare fastmcp tool running the same SQLite query as `library.get_member`,
with no episodes, transactions or change capture. Run: `python -m benchmarks.bare_server`."""

from __future__ import annotations

import argparse
import sqlite3
from typing import Any

import anyio
from fastmcp import FastMCP

from environments import registry
from environments.envdb import build_database

DB: sqlite3.Connection = build_database(registry.get("library"))
bare = FastMCP("bare")


@bare.tool
async def get_member(card_number: str) -> dict[str, Any]:
    """Look up a member by card number."""
    m = DB.execute("SELECT * FROM members WHERE card_number = ?", (card_number,)).fetchone()
    branch = DB.execute("SELECT code FROM branches WHERE branch_id = ?",
                        (m["home_branch_id"],)).fetchone()[0]
    n = DB.execute("SELECT COUNT(*) FROM loans WHERE member_id = ? AND returned_on IS NULL",
                   (m["member_id"],)).fetchone()[0]
    return {"card_number": m["card_number"], "name": m["name"], "email": m["email"],
            "home_branch": branch, "status": m["status"], "fines_cents": m["fines_cents"],
            "open_loans": n, "joined_on": m["joined_on"]}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--http", type=int, help="serve HTTP on this port instead of stdio")
    a = p.parse_args()
    if a.http:
        anyio.run(lambda: bare.run_http_async(host="127.0.0.1", port=a.http, show_banner=False,
                                              log_level="error"))
    else:
        anyio.run(lambda: bare.run_stdio_async(show_banner=False, log_level="error"))
