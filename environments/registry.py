"""Discovers domain bundles: packages under `environments/` that export `BUNDLE` (or, for a
family of domains such as `bfcl/...`, a `bundles()` function), plus any registered through
the `eigendata.environments` entry-point group (third-party bundles).

`get(name)` imports only the package the name points at, so serving one domain never loads
the others (nor, e.g., the BFCL release). A name that is a path to a bundle directory (one
with an `__init__.py` defining `BUNDLE`, as `eigen synth env` writes) is imported from there.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

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


def _path_like(name: str) -> bool:
    return os.sep in name or "/" in name or name.startswith((".", "~"))


_FROM_DIRS: dict[str, DomainBundle] = {}
"""Bundles loaded from a directory in this process, by name."""


def bundle_dir(name: str) -> Path | None:
    """The bundle directory `name` points at, if it is a path to one. Only names written as
    paths (a separator, `.`, `~`) count: a registered name never resolves to whatever
    directory of that name the current directory happens to hold."""
    if not _path_like(name):
        return None
    p = Path(name).expanduser()
    if not (p / "__init__.py").is_file():
        return None
    # A registered package reached by a relative path (`bfcl/math_api` run from inside
    # environments/) stays the registered domain.
    inside = any(p.resolve().is_relative_to(Path(d).resolve()) for d in environments.__path__)
    return None if inside else p


def get(name: str) -> DomainBundle:
    path = bundle_dir(name)
    if path is not None:
        # Not cached here: `load_bundle_dir` keys its import on the directory's contents,
        # so a regenerated bundle is served afresh. Imported lazily: the loader lives with
        # the synthesis agents that write such directories.
        from eigencore.agents.coding_agent import load_bundle_dir

        bundle = load_bundle_dir(path)
        # Later look-ups by the bundle's own name (task files, scoring) find it too, unless
        # an installed domain has that name: that one is never shadowed.
        if bundle.name not in _from_package(bundle.name.split("/", 1)[0].replace("-", "_")):
            _FROM_DIRS[bundle.name] = bundle
        return bundle
    if name in _FROM_DIRS:
        return _FROM_DIRS[name]
    p = Path(name).expanduser()
    if _path_like(name) and p.is_dir() and not (p / "__init__.py").is_file():
        raise KeyError(f"{name!r} is a directory but not a bundle (no __init__.py); a "
                       "synthesis run's bundle is OUT/<name>/")
    return _registered(name)


@cache
def _registered(name: str) -> DomainBundle:
    found = _from_package(name.split("/", 1)[0].replace("-", "_"))
    if name in found:
        return found[name]
    everything = bundles()
    if name in everything:
        return everything[name]
    raise KeyError(f"unknown domain {name!r}; known: {sorted(everything)}")
