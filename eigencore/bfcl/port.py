"""Executes BFCL calls on the SQLite port, with the same interface as the reference executor.

One `PortEpisode` per entry: a private database per involved class, loaded from the entry's
`initial_config` (and the long-context extensions when the entry asks for them). Results are
stringified exactly as BFCL does, so the two sides of a comparison are directly comparable.
"""

from __future__ import annotations

import inspect
from typing import Any

from eigencore.bfcl.calls import Call, parse_call
from eigencore.bfcl.reference import (
    BLOCKED_FUNCTION_NAMES,
    ERROR_PREFIX,
    ExecResult,
    result_text,
)
from eigencore.bfcl.release import Entry
from environments.bfcl import by_class
from environments.bfcl.common import BfclBundle, scenario
from environments.contract import ToolSpec
from environments.envdb import EnvDb


def _error(message: str) -> ExecResult:
    return ExecResult(value=None, text=ERROR_PREFIX + message, error=True)


def positional_names(spec: ToolSpec) -> list[str]:
    return list(inspect.signature(spec.fn).parameters)[1:]


def bind_arguments(spec: ToolSpec, call: Call) -> dict[str, Any]:
    """Keyword arguments for a call that may use positional ones (BFCL allows both)."""
    names = positional_names(spec)
    if len(call.args) > len(names):
        raise TypeError(f"{call.name}() takes {len(names)} arguments, {len(call.args)} given")
    kwargs = dict(zip(names, call.args, strict=False))
    for k, v in call.kwargs.items():
        if k in kwargs:
            raise TypeError(f"{call.name}() got multiple values for argument '{k}'")
        kwargs[k] = v
    return kwargs


class PortEpisode:
    """The port's side of one entry."""

    def __init__(self, entry: Entry, bundles: dict[str, BfclBundle] | None = None):
        bundles = bundles if bundles is not None else by_class()
        self.entry = entry
        self.dbs: dict[str, EnvDb] = {}
        self.bundles: dict[str, BfclBundle] = {}
        self._methods: dict[str, tuple[str, ToolSpec]] = {}
        for class_name in entry.involved_classes:
            bundle = bundles.get(class_name)
            if bundle is None:
                raise KeyError(f"{entry.id}: class {class_name} has no port")
            sc = scenario(entry.initial_config.get(class_name, {}), entry.long_context)
            self.dbs[class_name] = EnvDb.open(bundle, sc)
            self.bundles[class_name] = bundle
            for spec in bundle.tools:  # later classes win, as in the reference executor
                self._methods[spec.name] = (class_name, spec)

    def close(self) -> None:
        for db in self.dbs.values():
            db.close()

    def execute(self, call: Call | str) -> ExecResult:
        if isinstance(call, str):
            call = parse_call(call)
        if call.name in BLOCKED_FUNCTION_NAMES:
            return _error(f"Function call {call.name} is not allowed.")
        target = self._methods.get(call.name)
        if target is None:
            return _error(f"name '{call.name}' is not defined")
        class_name, spec = target
        try:
            kwargs = bind_arguments(spec, call)
        except TypeError as e:
            return _error(str(e))
        outcome = self.dbs[class_name].call(spec.name, kwargs)
        if not outcome.ok:
            return _error(str((outcome.error or {}).get("message", outcome.error)))
        try:
            text = result_text(outcome.value)
        except ValueError as e:  # e.g. an int past Python's str() digit limit, as BFCL reports
            return _error(str(e))
        return ExecResult(value=outcome.value, text=text, error=False)

    def state(self) -> dict[str, dict[str, Any]]:
        return {c: self.bundles[c].project(db.db) for c, db in self.dbs.items()}
