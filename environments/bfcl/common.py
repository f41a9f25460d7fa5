"""Shared pieces of the BFCL-V3 port: the bundle type and access to the release's data.

No BFCL code or data is committed here. Default states and long-context extensions are
module-level literals in the release's own source files; they are read from the cached,
hash-checked release with `ast` (literals only, nothing is executed).
"""

from __future__ import annotations

import ast
import copy
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from environments.contract import DomainBundle

Projection = Callable[[sqlite3.Connection], dict[str, Any]]


def _no_projection(db: sqlite3.Connection) -> dict[str, Any]:
    return {}


def bfcl_text(value: Any) -> str:
    """A result as BFCL shows it to the model (json.dumps for dicts, str otherwise)."""
    from eigencore.bfcl.reference import result_text

    return result_text(value)


@dataclass
class BfclBundle(DomainBundle):
    """A BFCL class ported to SQLite.

    Scenarios are `{"config": <initial_config[class_name]>, "long_context": bool}`.
    `project(db)` returns the instance's public attributes exactly as
    `eigencore.bfcl.reference.ReferenceEpisode.state()[class_name]` shows the original's,
    so the two sides of the differential check compare directly.
    """

    class_name: str = ""
    module: str = ""
    project: Projection = field(default=_no_projection)
    stateless: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.render_result is None:
            self.render_result = bfcl_text


def scenario(config: dict[str, Any] | None = None, long_context: bool = False,
             repaired: bool = False) -> dict[str, Any]:
    """A BFCL class's scenario; `repaired` switches on the port's code fixes (the audit's
    repaired benchmark), which are off by default so BFCL's own trajectories keep their
    meaning."""
    out: dict[str, Any] = {"config": config or {}, "long_context": long_context}
    if repaired:
        out["repaired"] = True
    return out


@cache
def _constants(module: str, version: str | None) -> dict[str, Any]:
    from eigencore.bfcl.release import DEFAULT_VERSION, load_release

    source = load_release(version or DEFAULT_VERSION).source(module)
    out: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    out[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue  # not a literal (e.g. datetime(...)): the port states it itself
    return out


def release_constant(module: str, name: str, version: str | None = None) -> Any:
    """A fresh deep copy of a module-level literal of the release's source (e.g. DEFAULT_STATE)."""
    constants = _constants(module, version)
    if name not in constants:
        raise KeyError(f"{module}.py of the BFCL release defines no literal {name}")
    return copy.deepcopy(constants[name])
