"""A domain's live database for one episode, and the templates episodes are copied from.

A scenario is built once into an in-memory template (schema, data, change-capture
triggers); opening an episode is a page copy of that template with SQLite's backup API.
Every tool call runs as one transaction: it commits whole or rolls back whole, and a
read-only tool runs under `PRAGMA query_only` so a write attempt fails instead of landing.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Mapping
from functools import cached_property
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from environments import capture
from environments.contract import DomainBundle, Scenario, ToolError, ToolSpec
from environments.state import (
    StateDiff,
    StateReader,
    TableRows,
    diff_rows,
    diff_since,
    snapshot_json,
    table_meta,
    view_snapshot,
)


def connect(path: str = ":memory:") -> sqlite3.Connection:
    # check_same_thread=False: a server may run a call in a worker thread; every use
    # of the connection is serialised by the owning EnvDb's lock.
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA foreign_keys = ON")
    return db


_SCHEMAS: dict[tuple[str, str], sqlite3.Connection] = {}
_SCHEMAS_LOCK = threading.Lock()


def _empty_schema(bundle: DomainBundle) -> sqlite3.Connection:
    """The bundle's tables and change-capture triggers, no rows: built once per schema."""
    key = (bundle.name, bundle.schema_sql)
    with _SCHEMAS_LOCK:
        db = _SCHEMAS.get(key)
        if db is None:
            db = connect()
            db.executescript(bundle.schema_sql)
            db.execute("BEGIN")
            capture.install(db)
            db.execute("COMMIT")
            _SCHEMAS[key] = db
        return db


def build_database(bundle: DomainBundle, scenario: Scenario | None = None,
                   path: str = ":memory:") -> sqlite3.Connection:
    """Copy the empty schema, load the scenario, verify integrity; the change log starts
    empty, so the loaded rows are the baseline every diff is taken against."""
    db = connect(path)
    schema = _empty_schema(bundle)
    with _SCHEMAS_LOCK:
        schema.backup(db)
    db.execute("BEGIN")
    # Deferred: rows may arrive in any order; violations are then listed, not just refused.
    db.execute("PRAGMA defer_foreign_keys = ON")
    try:
        bundle.loader(db, bundle.default_scenario if scenario is None else scenario)
        bad = db.execute("PRAGMA foreign_key_check").fetchall()
        if bad:
            raise ValueError(f"scenario for {bundle.name!r} breaks foreign keys: {bad[:5]}")
        db.execute(f"DELETE FROM {capture.CHANGES}")  # loading is not a change
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        db.close()
        raise
    return db


def scenario_fingerprint(scenario: Scenario) -> str:
    blob = json.dumps(scenario, sort_keys=True, default=str).encode()
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


class TemplateCache:
    """Built scenario databases, keyed by domain and scenario content (LRU)."""

    def __init__(self, capacity: int = 1024):
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, str], sqlite3.Connection] = OrderedDict()
        self.lock = threading.Lock()

    def clear(self) -> None:
        with self.lock:
            while self._items:
                self._items.popitem()[1].close()

    def get(self, bundle: DomainBundle, scenario: Scenario | None) -> sqlite3.Connection:
        key = (bundle.name, "default" if scenario is None else scenario_fingerprint(scenario))
        with self.lock:
            db = self._items.get(key)
            if db is not None:
                self._items.move_to_end(key)
                return db
        db = build_database(bundle, scenario)
        with self.lock:
            self._items[key] = db
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)[1].close()
        return db


TEMPLATES = TemplateCache()


class ToolOutcome(BaseModel):
    """What a call returned: a value, or a structured error (and then nothing changed)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    ok: bool
    value: Any = None
    error: dict[str, Any] | None = None


class EnvDb:
    """One domain's private database in one episode."""

    def __init__(self, bundle: DomainBundle, db: sqlite3.Connection):
        self.bundle = bundle
        self.db = db
        self.lock = threading.RLock()
        self.baseline = capture.checkpoint(db)
        # Comparison views are not change-captured: keep their rows at every checkpoint.
        self._views: dict[int, TableRows] = (
            {self.baseline: view_snapshot(db, bundle.rules)} if bundle.rules.views else {})

    @classmethod
    def open(cls, bundle: DomainBundle, scenario: Scenario | None = None,
             templates: TemplateCache = TEMPLATES) -> EnvDb:
        template = templates.get(bundle, scenario)
        db = connect()
        with templates.lock:  # a template is shared: copy it under the cache's lock
            template.backup(db)
        return cls(bundle, db)

    def close(self) -> None:
        self.db.close()

    # -- calls ------------------------------------------------------------------------------
    def run(self, spec: ToolSpec, kwargs: Mapping[str, Any]) -> Any:
        """Run an already-validated call in one transaction; raises on failure."""
        with self.lock:
            db = self.db
            if spec.read_only:
                db.execute("PRAGMA query_only = ON")
            db.execute("BEGIN")
            try:
                value = spec.fn(db, **kwargs)
                db.execute("COMMIT")
                return value
            except BaseException:
                db.execute("ROLLBACK")
                raise
            finally:
                if spec.read_only:
                    db.execute("PRAGMA query_only = OFF")

    def call(self, name: str, arguments: Mapping[str, Any]) -> ToolOutcome:
        """Validate and run a call in-process (no MCP), returning a structured outcome."""
        try:
            spec = self.bundle.tool(name)
        except KeyError:
            return ToolOutcome(ok=False, error={"kind": "unknown_tool",
                                                "message": f"no tool named {name!r}"})
        try:
            kwargs = validate_arguments(spec, arguments)
        except ValidationError as e:
            return ToolOutcome(ok=False, error=validation_error(e))
        try:
            return ToolOutcome(ok=True, value=self.run(spec, kwargs))
        except Exception as e:  # every failure becomes a structured error
            return ToolOutcome(ok=False, error=error_dict(e))

    # -- state ------------------------------------------------------------------------------
    @cached_property
    def reader(self) -> StateReader:
        return StateReader(self.db, self.bundle.rules, table_meta(self.db, self.bundle.rules))

    def checkpoint(self) -> int:
        with self.lock:
            seq = capture.checkpoint(self.db)
            if self.bundle.rules.views:
                self._views[seq] = view_snapshot(self.db, self.bundle.rules)
            return seq

    def diff(self, since: int | None = None) -> StateDiff:
        """Changes since a checkpoint (default: since the scenario was loaded)."""
        with self.lock:
            since = self.baseline if since is None else since
            d = diff_since(self.reader, since)
            if self.bundle.rules.views:
                before = self._views.get(since)
                if before is None:
                    raise KeyError(f"no view snapshot at checkpoint {since}; take checkpoints "
                                   "with EnvDb.checkpoint()")
                now = view_snapshot(self.db, self.bundle.rules)
                d.changes += diff_rows(before, now, self.bundle.rules, self.reader.meta).changes
            return d

    def snapshot(self) -> TableRows:
        with self.lock:
            return self.reader.snapshot()

    def snapshot_json(self) -> dict[str, list[dict[str, Any]]]:
        return snapshot_json(self.snapshot())


_VALIDATORS: dict[int, type[BaseModel]] = {}


def arguments_model(spec: ToolSpec) -> type[BaseModel]:
    """A pydantic model of the agent-visible arguments (everything after `db`)."""
    model = _VALIDATORS.get(id(spec.fn))
    if model is None:
        hints = get_type_hints(spec.fn, include_extras=True)
        fields: dict[str, Any] = {}
        for p in list(inspect.signature(spec.fn).parameters.values())[1:]:
            default = ... if p.default is inspect.Parameter.empty else p.default
            fields[p.name] = (hints.get(p.name, Any), default)
        model = create_model(  # type: ignore[call-overload]
            f"{spec.name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
        )
        _VALIDATORS[id(spec.fn)] = model
    return model


def validate_arguments(spec: ToolSpec, arguments: Mapping[str, Any]) -> dict[str, Any]:
    m = arguments_model(spec).model_validate(dict(arguments))
    return {name: getattr(m, name) for name in type(m).model_fields}


def validation_error(e: ValidationError) -> dict[str, Any]:
    problems = [
        {"field": ".".join(str(p) for p in err["loc"]) or None, "problem": err["msg"]}
        for err in e.errors()
    ]
    fields = ", ".join(p["field"] or "?" for p in problems)
    return {"kind": "invalid_arguments", "message": f"invalid arguments: {fields}",
            "problems": problems}


def error_dict(e: BaseException) -> dict[str, Any]:
    if isinstance(e, ToolError):
        return e.to_dict()
    if isinstance(e, sqlite3.IntegrityError):
        return {"kind": "constraint_violation", "message": str(e)}
    if isinstance(e, sqlite3.OperationalError) and "readonly" in str(e).lower():
        return {"kind": "read_only_violation", "message": f"a read-only tool tried to write: {e}"}
    return {"kind": "internal_error", "message": f"{type(e).__name__}: {e}"}
