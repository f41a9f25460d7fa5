"""`eigen bfcl serve ENTRY --repaired` over stdio: the repaired entry's scenario, the port's
code fixes on, and the repaired drop-in's (patched) function docs as resources; without the
flag the original entry is served."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from eigencore.audit.bfcl_format import write_bfcl
from eigencore.audit.repair import repair
from eigencore.audit.repaired_suite import SUMMARY, TASKS, repaired_entry
from eigencore.audit.trajectory import AuditContext, audit_entry, base_number
from eigencore.bfcl.release import Release

ENTRY = "multi_turn_base_155"  # budget_limit 600 in the release; the user's budget is $2400
FLIGHT = {
    "access_token": "abc123xyz",
    "card_id": "id15583",
    "travel_date": "2024-11-15",
    "travel_from": "LAX",
    "travel_to": "JFK",
    "travel_class": "business",
}


@pytest.fixture(scope="module")
def repaired(release: Release, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repaired benchmark of one entry, laid out as `eigen bfcl repair` writes it, with a
    marked TravelAPI doc standing for the schema patch."""
    out = tmp_path_factory.mktemp("repaired")
    entry = next(e for e in release.entries("base") if e.id == ENTRY)
    ctx = AuditContext(release=release, bases={base_number(e): e for e in release.entries("base")})
    result = repair(release, audit_entry(entry, ctx), entries=[entry])
    (out / TASKS).parent.mkdir(parents=True)
    (out / TASKS).write_text("".join(t.model_dump_json() + "\n" for t in result.tasks()))
    docs = release.func_docs("TravelAPI")
    patched = [{**docs[0], "description": "patched for this test"}, *docs[1:]]
    write_bfcl(result.entries, out / "bfcl", release, schema_patches={"TravelAPI": patched})
    summary = {"release": release.version, "repair_version": result.repair_version}
    (out / SUMMARY).write_text(json.dumps(summary))
    return out


def _serve(*extra: str) -> dict[str, Any]:
    from fastmcp import Client
    from fastmcp.client.transports import StdioTransport

    seen: dict[str, Any] = {}

    async def main() -> None:
        transport = StdioTransport(
            command=sys.executable,
            args=["-m", "eigencore.cli", "bfcl", "serve", ENTRY, *extra],
        )
        async with Client(transport) as c:
            seen["resources"] = sorted(str(r.uri) for r in await c.list_resources())
            # 2400 is the user's budget; 2500 is above it
            for fare in (2400.0, 2500.0):
                r = await c.call_tool("book_flight", {**FLIGHT, "travel_cost": fare})
                seen[fare] = json.loads(r.content[0].text)
            if "bfcl://func_docs/TravelAPI" in seen["resources"]:
                (doc,) = await c.read_resource("bfcl://func_docs/TravelAPI")
                seen["docs"] = json.loads(doc.text)

    anyio.run(main)
    return seen


def test_serve_repaired_entry(repaired: Path, release: Release) -> None:
    task, docs = repaired_entry(ENTRY, release.version, repaired)
    assert task.scenarios["bfcl/travel_booking"]["repaired"] is True
    assert task.scenarios["bfcl/travel_booking"]["config"]["budget_limit"] == 2400.0
    assert docs["TravelAPI"][0]["description"] == "patched for this test"

    fixed = _serve("--repaired", "--repaired-dir", str(repaired))
    # the repaired scenario (limit 2400) books the user's fare; the code fix refuses a fare
    # above the limit, which the original code would book
    assert fixed[2400.0]["booking_status"] is True
    assert fixed[2500.0] == {"booking_status": False, "error": "Exceeded budget limit"}
    assert [u for u in fixed["resources"] if u.startswith("bfcl://")] == [
        "bfcl://func_docs/TravelAPI"
    ]
    assert fixed["docs"][0]["description"] == "patched for this test"
    assert [d["name"] for d in fixed["docs"]] == [d["name"] for d in release.func_docs("TravelAPI")]

    original = _serve()
    # the release's scenario (limit 600) on the original code: the balance is compared with
    # the limit, so even the fare above the user's budget is booked; no doc resources
    assert original[2500.0]["booking_status"] is True
    assert not [u for u in original["resources"] if u.startswith("bfcl://")]
