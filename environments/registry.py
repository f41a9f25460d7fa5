"""Discovers domain bundles: packages under `environments/` that export `BUNDLE`, plus any
registered through the `eigendata.environments` entry point group (third-party bundles)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points

import environments
from environments.contract import DomainBundle

_PROVIDERS: list[Callable[[], dict[str, DomainBundle]]] = []


def add_provider(provider: Callable[[], dict[str, DomainBundle]]) -> None:
    """Register a function that yields bundles discovered some other way (e.g. a suite)."""
    _PROVIDERS.append(provider)
    bundles.cache_clear()


@cache
def bundles() -> dict[str, DomainBundle]:
    found: dict[str, DomainBundle] = {}
    for mod in pkgutil.iter_modules(environments.__path__):
        if not mod.ispkg:
            continue
        module = importlib.import_module(f"environments.{mod.name}")
        bundle = getattr(module, "BUNDLE", None)
        if isinstance(bundle, DomainBundle):
            found[bundle.name] = bundle
        provide = getattr(module, "bundles", None)
        if callable(provide):  # a package of several domains, e.g. environments.bfcl
            found.update(provide())
    for ep in entry_points(group="eigendata.environments"):
        bundle = ep.load()
        found[bundle.name] = bundle
    for provider in _PROVIDERS:
        found.update(provider())
    return found


def get(name: str) -> DomainBundle:
    try:
        return bundles()[name]
    except KeyError:
        raise KeyError(f"unknown domain {name!r}; known: {sorted(bundles())}") from None
