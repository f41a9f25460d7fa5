"""Real MCP client sessions against the published servers, in-memory."""

from __future__ import annotations

import json

import anyio
import pytest
from fastmcp import Client

from clients.mcp import call
from environments.contract import DomainBundle
from servers.episodes import EPISODE_META_KEY
from servers.transports import deploy

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def open_episode(admin: Client) -> str:
    return (await admin.call_tool("open_episode", {})).structured_content["episode"]


async def diff_text(admin: Client, episode: str, domain: str = "library") -> str:
    return (await admin.call_tool("diff", {"episode": episode})).structured_content[domain]["text"]


async def test_schema_comes_from_signature_and_docstring(library: DomainBundle) -> None:
    dep = deploy([library])
    async with Client(dep.server) as c:
        tools = {t.name: t for t in await c.list_tools()}
    assert set(tools) == {t.name for t in library.tools}
    checkout = tools["checkout"]
    assert checkout.input_schema["required"] == ["card_number", "barcode"]
    assert checkout.input_schema["additionalProperties"] is False
    assert checkout.input_schema["properties"]["card_number"]["pattern"] == r"^C-\d{4}$"
    query = tools["search_catalog"].input_schema["properties"]["query"]
    assert query["description"].startswith("Words to look for")  # from the docstring's Args
    assert query["minLength"] == 1 and query["maxLength"] == 200
    assert checkout.description.startswith("Lend a copy")
    assert tools["get_member"].annotations.read_only_hint is True
    assert tools["delete_member"].annotations.destructive_hint is True
    assert tools["checkout"].annotations.read_only_hint is False
    assert tools["cancel_hold"].annotations.idempotent_hint is True
    # The administrative surface is not visible to the agent.
    assert not {"open_episode", "snapshot", "reset_episode", "diff"} & set(tools)


@pytest.mark.parametrize(
    "args, field",
    [
        ({"card_number": "C-1002", "amount_cents": "lots"}, "amount_cents"),  # wrong type
        ({"card_number": "C-1002"}, "amount_cents"),  # missing
        ({"card_number": "C-1002", "amount_cents": 5, "tip": 1}, "tip"),  # extra
        ({"card_number": "C-1002", "amount_cents": -5}, "amount_cents"),  # out of range
        ({"card_number": "C-1002'; DELETE FROM members; --", "amount_cents": 5}, "card_number"),
    ],
)
async def test_invalid_arguments_structured_and_change_nothing(
    library: DomainBundle, args: dict, field: str
) -> None:
    dep = deploy([library])
    async with Client(dep.admin) as admin, Client(dep.server) as agent:
        ep = await open_episode(admin)
        r = await call(agent, "pay_fine", args, ep)
        assert r.is_error
        err = r.structured_content["error"]
        assert err["kind"] == "invalid_arguments" and field in err["message"]
        assert await diff_text(admin, ep) == "no differences"


async def test_domain_error_rolls_back_and_is_structured(library: DomainBundle) -> None:
    dep = deploy([library])
    async with Client(dep.admin) as admin, Client(dep.server) as agent:
        ep = await open_episode(admin)
        before = (await admin.call_tool("snapshot", {"episode": ep, "domain": "library"}))
        r = await call(agent, "delete_member", {"card_number": "C-1001"}, ep)  # has open loans
        assert r.is_error and r.structured_content["error"]["kind"] == "not_allowed"
        after = (await admin.call_tool("snapshot", {"episode": ep, "domain": "library"}))
        assert before.structured_content == after.structured_content
        r = await call(agent, "no_such_tool", {}, ep)
        assert r.is_error and r.structured_content["error"]["kind"] == "unknown_tool"


async def test_concurrent_explicit_episodes_are_isolated(library: DomainBundle) -> None:
    dep = deploy([library])
    async with Client(dep.admin) as admin, Client(dep.server) as agent:
        eps = [await open_episode(admin) for _ in range(4)]
        barcodes = ["B10003", "B10005", "B10006", "B10009"]

        async def work(ep: str, barcode: str) -> None:
            for _ in range(3):
                await call(agent, "get_member", {"card_number": "C-1003"}, ep)
            r = await call(agent, "checkout", {"card_number": "C-1003", "barcode": barcode}, ep)
            assert not r.is_error, r

        async with anyio.create_task_group() as tg:
            for ep, bc in zip(eps, barcodes, strict=True):
                tg.start_soon(work, ep, bc)
        for ep, bc in zip(eps, barcodes, strict=True):
            d = (await admin.call_tool("diff", {"episode": ep})).structured_content["library"]
            copies = {c["key"]["barcode"] for c in d["changes"] if c["table"] == "copies"}
            assert copies == {bc}  # each episode sees only its own write


async def test_stateful_sessions_get_their_own_episode(library: DomainBundle) -> None:
    dep = deploy([library])
    async with Client(dep.server, mode="legacy") as a, Client(dep.server, mode="legacy") as b:
        r = await a.call_tool("checkout", {"card_number": "C-1003", "barcode": "B10003"})
        assert not r.is_error
        seen_by_a = await a.call_tool("get_member", {"card_number": "C-1003"})
        seen_by_b = await b.call_tool("get_member", {"card_number": "C-1003"})
        assert seen_by_a.structured_content["open_loans"] == 1
        assert seen_by_b.structured_content["open_loans"] == 0
        res = json.loads((await a.read_resource("state://library/diff"))[0].text)
        assert any(c["table"] == "loans" for c in res["diff"]["changes"])
        res_b = json.loads((await b.read_resource("state://library/diff"))[0].text)
        assert res_b["diff"]["changes"] == []


async def test_unbound_stateless_requests_rejected_when_asked(library: DomainBundle) -> None:
    dep = deploy([library], unbound="reject")
    async with Client(dep.server) as agent:
        r = await agent.call_tool("get_member", {"card_number": "C-1001"}, raise_on_error=False)
        assert r.is_error and r.structured_content["error"]["kind"] == "no_episode"
        assert "open_episode" in r.structured_content["error"]["message"]
        r = await agent.call_tool("get_member", {"card_number": "C-1001"},
                                  meta={EPISODE_META_KEY: "nope"}, raise_on_error=False)
        assert r.is_error and "unknown episode" in r.structured_content["error"]["message"]


async def test_resources_return_state(library: DomainBundle) -> None:
    dep = deploy([library])
    async with Client(dep.server) as agent:  # unbound: the shared episode
        await agent.call_tool("return_copy", {"barcode": "B10007"})
        members = json.loads((await agent.read_resource("state://library/tables/members"))[0].text)
        bruno = next(m for m in members if m["card_number"] == "C-1002")
        assert bruno["fines_cents"] == 325
        snap = json.loads((await agent.read_resource("state://library/snapshot"))[0].text)
        assert set(snap) >= {"members", "loans", "copies", "books", "holds"}
        schema = (await agent.read_resource("schema://library"))[0].text
        assert "CREATE TABLE loans" in schema


async def test_admin_lifecycle(library: DomainBundle) -> None:
    dep = deploy([library])
    async with Client(dep.admin) as admin, Client(dep.server) as agent:
        ep = await open_episode(admin)
        await call(agent, "return_copy", {"barcode": "B10007"}, ep)
        cp = (await admin.call_tool("checkpoint", {"episode": ep})).structured_content
        await call(agent, "pay_fine", {"card_number": "C-1002", "amount_cents": 25}, ep)
        since = (await admin.call_tool("diff", {"episode": ep, "since": cp})).structured_content
        assert {c["table"] for c in since["library"]["changes"]} == {"members", "payments"}
        await admin.call_tool("reset_episode", {"episode": ep})
        assert await diff_text(admin, ep) == "no differences"
        listed = (await admin.call_tool("list_episodes", {})).structured_content["result"]
        assert ep in [e["episode"] for e in listed]
        await admin.call_tool("close_episode", {"episode": ep})
        r = await call(agent, "get_member", {"card_number": "C-1001"}, ep)
        assert r.is_error


async def test_inline_scenario_through_admin(notes: DomainBundle) -> None:
    dep = deploy([notes])
    scenario = {"tables": {"notes": [{"title": "a"}, {"title": "b"}]}}
    async with Client(dep.admin) as admin, Client(dep.server) as agent:
        ep = (await admin.call_tool("open_episode", {"scenarios": {"notes": scenario}}))
        ep_id = ep.structured_content["episode"]
        r = await call(agent, "count_notes", {}, ep_id)
        assert r.structured_content["result"] == 2
        bad = await admin.call_tool("open_episode", {"scenarios": {"nope": None}},
                                    raise_on_error=False)
        assert bad.is_error


async def test_gateway_namespaces_compose_domains(library: DomainBundle,
                                                  notes: DomainBundle) -> None:
    dep = deploy([library, notes])
    async with Client(dep.admin) as admin, Client(dep.server) as agent:
        names = {t.name for t in await agent.list_tools()}
        assert {"library_checkout", "notes_add_note"} <= names
        ep = await open_episode(admin)
        await call(agent, "notes_add_note", {"title": "n2"}, ep)
        await call(agent, "library_return_copy", {"barcode": "B10007"}, ep)
        d = (await admin.call_tool("diff", {"episode": ep})).structured_content
        assert d["notes"]["changes"][0]["key"] == {"title": "n2"}
        assert d["library"]["changes"]
        resources = {str(r.uri) for r in await agent.list_resources()}
        assert {"state://library/snapshot", "state://notes/snapshot"} <= resources
