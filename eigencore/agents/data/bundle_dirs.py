"""Synthesized bundle directories (`eigen synth env` output) usable wherever a domain name is.

Everything downstream (the harness's in-process servers, reference outcomes, scoring, the
DataAgent's `DomainContext`) finds bundles by name through `environments.registry`. The
registry imports a bundle directory when asked for it by path and answers later look-ups by
the bundle's own name; `register_bundle_dir` does that and returns the name, and
`resolve_domain` accepts either form.

A repaired bundle keeps its name, so registering a new version must also drop what is
cached under that name elsewhere: the built template databases and the harness's
in-process deployment. Those caches have no public invalidation hook; `_forget` is the one
place that reaches into them.
"""

from __future__ import annotations

from pathlib import Path

from environments import registry
from environments.contract import DomainBundle

_REGISTERED: dict[str, tuple[Path, DomainBundle]] = {}
"""Bundle name -> the directory it was registered from and its bundle (this process)."""


def is_bundle_dir(value: str | Path) -> bool:
    p = Path(value).expanduser()
    return p.is_dir() and (p / "__init__.py").is_file()


def _forget(name: str) -> None:
    from eigencore.evaluation import harness
    from environments.envdb import TEMPLATES

    TEMPLATES.clear()  # keyed by bundle name: a new schema needs new template databases
    for key in [k for k in harness._DEPLOYMENTS if name in k[0]]:
        del harness._DEPLOYMENTS[key]  # servers built from the previous version


def register_bundle_dir(path: str | Path) -> str:
    """Load a bundle directory and make it the bundle its name resolves to; returns the
    name. Refuses a name an installed domain package uses (it would be shadowed)."""
    p = Path(path).expanduser().resolve()
    bundle = registry.get(str(p))
    if bundle.name in registry.bundles():
        raise ValueError(f"the bundle in {p} is named {bundle.name!r}, like an installed "
                         "domain; rename it in the spec")
    previous = _REGISTERED.get(bundle.name)
    if previous is not None and previous[1] is not bundle:
        _forget(bundle.name)
    _REGISTERED[bundle.name] = (p, bundle)
    return bundle.name


def resolve_domain(domain: str | Path) -> str:
    """A domain name as given, or the name of the bundle in a directory (registered)."""
    if is_bundle_dir(domain):
        return register_bundle_dir(domain)
    return str(domain)


def registered_dirs() -> dict[str, Path]:
    return {name: p for name, (p, _) in _REGISTERED.items()}
