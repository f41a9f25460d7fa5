"""Publish domain bundles as an MCP server: the agent-visible surface.

Each `@tool` function becomes an MCP tool whose input schema comes from the function's
typed signature and docstring (the injected `db` parameter is hidden), with read-only /
destructive / idempotent annotations. Several bundles compose into one gateway, namespaced
(`library_checkout`) or flat when their tool names are disjoint. Each domain's state of the
caller's episode is readable as resources. Nothing administrative is exposed here.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from typing import Any, get_type_hints

from fastmcp import FastMCP
from fastmcp.exceptions import NotFoundError, ValidationError
from fastmcp.server.dependencies import fastmcp_request_ctx, get_context
from fastmcp.server.middleware import Middleware
from fastmcp.tools import Tool
from fastmcp.tools.base import ToolResult
from mcp_types import TextContent, ToolAnnotations
from pydantic import ValidationError as PydanticValidationError

from environments.contract import DomainBundle, ToolSpec
from environments.envdb import EnvDb, error_dict, validation_error
from servers.episodes import EpisodeError, EpisodeStore


def _session_id() -> str:
    return get_context().session_id


def current_db(store: EpisodeStore, domain: str) -> EnvDb:
    """The caller's private database for `domain`."""
    return store.resolve(fastmcp_request_ctx.get(), _session_id).db(domain)


def error_result(error: dict[str, Any]) -> ToolResult:
    payload = {"error": error}
    return ToolResult(
        content=[TextContent(type="text", text=json.dumps(payload))],
        structured_content=payload,
        is_error=True,
    )


class StructuredErrors(Middleware):
    """Report invalid arguments and unknown tools in the same structured shape as domain
    errors, so a client reads every refusal the same way (the call never ran)."""

    async def on_call_tool(self, context: Any, call_next: Any) -> ToolResult:
        try:
            return await call_next(context)
        except ValidationError as e:
            cause = e.__cause__
            if isinstance(cause, PydanticValidationError):
                return error_result(validation_error(cause))
            return error_result({"kind": "invalid_arguments", "message": str(e)})
        except NotFoundError as e:
            return error_result({"kind": "unknown_tool", "message": str(e)})


def mcp_tool(bundle: DomainBundle, spec: ToolSpec, store: EpisodeStore, name: str) -> Tool:
    """Wrap a domain tool: resolve the caller's episode, run the call as one transaction."""
    sig = inspect.signature(spec.fn)
    hints = get_type_hints(spec.fn, include_extras=True)
    params = list(sig.parameters.values())[1:]
    domain = bundle.name

    render = bundle.render_result

    async def call(**kwargs: Any) -> Any:
        try:
            db = current_db(store, domain)
        except EpisodeError as e:
            return error_result({"kind": "no_episode", "message": str(e)})
        try:
            value = db.run(spec, kwargs)
        except Exception as e:  # rolled back; reported as a structured error
            return error_result(error_dict(e))
        if render is not None:
            return ToolResult(content=[TextContent(type="text", text=render(value))])
        return value

    ret = hints.get("return", inspect.Signature.empty) if render is None else Any
    call.__signature__ = sig.replace(parameters=params, return_annotation=ret)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: hints[p.name] for p in params if p.name in hints}
    if ret is not inspect.Signature.empty:
        call.__annotations__["return"] = ret
    call.__name__ = name
    call.__doc__ = spec.fn.__doc__
    return Tool.from_function(
        call,
        name=name,
        annotations=ToolAnnotations(
            read_only_hint=spec.read_only,
            destructive_hint=spec.destructive,
            idempotent_hint=spec.idempotent,
            open_world_hint=False,
        ),
        tags={f"domain:{domain}"},
        # A domain with its own rendering publishes text, not a typed structure.
        **({"output_schema": None} if render is not None else {}),
    )


def namespace_of(bundle: DomainBundle) -> str:
    """The tool-name prefix of a bundle in a namespaced gateway (`bfcl/x` -> `x`)."""
    return bundle.name.rsplit("/", 1)[-1].replace("-", "_")


def _add_resources(server: FastMCP, bundle: DomainBundle, store: EpisodeStore) -> None:
    ns = namespace_of(bundle)
    domain = bundle.name

    @server.resource(f"state://{ns}/snapshot", mime_type="application/json",
                     description=f"The caller's current {domain} database, canonical form.")
    def snapshot() -> str:
        return json.dumps(current_db(store, domain).snapshot_json(), default=str)

    @server.resource(f"state://{ns}/diff", mime_type="application/json",
                     description=f"What changed in the caller's {domain} database since start.")
    def diff() -> str:
        d = current_db(store, domain).diff()
        return json.dumps({"diff": d.model_dump(mode="json"), "text": d.to_text()}, default=str)

    @server.resource(f"state://{ns}/tables/{{table}}", mime_type="application/json",
                     description=f"Rows of one {domain} table in the caller's episode.")
    def table(table: str) -> str:
        rows = current_db(store, domain).snapshot_json()
        if table not in rows:
            raise ValueError(f"no table {table!r} in {domain}; tables: {sorted(rows)}")
        return json.dumps(rows[table], default=str)

    @server.resource(f"schema://{ns}", mime_type="text/plain",
                     description=f"The {domain} SQLite schema.")
    def schema() -> str:
        return bundle.schema_sql


def domain_server(
    bundles: Sequence[DomainBundle],
    store: EpisodeStore,
    *,
    namespaced: bool | None = None,
    name: str = "eigendata",
) -> FastMCP:
    """One MCP server publishing the tools of `bundles` (a gateway when there are several)."""
    if namespaced is None:
        namespaced = len(bundles) > 1
    instructions = "\n".join(f"- {b.name}: {b.description}" for b in bundles)
    server = FastMCP(name, instructions=f"Domains served:\n{instructions}",
                     middleware=[StructuredErrors()])
    seen: dict[str, str] = {}
    for bundle in bundles:
        for spec in bundle.tools:
            tool_name = f"{namespace_of(bundle)}_{spec.name}" if namespaced else spec.name
            if tool_name in seen:
                raise ValueError(
                    f"tool {tool_name!r} is defined by both {seen[tool_name]!r} and "
                    f"{bundle.name!r}; serve them namespaced"
                )
            seen[tool_name] = bundle.name
            server.add_tool(mcp_tool(bundle, spec, store, tool_name))
        _add_resources(server, bundle, store)
    return server
