"""The administrative surface: open, load, checkpoint, diff, snapshot, reset, close episodes.

It is a separate MCP server sharing the domain server's `EpisodeStore`: in-process it is its
own server object, over HTTP it lives at its own path. It is never mounted into the
agent-visible server, so a candidate model cannot see or call it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from servers.episodes import Episode, EpisodeStore, ScenarioSpec

EpisodeId = Annotated[str, Field(min_length=1, max_length=64, description="An episode id")]


def _describe(ep: Episode) -> dict[str, Any]:
    return {
        "episode": ep.id,
        "origin": ep.origin,
        "domains": sorted(ep.dbs),
        "checkpoints": {d: db.checkpoint() for d, db in ep.dbs.items()},
    }


def admin_server(store: EpisodeStore, name: str = "eigendata-admin") -> FastMCP:
    admin = FastMCP(name, instructions="Administrative surface: never expose to a model.")

    @admin.tool
    def open_episode(scenarios: dict[str, ScenarioSpec] | None = None) -> dict[str, Any]:
        """Open an isolated episode: a private copy of each domain's scenario database.

        Args:
            scenarios: Per domain, the scenario to load: inline data, the name of one of
                the bundle's scenarios, or null for its default.
        """
        return _describe(store.open(scenarios))

    @admin.tool
    def load_scenario(episode: EpisodeId, scenarios: dict[str, ScenarioSpec]) -> dict[str, Any]:
        """Replace the databases of an episode's domains with fresh copies of new scenarios.

        Args:
            episode: The episode id.
            scenarios: Per domain, the scenario to load (inline data, a name, or null).
        """
        return _describe(store.reset(episode, scenarios))

    @admin.tool
    def reset_episode(episode: EpisodeId) -> dict[str, Any]:
        """Discard every change of an episode: back to its scenarios' initial state.

        Args:
            episode: The episode id.
        """
        return _describe(store.reset(episode))

    @admin.tool
    def checkpoint(episode: EpisodeId) -> dict[str, int]:
        """Mark the current state of every domain; pass the marks to `diff` later.

        Args:
            episode: The episode id.
        """
        return {d: db.checkpoint() for d, db in store.get(episode).dbs.items()}

    @admin.tool
    def diff(episode: EpisodeId, since: dict[str, int] | None = None) -> dict[str, Any]:
        """Row-level changes per domain since checkpoints (default: since the scenario load).

        Args:
            episode: The episode id.
            since: Per domain, a checkpoint returned by `checkpoint`.
        """
        ep = store.get(episode)
        out: dict[str, Any] = {}
        for d, db in ep.dbs.items():
            dd = db.diff((since or {}).get(d))
            out[d] = {"changes": dd.model_dump(mode="json")["changes"], "text": dd.to_text()}
        return out

    @admin.tool
    def snapshot(episode: EpisodeId, domain: str) -> dict[str, list[dict[str, Any]]]:
        """The full canonical state of one domain's database (rows ordered by natural key).

        Args:
            episode: The episode id.
            domain: The domain name.
        """
        return store.get(episode).db(domain).snapshot_json()

    @admin.tool
    def close_episode(episode: EpisodeId) -> dict[str, str]:
        """Close an episode and free its databases.

        Args:
            episode: The episode id.
        """
        store.close(episode)
        return {"closed": episode}

    @admin.tool
    def list_episodes() -> list[dict[str, Any]]:
        """List the live episodes of this server."""
        return [_describe(ep) for ep in store.list()]

    return admin
