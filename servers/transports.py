"""One published deployment (domain surface + admin surface over one episode store), and
the transports it runs on: in-memory, stdio and streamable HTTP.

HTTP binds to 127.0.0.1 unless told otherwise, refuses a non-loopback bind unless
`allow_remote` is set, and can require a bearer token on both surfaces.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import uvicorn
from fastmcp import FastMCP
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from environments.contract import DomainBundle
from servers.admin import admin_server
from servers.episodes import EpisodeStore, ScenarioSpec, UnboundPolicy
from servers.publish import domain_server

DOMAIN_PATH = "/mcp"
ADMIN_PATH = "/admin/mcp"
ADMIN_NAMESPACE = "eigendata_admin"
"""Prefix of the admin tools when they share a stdio pipe with the domain tools (opt-in);
the evaluation harness strips them from what a model is shown."""


@dataclass
class Deployment:
    store: EpisodeStore
    server: FastMCP
    """Agent-visible surface: domain tools and state resources only."""
    admin: FastMCP
    """Administrative surface over the same episodes."""


def deploy(
    bundles: Sequence[DomainBundle],
    *,
    namespaced: bool | None = None,
    unbound: UnboundPolicy = "shared",
    scenarios: Mapping[str, ScenarioSpec] | None = None,
    admin_in_band: bool = False,
) -> Deployment:
    """Build both surfaces over one episode store.

    `admin_in_band` also mounts the admin tools into the domain server under the
    `eigendata_admin_` prefix: only for a harness driving a stdio subprocess, which has a
    single pipe and filters those tools out before a model sees the list.
    """
    store = EpisodeStore(bundles, unbound=unbound, scenarios=scenarios)
    server = domain_server(bundles, store, namespaced=namespaced)
    admin = admin_server(store)
    if admin_in_band:
        server.mount(admin, namespace=ADMIN_NAMESPACE)
    return Deployment(store, server, admin)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BearerAuth:
    """Reject HTTP requests without `Authorization: Bearer <token>` (constant-time check)."""

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            got = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(got, self.expected):
                await JSONResponse({"error": "missing or wrong bearer token"},
                                   status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def http_app(dep: Deployment, *, token: str | None = None, admin: bool = True) -> Any:
    """A Starlette app: domain surface at /mcp, admin surface at /admin/mcp."""
    apps = [dep.server.http_app(path=DOMAIN_PATH)]
    if admin:
        apps.append(dep.admin.http_app(path=ADMIN_PATH))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for a in apps:
                await stack.enter_async_context(a.lifespan(a))
            yield

    app = Starlette(routes=[r for a in apps for r in a.routes], lifespan=lifespan)
    return BearerAuth(app, token) if token else app


def quiet_logs(level: int = logging.ERROR) -> None:
    """Keep fastmcp's per-request logging (e.g. every invalid call) off the console."""
    logging.getLogger("fastmcp").setLevel(level)


def _http_server(dep: Deployment, host: str, port: int, token: str | None,
                 allow_remote: bool, admin: bool, log_level: str) -> uvicorn.Server:
    if not is_loopback(host) and not allow_remote:
        raise PermissionError(
            f"refusing to bind {host}: only loopback by default; pass --allow-remote "
            "(and set --token) to serve other hosts"
        )
    config = uvicorn.Config(http_app(dep, token=token, admin=admin), host=host, port=port,
                            log_level=log_level, lifespan="on")
    return uvicorn.Server(config)


async def serve_http(
    dep: Deployment,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    allow_remote: bool = False,
    admin: bool = True,
    log_level: str = "warning",
) -> None:
    """Serve until cancelled or interrupted."""
    await _http_server(dep, host, port, token, allow_remote, admin, log_level).serve()


@contextlib.asynccontextmanager
async def running_http(
    dep: Deployment,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    allow_remote: bool = False,
    admin: bool = True,
) -> AsyncIterator[str]:
    """Run an HTTP server in the background; yields its base URL, stops it cleanly on exit."""
    if port == 0:
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
    server = _http_server(dep, host, port, token, allow_remote, admin, "error")
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(20):
            while not server.started:
                await anyio.sleep(0.01)
        try:
            yield f"http://{host}:{port}"
        finally:
            server.should_exit = True


async def serve_stdio(dep: Deployment) -> None:
    """Serve the domain surface over stdio (one client per process: unbound = shared)."""
    await dep.server.run_stdio_async(show_banner=False)
