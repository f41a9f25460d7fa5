"""Episodes: each client works on its own copy of the scenario databases.

An episode holds one private database per served domain. A request is routed to its
episode by, in order: an explicit binding (`_meta["eigendata/episode"]` on the request, or
the `X-EigenData-Episode` HTTP header) naming an episode opened on the admin surface; the
client's stable MCP session (handshake-era protocol); or, for requests that carry neither,
the server's unbound policy: `shared` (one process-wide episode, right for stdio where the
process serves one client) or `reject` (a clear error, the default over HTTP where
concurrent stateless clients must never share state).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from environments.contract import DomainBundle, Scenario
from environments.envdb import EnvDb

EPISODE_META_KEY = "eigendata/episode"
EPISODE_HEADER = "x-eigendata-episode"

UnboundPolicy = Literal["shared", "reject"]


class EpisodeError(Exception):
    """An episode could not be resolved (unknown id, or an unbound stateless request)."""


@dataclass
class Episode:
    id: str
    dbs: dict[str, EnvDb]
    scenarios: dict[str, Scenario | None]
    origin: str
    created: float = field(default_factory=time.time)

    def db(self, domain: str) -> EnvDb:
        try:
            return self.dbs[domain]
        except KeyError:
            raise EpisodeError(f"episode {self.id} does not serve domain {domain!r}") from None

    def close(self) -> None:
        for d in self.dbs.values():
            d.close()


ScenarioSpec = Scenario | str | None
"""A scenario given inline (data), by name (a bundle's named scenario), or None (default)."""


class EpisodeStore:
    """All live episodes of one server process."""

    def __init__(
        self,
        bundles: Iterable[DomainBundle],
        *,
        unbound: UnboundPolicy = "shared",
        max_session_episodes: int = 256,
        scenarios: Mapping[str, ScenarioSpec] | None = None,
    ):
        self.bundles = {b.name: b for b in bundles}
        self.unbound = unbound
        self.max_session_episodes = max_session_episodes
        self.default_scenarios: dict[str, ScenarioSpec] = dict(scenarios or {})
        self._explicit: dict[str, Episode] = {}
        self._sessions: OrderedDict[str, Episode] = OrderedDict()
        self._shared: Episode | None = None
        self._lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------
    def _resolve_scenario(self, bundle: DomainBundle, spec: ScenarioSpec) -> Scenario | None:
        if spec is None:
            spec = self.default_scenarios.get(bundle.name)
        if spec is None or isinstance(spec, Mapping):
            return spec
        named = bundle.scenario(spec)
        return None if named is bundle.default_scenario else named

    def _build(self, origin: str, scenarios: Mapping[str, ScenarioSpec] | None,
               episode_id: str | None = None) -> Episode:
        scenarios = dict(scenarios or {})
        unknown = set(scenarios) - set(self.bundles)
        if unknown:
            raise EpisodeError(f"no such domain(s) on this server: {sorted(unknown)}")
        resolved = {n: self._resolve_scenario(b, scenarios.get(n)) for n, b in self.bundles.items()}
        dbs = {n: EnvDb.open(b, resolved[n]) for n, b in self.bundles.items()}
        return Episode(episode_id or uuid.uuid4().hex[:16], dbs, resolved, origin)

    def open(self, scenarios: Mapping[str, ScenarioSpec] | None = None) -> Episode:
        """Open an explicit episode (the admin surface's `open_episode`)."""
        ep = self._build("explicit", scenarios)
        with self._lock:
            self._explicit[ep.id] = ep
        return ep

    def get(self, episode_id: str) -> Episode:
        with self._lock:
            ep = self._explicit.get(episode_id) or self._sessions.get(episode_id)
            if ep is None and self._shared is not None and self._shared.id == episode_id:
                ep = self._shared
        if ep is None:
            raise EpisodeError(f"unknown episode {episode_id!r}; open one on the admin surface")
        return ep

    def close(self, episode_id: str) -> None:
        with self._lock:
            ep = self._explicit.pop(episode_id, None) or self._sessions.pop(episode_id, None)
        if ep is None:
            raise EpisodeError(f"unknown episode {episode_id!r}")
        ep.close()

    def reset(self, episode_id: str,
              scenarios: Mapping[str, ScenarioSpec] | None = None) -> Episode:
        """Replace an episode's databases with fresh copies of its (or new) scenarios."""
        old = self.get(episode_id)
        specs: dict[str, ScenarioSpec] = dict(old.scenarios)
        specs.update(scenarios or {})
        fresh = self._build(old.origin, specs, episode_id=old.id)
        with self._lock:
            for table in (self._explicit, self._sessions):
                if table.get(old.id) is old:
                    table[old.id] = fresh
            if self._shared is old:
                self._shared = fresh
        old.close()
        return fresh

    def list(self) -> list[Episode]:
        with self._lock:
            eps = [*self._explicit.values(), *self._sessions.values()]
            return [*eps, self._shared] if self._shared else eps

    # -- routing ----------------------------------------------------------------------------
    def resolve(self, rc: Any, session_id: Callable[[], str]) -> Episode:
        """Find the episode a request belongs to (see the module docstring).

        `rc` is fastmcp's request context (None outside a request); `session_id` is asked
        only for handshake-era sessions, whose id is stable.
        """
        meta = getattr(rc, "meta", None) or {}
        bound = meta.get(EPISODE_META_KEY) if isinstance(meta, Mapping) else None
        if bound is None:
            bound = _header(rc, EPISODE_HEADER)
        if bound is not None:
            return self.get(str(bound))
        if rc is not None and getattr(rc, "protocol_version", None) not in MODERN_PROTOCOL_VERSIONS:
            return self._session_episode(session_id())
        if self.unbound == "shared":
            return self._shared_episode()
        raise EpisodeError(
            "this request names no episode: open one with the admin tool `open_episode` and "
            f"send its id in the request _meta '{EPISODE_META_KEY}' or the "
            f"'{EPISODE_HEADER}' header, or connect with a stateful (2025-11-25) MCP session"
        )

    def _session_episode(self, session_id: str) -> Episode:
        with self._lock:
            ep = self._sessions.get(session_id)
            if ep is not None:
                self._sessions.move_to_end(session_id)
                return ep
        ep = self._build("session", None, episode_id=session_id)
        evicted = []
        with self._lock:
            ep = self._sessions.setdefault(session_id, ep)
            while len(self._sessions) > self.max_session_episodes:
                evicted.append(self._sessions.popitem(last=False)[1])
        for old in evicted:
            old.close()
        return ep

    def _shared_episode(self) -> Episode:
        with self._lock:
            if self._shared is None:
                self._shared = self._build("shared", None, episode_id="shared")
            return self._shared


def _header(rc: Any, name: str) -> str | None:
    request = getattr(rc, "request", None)
    headers = getattr(request, "headers", None)
    if headers is None:
        return None
    try:
        return headers.get(name)
    except Exception:  # non-HTTP transports carry no headers
        return None
