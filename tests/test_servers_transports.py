"""The same servers over a stdio subprocess and streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import json

import httpx
import pytest

from clients.mcp import call, http_client, stdio_client
from environments.contract import DomainBundle
from servers.episodes import EPISODE_HEADER
from servers.transports import ADMIN_PATH, DOMAIN_PATH, deploy, running_http

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_stdio_subprocess_serves_tools_and_state() -> None:
    async with stdio_client(["library"]) as client:
        names = {t.name for t in await client.list_tools()}
        assert "checkout" in names and "open_episode" not in names
        r = await client.call_tool("return_copy", {"barcode": "B10007"})
        assert r.structured_content["days_late"] == 13
        bad = await client.call_tool("return_copy", {"barcode": "B10007"}, raise_on_error=False)
        assert bad.is_error and bad.structured_content["error"]["kind"] == "not_allowed"
        diff = json.loads((await client.read_resource("state://library/diff"))[0].text)
        tables = sorted({c["table"] for c in diff["diff"]["changes"]})
        assert tables == ["copies", "loans", "members"]


async def test_stdio_gateway_of_two_domains() -> None:
    async with stdio_client(["library", "bfcl/math_api", "library"]) as c:
        names = {t.name for t in await c.list_tools()}
        # namespaced by default when several; a domain named twice is served once
        assert {"library_checkout", "math_api_add"} <= names and "checkout" not in names
        r = await c.call_tool("math_api_add", {"a": 2, "b": 3})
        assert r.content[0].text == '{"result": 5}'
        r = await c.call_tool("library_get_member", {"card_number": "C-1001"})
        assert r.structured_content["name"] == "Ada Okafor"


async def test_http_with_token_and_separate_admin(library: DomainBundle) -> None:
    token = "s3cret"
    async with running_http(deploy([library], unbound="reject"), token=token) as url:
        async with httpx.AsyncClient() as raw:
            r = await raw.post(url + DOMAIN_PATH, json={})
            assert r.status_code == 401
            r = await raw.post(url + ADMIN_PATH, json={}, headers={"Authorization": "Bearer x"})
            assert r.status_code == 401
        async with http_client(url + ADMIN_PATH, token=token) as admin:
            a = (await admin.call_tool("open_episode", {})).structured_content["episode"]
            b = (await admin.call_tool("open_episode", {})).structured_content["episode"]
            async with http_client(url + DOMAIN_PATH, token=token) as agent:
                assert "open_episode" not in {t.name for t in await agent.list_tools()}
                r = await call(agent, "checkout", {"card_number": "C-1003", "barcode": "B10003"}, a)
                assert not r.is_error
                r = await agent.call_tool("get_member", {"card_number": "C-1003"},
                                          raise_on_error=False)
                assert r.is_error  # stateless and unbound: refused, never a shared state
            # Binding by header works too (e.g. for clients that cannot set _meta).
            async with http_client(url + DOMAIN_PATH, token=token,
                                   headers={EPISODE_HEADER: b}) as agent_b:
                r = await agent_b.call_tool("get_member", {"card_number": "C-1003"})
                assert r.structured_content["open_loans"] == 0
            d = (await admin.call_tool("diff", {"episode": a})).structured_content
            assert {c["table"] for c in d["library"]["changes"]} == {"copies", "loans"}


async def test_http_legacy_sessions_are_isolated(library: DomainBundle) -> None:
    async with running_http(deploy([library], unbound="reject")) as url:
        async with http_client(url + DOMAIN_PATH, mode="legacy") as a, \
                http_client(url + DOMAIN_PATH, mode="legacy") as b:
            await a.call_tool("checkout", {"card_number": "C-1003", "barcode": "B10003"})
            ra = await a.call_tool("get_member", {"card_number": "C-1003"})
            rb = await b.call_tool("get_member", {"card_number": "C-1003"})
            assert ra.structured_content["open_loans"] == 1
            assert rb.structured_content["open_loans"] == 0


async def test_http_refuses_non_loopback_bind(library: DomainBundle) -> None:
    with pytest.raises(PermissionError, match="--allow-remote"):
        async with running_http(deploy([library]), host="0.0.0.0", port=8999):
            pass
