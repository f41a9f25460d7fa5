"""Discovers domain bundles: packages under `environments/` that export `BUNDLE` (or, for a
family of domains such as `bfcl/...`, a `bundles()` function), plus any registered through
the `eigendata.environments` entry-point group (third-party bundles).

`get(name)` imports only the package the name points at, so serving one domain never loads
the others (nor, e.g., the BFCL release).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from importlib.metadata import entry_points

import environments
from environments.contract import DomainBundle


def _from_package(package: str) -> dict[str, DomainBundle]:
    try:
        module = importlib.import_module(f"environments.{package}")
    except ModuleNotFoundError as e:
        if e.name == f"environments.{package}":
            return {}
        raise
    found: dict[str, DomainBundle] = {}
    bundle = getattr(module, "BUNDLE", None)
    if isinstance(bundle, DomainBundle):
        found[bundle.name] = bundle
    provide = getattr(module, "bundles", None)
    if callable(provide):
        found.update(provide())
    return found


@cache
def bundles() -> dict[str, DomainBundle]:
    """Every bundle that can be found (imports every domain package)."""
    found: dict[str, DomainBundle] = {}
    for mod in pkgutil.iter_modules(environments.__path__):
        if mod.ispkg:
            found.update(_from_package(mod.name))
    for ep in entry_points(group="eigendata.environments"):
        bundle = ep.load()
        found[bundle.name] = bundle
    return found


@cache
def get(name: str) -> DomainBundle:
    found = _from_package(name.split("/", 1)[0].replace("-", "_"))
    if name in found:
        return found[name]
    everything = bundles()
    if name in everything:
        return everything[name]
    raise KeyError(f"unknown domain {name!r}; known: {sorted(everything)}")
