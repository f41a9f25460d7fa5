"""Implementation audit: what the ORIGINAL classes do under schema-valid generated calls.

For every documented function, seeded arguments valid against the doc's parameter schema are
drawn from the release's own data (the ground truth's arguments, the entities of the initial
states, documented enums) plus edge values, and run on fresh original instances of sampled
real entries, some after replaying part of the entry's ground truth. Reported:

- calls that raise (BFCL shows "Error during execution: ..."), one finding per (function,
  exception type) with the smallest reproducing call;
- generic invariant violations a call introduces: negative balances/amounts/levels, counters
  out of step with the collection they count or below an existing id, dangling id references,
  dates on the wrong side of the data's own clock (``CURRENT_TIME``);
- deviations of the SQLite port from the original on the same calls (``compare_turns``);
- the port authors' manual findings (``environments/bfcl/<module>/findings.json``),
  re-executed on the original where their evidence is a parseable call sequence.

Deterministic (seeded) and bounded; no LLM. The pieces take plain inputs (a doc, a sandbox
factory, a comparator) so that tests can seed a defect.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from eigencore.audit.findings import Evidence, Finding, Kind, Severity
from eigencore.audit.schema import (
    argument_pools,
    default_entry,
    default_episode,
    doc_kind,
    documented_enum,
    invoke,
    public_methods,
)
from eigencore.bfcl.calls import Call, CallParseError, format_call, parse_call
from eigencore.bfcl.reference import ExecResult, ReferenceEpisode, project_value
from eigencore.bfcl.release import CLASS_MODULES, Entry, Release

__all__ = [
    "IMPL_SEED",
    "Budget",
    "Context",
    "ObjectSandbox",
    "ReferenceSandbox",
    "Sandbox",
    "Sources",
    "Step",
    "Violation",
    "audit_implementations",
    "entity_values",
    "exception_findings",
    "find_clock",
    "generate_arguments",
    "invariant_findings",
    "manual_findings",
    "port_findings",
    "probe_function",
    "reverify_manual",
    "state_violations",
    "transition_violations",
]

IMPL_SEED = 20250608
_ENVIRONMENTS = Path(__file__).resolve().parents[2] / "environments" / "bfcl"


@dataclass(frozen=True)
class Budget:
    """How much generated work per function (the defaults: ~8 s for the release, one core)."""

    contexts: int = 6
    calls_per_context: int = 8
    port_contexts: int = 3
    """Of the contexts, how many are also replayed on the port (the costliest part)."""
    shrink_attempts: int = 4


# --------------------------------------------------------------------------- sandboxes


class Sandbox(Protocol):
    """One live instance of the class under audit."""

    def run(self, call: Call) -> tuple[ExecResult, str | None]:
        """Execute; the second value is the exception type name when the call raised."""
        ...

    def state(self) -> dict[str, Any]:
        """Public attributes of the instance, as plain data."""
        ...

    @property
    def clock(self) -> datetime | None: ...


def _public_state(instance: Any) -> dict[str, Any]:
    return {
        name: project_value(value)
        for name, value in vars(instance).items()
        if not name.startswith("_") and not callable(value)
    }


_CLOCK_NAMES = {"currenttime", "currentdate", "currentdatetime", "now", "today"}


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        return _parse_date(value)
    return None


def find_clock(instance: Any) -> datetime | None:
    """The data's own "now": an attribute, class attribute or module global named like
    ``CURRENT_TIME`` / ``current_date`` / ``now`` holding a date (BFCL's TradingBot has one)."""
    functions = [f for f in vars(type(instance)).values() if hasattr(f, "__globals__")]
    module_globals = functions[0].__globals__ if functions else {}
    for namespace in (vars(instance), vars(type(instance)), module_globals):
        for name, value in namespace.items():
            if name.lower().replace("_", "") in _CLOCK_NAMES:
                moment = _as_datetime(value)
                if moment is not None:
                    return moment
    return None


CALL_SECONDS = 5.0


class CallTimeout(BaseException):
    """Raised into a call that runs too long (a BaseException: methods catch Exception)."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt Python-level endless work; only possible on the main thread (SIGALRM)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise CallTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    started = time.monotonic()
    outer, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:  # someone else's timer (e.g. a test timeout) keeps running
            left = max(outer - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


class ObjectSandbox:
    """A sandbox over any Python object (used by tests with hand-made classes)."""

    def __init__(self, instance: Any) -> None:
        self.instance = instance

    def run(self, call: Call) -> tuple[ExecResult, str | None]:
        method = getattr(self.instance, call.name, None)
        if method is None or call.name.startswith("_"):
            return ExecResult(None, f"Error during execution: no function {call.name}", True), (
                "NameError"
            )
        with _time_limit(CALL_SECONDS):
            try:
                return invoke(method, call)
            except CallTimeout:
                text = f"Error during execution: no result within {CALL_SECONDS} s"
                return ExecResult(None, text, True), "CallTimeout"

    def state(self) -> dict[str, Any]:
        return _public_state(self.instance)

    @property
    def clock(self) -> datetime | None:
        return find_clock(self.instance)


class ReferenceSandbox(ObjectSandbox):
    """The original class of a real entry, after replaying its first ``prefix_turns``."""

    def __init__(self, release: Release, context: Context) -> None:
        self.episode = ReferenceEpisode(context.entry, release)
        for turn in context.entry.ground_truth[: context.prefix_turns]:
            for text in turn:
                self.episode.execute(text)
        super().__init__(self.episode.instances[context.class_name])


@dataclass(frozen=True)
class Context:
    """Where generated calls run: a real entry, after its first ``prefix_turns`` turns."""

    entry: Entry
    class_name: str
    prefix_turns: int = 0

    def describe(self) -> str:
        if self.prefix_turns == 0:
            return f"on a fresh {self.entry.id} (original classes)"
        return (
            f"on {self.entry.id} (original classes) after its ground-truth turns "
            f"0..{self.prefix_turns - 1}"
        )

    def prefix(self) -> list[list[str]]:
        return [list(turn) for turn in self.entry.ground_truth[: self.prefix_turns]]


# --------------------------------------------------------------------------- values


@dataclass
class Entities:
    """Real values of a class's data (initial states), by JSON kind."""

    strings: list[str] = field(default_factory=list)
    integers: list[int] = field(default_factory=list)
    floats: list[float] = field(default_factory=list)


_MAX_ENTITIES = 300
_MAX_ENTITY_CHARS = 40


def entity_values(states: Iterable[Any]) -> Entities:
    """Keys and short scalars found in the given states, in first-seen order."""
    out = Entities()
    seen: set[tuple[type, Any]] = set()

    def add(value: Any) -> None:
        kind = type(value)
        if kind not in (str, int, float) or (kind, value) in seen:
            return
        if kind is str and 0 < len(value) <= _MAX_ENTITY_CHARS:
            bucket: list[Any] = out.strings
        elif kind is int:
            bucket = out.integers
        elif kind is float:
            bucket = out.floats
        else:
            return
        if len(bucket) < _MAX_ENTITIES:
            seen.add((kind, value))
            bucket.append(value)

    def walk(node: Any, depth: int) -> None:
        if depth > 8:
            return
        if isinstance(node, dict):
            for key, value in node.items():
                add(key)
                walk(value, depth + 1)
        elif isinstance(node, list | tuple | set | frozenset):
            for value in node:
                walk(value, depth + 1)
        else:
            add(node)

    for state in states:
        # The top-level keys of a state or config are attribute names, not data.
        for value in state.values() if isinstance(state, dict) else [state]:
            walk(value, 1)
    return out


_EDGES: dict[str, list[Any]] = {
    "string": ["", "None", "nonexistent"],
    # Large but not huge: MathAPI feeds precision straight to decimal/mpmath, whose C code
    # cannot be interrupted (square_root(precision=10**9) never returns).
    "integer": [0, 1, -1, 1000],
    "float": [0.0, -1.0, 0.5, 1e6],
    "boolean": [True, False],
    "array": [[]],
    "dict": [{}],
}


def _pick(rng: random.Random, *pools: tuple[float, Sequence[Any]]) -> Any:
    """Choose a pool by weight (empty pools skipped), then a value in it."""
    live = [(w, p) for w, p in pools if p]
    if not live:
        return None
    total = sum(w for w, _ in live)
    roll = rng.random() * total
    for weight, pool in live:
        roll -= weight
        if roll <= 0:
            return rng.choice(list(pool))
    return rng.choice(list(live[-1][1]))


def _fits_kind(kind: str | None, value: Any) -> bool:
    if kind in (None, "any"):
        return True
    if kind == "float":
        return type(value) in (int, float)
    return {
        "string": str,
        "integer": int,
        "boolean": bool,
        "array": list,
        "dict": dict,
    }.get(kind, object) is type(value) or kind not in _EDGES


@dataclass
class Sources:
    """Where argument values come from, nearest first: the context entry's own ground truth
    (values by parameter name, any function: an access token, a card id), the function's
    ground truth across the release, the entry's data, the class's data across entries."""

    local: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    truth: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    entities: Entities = field(default_factory=Entities)
    shared: Entities = field(default_factory=Entities)


def _of_kind(entities: Entities, kind: str) -> Sequence[Any]:
    if kind == "string":
        return entities.strings
    if kind == "integer":
        return entities.integers
    if kind == "float":
        return [*entities.floats, *entities.integers]
    return ()


def _value(
    schema: Mapping[str, Any],
    local: Sequence[Any],
    truth: Sequence[Any],
    sources: Sources,
    rng: random.Random,
    depth: int = 0,
) -> Any:
    kind = doc_kind(schema) or "any"
    enum = documented_enum(schema)
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    if kind == "array" and enum is None and items:
        enum = documented_enum(items)
    item_kind = doc_kind(items) if kind == "array" else None

    def fits(value: Any) -> bool:
        return _fits_kind(kind, value) and (
            item_kind is None or all(_fits_kind(item_kind, x) for x in value)
        )

    local = [v for v in local if fits(v)]
    truth = [v for v in truth if fits(v)]
    if enum and kind != "array":
        return rng.choice(enum)  # schema-valid: an enum admits nothing else
    if kind == "array":
        if (local or truth) and rng.random() < 0.5:
            return list(_pick(rng, (0.6, local), (0.4, truth)))
        length = rng.choice([0, 1, 1, 2, 3])
        if enum:
            return [rng.choice(enum) for _ in range(length)]
        item_local = [x for v in local for x in v]
        item_truth = [x for v in truth for x in v]
        return [
            _value(items, item_local, item_truth, sources, rng, depth + 1) for _ in range(length)
        ]
    if kind == "dict":
        props = schema.get("properties")
        if (local or truth) and rng.random() < 0.6:
            return dict(_pick(rng, (0.6, local), (0.4, truth)))
        if isinstance(props, dict) and depth < 3:
            return {
                key: _value(sub, [], [], sources, rng, depth + 1)
                for key, sub in props.items()
                if rng.random() < 0.5
            }
        return {}
    return _pick(
        rng,
        (0.4, local),
        (0.2, truth),
        (0.15, _of_kind(sources.entities, kind)),
        (0.05, _of_kind(sources.shared, kind)),
        (0.2, _EDGES.get(kind, ["x", 0, True])),
    )


def generate_arguments(
    doc: Mapping[str, Any], sources: Sources, rng: random.Random
) -> dict[str, Any]:
    """Keyword arguments valid against the doc's parameter schema (types, enums, required)."""
    parameters = doc.get("parameters") or {}
    required = set(parameters.get("required") or [])
    out: dict[str, Any] = {}
    for name, schema in (parameters.get("properties") or {}).items():
        if name in required or rng.random() < 0.5:
            out[name] = _value(
                schema, sources.local.get(name, ()), sources.truth.get(name, ()), sources, rng
            )
    return out


# --------------------------------------------------------------------------- invariants


@dataclass(frozen=True)
class Violation:
    detector: str
    """negative | counter | dangling | date"""
    group: str
    """What one finding covers (e.g. ``credit_card_list.*.balance``)."""
    where: str
    """The exact location (e.g. ``credit_card_list['1234'].balance``)."""
    detail: str


_NON_NEGATIVE = {
    "balance", "amount", "count", "counter", "quantity", "qty", "fuel", "level",
    "price", "cost", "budget", "shares", "stock",
}  # fmt: skip
_FORWARD = {"travel", "expiration", "expiry", "due", "deadline", "departure", "scheduled"}
_RECORDED = {"timestamp", "created", "updated", "modified", "recorded", "posted", "sent"}
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%m/%Y", "%m/%y")


@functools.lru_cache(maxsize=1 << 16)
def _words(name: str) -> tuple[str, ...]:
    """``fuelLevel`` -> (fuel, level); ``ticket_counter`` -> (ticket, counter)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return tuple(w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w)


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def _parse_date(text: str) -> datetime | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterable[tuple[tuple[Any, ...], Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    else:
        yield path, node


def _where(path: tuple[Any, ...]) -> str:
    text = str(path[0]) if path else ""
    for part in path[1:]:
        text += (
            f"[{part!r}]" if not isinstance(part, str) or not part.isidentifier() else f".{part}"
        )
    return text


def _group(path: tuple[Any, ...]) -> str:
    """The attribute and the field, with the collection keys in between as ``*``."""
    if len(path) <= 1:
        return _where(path)
    return f"{path[0]}.*.{path[-1]}" if len(path) > 2 else f"{path[0]}.{path[-1]}"


def _ids_of(collection: Any) -> set[str] | None:
    """Ids a collection names: keys of a dict of records, values of a dict of scalars
    (``user_map`` name -> id), ``id`` fields of a list of records. An empty collection names
    nothing; a collection of any other shape is not a set of ids (None)."""
    if isinstance(collection, dict | list) and not collection:
        return set()
    if isinstance(collection, dict):
        values = list(collection.values())
        if all(isinstance(v, dict) for v in values):
            return {str(k) for k in collection}
        if all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
            return {str(v) for v in values}
        return None
    if isinstance(collection, list) and all(isinstance(v, dict) for v in collection):
        ids = {str(v["id"]) for v in collection if "id" in v}
        return ids or None
    return None


def _collection_for(stem: str, state: Mapping[str, Any], exclude: str) -> str | None:
    """The top-level collection an ``<stem>_id`` / ``<stem>_count`` names (tweet -> tweets)."""
    for name, value in state.items():
        if name == exclude or not isinstance(value, dict | list | set):
            continue
        if stem in {_singular(w) for w in _words(name)}:
            return name
    return None


def _as_id(raw: Any) -> int | None:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


def _numeric_ids(collection: Any) -> list[int]:
    """Integer ids in a collection: its keys, or its records' ``id`` fields."""
    keys: Iterable[Any] = collection.keys() if isinstance(collection, dict) else ()
    items: Iterable[Any] = collection.values() if isinstance(collection, dict) else collection
    found = [_as_id(key) for key in keys]
    found += [_as_id(item["id"]) for item in items if isinstance(item, dict) and "id" in item]
    return [i for i in found if i is not None]


def state_violations(state: Mapping[str, Any], clock: datetime | None = None) -> list[Violation]:
    """Generic invariants of one instance's public state, by attribute names and types."""
    out: list[Violation] = []
    for path, value in _leaves(dict(state)):
        if not path or isinstance(value, bool):
            continue
        key = path[-1]
        words = set(_words(key)) if isinstance(key, str) else set()
        if isinstance(value, int | float) and value < 0 and words & _NON_NEGATIVE:
            out.append(
                Violation("negative", _group(path), _where(path), f"{_where(path)} = {value!r}")
            )
        if isinstance(value, str) and clock is not None and words:
            moment = _parse_date(value) if words & (_FORWARD | _RECORDED) else None
            if moment is None:
                continue
            if words & _FORWARD and moment.date() < clock.date():
                out.append(
                    Violation(
                        "date",
                        _group(path),
                        _where(path),
                        f"{_where(path)} = {value!r} is before the data's clock {clock}",
                    )
                )
            elif words & _RECORDED and moment > clock:
                out.append(
                    Violation(
                        "date",
                        _group(path),
                        _where(path),
                        f"{_where(path)} = {value!r} is recorded after the data's clock {clock}",
                    )
                )
    for name, value in state.items():
        words = _words(name)
        if not isinstance(value, int) or isinstance(value, bool) or len(words) < 2:
            continue
        if words[-1] not in ("count", "counter"):
            continue
        target = _collection_for(_singular(words[-2]), state, name)
        if target is None:
            continue
        collection = state[target]
        if words[-1] == "count" and value != len(collection):
            out.append(
                Violation(
                    "counter",
                    f"{name}/{target}",
                    name,
                    f"{name} = {value} but len({target}) = {len(collection)}",
                )
            )
        ids = _numeric_ids(collection) if words[-1] == "counter" else []
        if ids and value < max(ids):
            out.append(
                Violation(
                    "counter",
                    f"{name}/{target}",
                    name,
                    f"{name} = {value} is below the existing id {max(ids)} in {target}",
                )
            )
    for path, value in _leaves(dict(state)):
        if len(path) < 2 or not isinstance(path[-1], str) or isinstance(value, bool):
            continue
        words = _words(path[-1])
        if len(words) < 2 or words[-1] != "id" or not isinstance(value, str | int):
            continue
        target = _collection_for(_singular(words[-2]), state, str(path[0]))
        ids = _ids_of(state.get(target)) if target else None
        if ids is not None and str(value) not in ids:
            out.append(
                Violation(
                    "dangling",
                    _group(path),
                    _where(path),
                    f"{_where(path)} = {value!r} names nothing in {target}",
                )
            )
    return out


def transition_violations(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Violation]:
    """Invariants of one step: a counter that advances must add as many items as it counts."""
    out: list[Violation] = []
    for name, value in after.items():
        words = _words(name)
        old = before.get(name)
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not isinstance(old, int)
            or len(words) < 2
            or words[-1] not in ("count", "counter")
            or value <= old
        ):
            continue
        target = _collection_for(_singular(words[-2]), after, name)
        if target is None or not isinstance(before.get(target), dict | list | set):
            continue
        grown = len(after[target]) - len(before[target])
        if grown < value - old:
            out.append(
                Violation(
                    "counter",
                    f"{name}/{target}",
                    name,
                    f"{name} advanced {old} -> {value} but {target} grew by {grown} "
                    f"({len(before[target])} -> {len(after[target])} items)",
                )
            )
    return out


def _new_violations(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    old: Sequence[Violation],
    now: Sequence[Violation],
) -> list[Violation]:
    """What the call broke: a value already off before it is the data's, not the call's."""
    seen = {(v.detector, v.where) for v in old}
    fresh = [v for v in now if (v.detector, v.where) not in seen]
    return fresh + transition_violations(before, after)


# --------------------------------------------------------------------------- probing


@dataclass(frozen=True)
class Step:
    """One generated call as executed, with what it did."""

    class_name: str
    function: str
    context: str
    preceding: tuple[str, ...]
    call: str
    result: ExecResult
    exception: str | None
    violations: tuple[Violation, ...] = ()
    state_diff: str | None = None
    entry_id: str | None = None
    setup: int = 0
    """Ground-truth turns replayed before the generated calls (0 = a fresh instance)."""
    replay: Callable[[], Sandbox] | None = field(default=None, compare=False, repr=False)


def _diff(before: Mapping[str, Any], after: Mapping[str, Any], where: Iterable[str]) -> str:
    lines = []
    for name in sorted({w.split(".")[0].split("[")[0] for w in where}):
        lines.append(
            f"{name}: {_clip(json.dumps(before.get(name), default=str))} -> "
            f"{_clip(json.dumps(after.get(name), default=str))}"
        )
    return "\n".join(lines)


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text)} chars]"


def probe_function(
    class_name: str,
    function: str,
    fresh: Callable[[], Sandbox],
    calls: Sequence[Call],
    context: str = "on a default instance",
    entry_id: str | None = None,
    setup: int = 0,
) -> list[Step]:
    """Run ``calls`` in order on one fresh sandbox; record exceptions and new violations."""
    sandbox = fresh()
    clock = sandbox.clock
    before = sandbox.state()
    old = state_violations(before, clock)
    steps: list[Step] = []
    done: list[str] = []
    for call in calls:
        text = format_call(call)
        result, exception = sandbox.run(call)
        after = sandbox.state()
        # Most calls change nothing (reads, refusals): nothing to check then.
        now = old if after == before else state_violations(after, clock)
        violations = tuple(_new_violations(before, after, old, now)) if now is not old else ()
        steps.append(
            Step(
                class_name,
                function,
                context,
                tuple(done),
                text,
                result,
                exception,
                violations,
                _diff(before, after, [v.where for v in violations]) if violations else None,
                entry_id,
                setup,
                fresh,
            )
        )
        done.append(text)
        before, old = after, now
    return steps


def _rerun(step: Step, preceding: Sequence[str]) -> Step | None:
    """The step's call again on a fresh sandbox after only ``preceding``."""
    if step.replay is None:
        return None
    calls = [parse_call(c) for c in [*preceding, step.call]]
    steps = probe_function(
        step.class_name, step.function, step.replay, calls, step.context, step.entry_id, step.setup
    )
    return steps[-1] if steps else None


def _shrink(step: Step, still: Callable[[Step], bool], attempts: int) -> Step:
    """Drop preceding generated calls the effect does not need (greedy, last first)."""
    if not step.preceding or attempts <= 0:
        return step
    alone = _rerun(step, [])
    if alone is not None and still(alone):
        return alone
    kept = list(step.preceding)
    best = step
    for index in reversed(range(len(kept))):
        trial = _rerun(step, kept[:index] + kept[index + 1 :])
        if trial is not None and still(trial):
            kept, best = kept[:index] + kept[index + 1 :], trial
    return best


def _size(step: Step) -> tuple[int, int, int, str]:
    """Smaller = quicker to check: fewer calls before it, less replayed setup, shorter call."""
    return (len(step.preceding), step.setup, len(step.call), step.call)


def _repro(step: Step) -> str:
    return "; ".join([*step.preceding, step.call])


def exception_findings(steps: Sequence[Step], attempts: int = 4) -> list[Finding]:
    """One finding per (class, function, exception type): the smallest reproducing call."""
    groups: dict[tuple[str, str, str], list[Step]] = {}
    for step in steps:
        if step.exception:
            groups.setdefault((step.class_name, step.function, step.exception), []).append(step)
    out: list[Finding] = []
    for (class_name, function, exception), hits in sorted(groups.items()):
        ranked = sorted(hits, key=_size)
        best = ranked[0]
        for step in ranked[:attempts]:
            shrunk = _shrink(step, lambda s, e=exception: s.exception == e, attempts)
            if _size(shrunk) < _size(best):
                best = shrunk
        out.append(
            _impl_finding(
                "implementation.exception",
                f"{class_name}.{function}.{exception}",
                (
                    f"{function} does not return within {CALL_SECONDS} s on a schema-valid call"
                    if exception == "CallTimeout"
                    else f"{function} raises {exception} on a schema-valid call"
                )
                + f" ({len(hits)} of the generated calls); BFCL shows the model a Python "
                "exception text.",
                class_name,
                function,
                Evidence(
                    call=_repro(best),
                    result=_clip(best.result.text, 600),
                    notes=f"executed {best.context}",
                ),
                entry_id=best.entry_id,
            )
        )
    return out


def _same_kind(violation: Violation, detector: str, group: str) -> bool:
    return violation.detector == detector and violation.group == group


_VIOLATION_TEXT = {
    "negative": "leaves a value that must not be negative below 0",
    "counter": "puts a counter out of step with what it counts",
    "dangling": "leaves an id reference that names nothing",
    "date": "leaves a date on the wrong side of the data's own clock",
}


def invariant_findings(steps: Sequence[Step], attempts: int = 4) -> list[Finding]:
    """One finding per (class, function, detector, group): the smallest reproducing call."""
    groups: dict[tuple[str, str, str, str], list[tuple[Step, Violation]]] = {}
    for step in steps:
        for violation in step.violations:
            key = (step.class_name, step.function, violation.detector, violation.group)
            groups.setdefault(key, []).append((step, violation))
    out: list[Finding] = []
    for (class_name, function, detector, group), hits in sorted(groups.items()):
        ranked = sorted(hits, key=lambda h: _size(h[0]))
        best, violation = ranked[0]

        def still(s: Step, d: str = detector, g: str = group) -> bool:
            return any(_same_kind(v, d, g) for v in s.violations)

        for step, _ in ranked[:attempts]:
            shrunk = _shrink(step, still, attempts)
            if _size(shrunk) < _size(best):
                best = shrunk
                violation = next(v for v in shrunk.violations if _same_kind(v, detector, group))
        out.append(
            _impl_finding(
                f"implementation.invariant_{detector}",
                f"{class_name}.{function}.{group}",
                f"{function} {_VIOLATION_TEXT[detector]}: {violation.detail}.",
                class_name,
                function,
                Evidence(
                    call=_repro(best),
                    result=_clip(best.result.text, 600),
                    state_diff=best.state_diff,
                    notes=f"executed {best.context}; {len(hits)} occurrences",
                ),
                entry_id=best.entry_id,
                severity="warning" if detector == "date" else "error",
            )
        )
    return out


def _impl_finding(
    check: str,
    where: str,
    summary: str,
    class_name: str | None,
    function: str | None,
    evidence: Evidence,
    entry_id: str | None = None,
    severity: Severity = "error",
    kind: Kind = "implementation",
) -> Finding:
    return Finding(
        id=f"{check}:{where}",
        check=check,
        kind=kind,
        severity=severity,
        summary=summary,
        class_name=class_name,
        function=function,
        entry_id=entry_id,
        evidence=evidence,
    )


# --------------------------------------------------------------------------- the port


Comparator = Callable[[Entry, Sequence[Sequence[str]]], Sequence[Any]]
"""``compare_turns``-like: replays turns on the original and the port, returns deviations."""


def port_findings(
    class_name: str,
    function: str,
    context: Context,
    calls: Sequence[str],
    compare: Comparator,
) -> list[Finding]:
    """The first deviation of the port from the original on the generated calls (later ones
    usually follow from it), reduced to the single call when that alone reproduces it."""
    prefix = context.prefix()
    turns = [*prefix, *([c] for c in calls)]
    try:
        deviations = list(compare(context.entry, turns))
    except Exception as exc:  # the comparison itself crashing is a port defect too
        return [
            _impl_finding(
                "implementation.port_deviation",
                f"{class_name}.{function}.crash",
                f"replaying {function} calls on the port crashed the comparison: "
                f"{type(exc).__name__}: {exc}",
                class_name,
                function,
                Evidence(call="; ".join(calls), notes=f"{context.describe()}"),
                entry_id=context.entry.id,
            )
        ]
    if not deviations:
        return []
    first = deviations[0]
    index = first.turn - len(prefix)
    if first.kind == "initial_state" or index < 0:
        # Not the generated calls' doing: the port already differs on the entry's own data.
        where = (
            "initial state" if first.kind == "initial_state" else f"ground-truth turn {first.turn}"
        )
        return [
            _impl_finding(
                "implementation.port_deviation",
                f"{context.entry.id}.{first.kind}",
                f"the port differs from the original on {context.entry.id} ({where}).",
                class_name,
                None,
                Evidence(
                    call=first.call,
                    result=None if first.port is None else _clip(str(first.port), 600),
                    expected=None if first.original is None else _clip(str(first.original), 600),
                    state_diff=_clip(json.dumps(first.details, default=str), 1500)
                    if first.details
                    else None,
                    notes=f"{where} of {context.entry.id}; result = port, expected = original",
                ),
                entry_id=context.entry.id,
            )
        ]
    shown = list(calls[: index + 1])
    if len(shown) > 1:
        alone = list(compare(context.entry, [*prefix, [shown[-1]]]))
        if alone and alone[0].kind == first.kind:
            first, shown = alone[0], shown[-1:]
    detail = first.details if first.kind in ("state", "initial_state") else None
    return [
        _impl_finding(
            "implementation.port_deviation",
            f"{class_name}.{function}.{first.kind}",
            f"the port differs from the original on {function} ({first.kind}).",
            class_name,
            function,
            Evidence(
                call="; ".join(shown),
                result=None if first.port is None else _clip(str(first.port), 600),
                expected=None if first.original is None else _clip(str(first.original), 600),
                state_diff=_clip(json.dumps(detail, default=str), 1500) if detail else None,
                notes=f"{context.describe()}; result = port, expected = original",
            ),
            entry_id=context.entry.id,
        )
    ]


# --------------------------------------------------------------------------- manual findings


_ENTRY_ID = re.compile(r"multi_turn_(?:base|miss_func|miss_param|long_context)_\d+")
_MANUAL_KIND: dict[str, tuple[Kind, str]] = {
    "implementation": ("implementation", "implementation.manual"),
    "schema": ("schema", "schema.manual"),
    "ground_truth": ("trajectory", "trajectory.manual"),
    "trajectory": ("trajectory", "trajectory.manual"),
}


def _split_calls(text: str) -> list[str] | None:
    """``a(x=1); b()`` -> calls; None when anything besides calls is left (prose setup)."""
    parts, depth, quote, start = [], 0, "", 0
    escaped = False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == ";" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    calls = [p.strip() for p in parts if p.strip()]
    try:
        for call in calls:
            parse_call(call)
    except CallParseError:
        return None
    return calls or None


_PROSE_SETUP = re.compile(r"\b(after|before|with|once|when|while|logged|set to|on an?)\b")


@dataclass(frozen=True)
class _ManualCalls:
    calls: list[str] | None
    """The evidence's call sequence; None when the calls themselves are prose."""
    entry_id: str | None
    unapplied: str | None = None
    """A setup the evidence states in words (not applied when re-executing)."""


def _evidence_calls(raw: str, notes: str = "") -> _ManualCalls:
    """The call sequence of a manual finding's evidence, the entry it runs on, and any setup
    given in words.

    Shapes used by the port authors: ``calls``, ``calls  # <entry> (<remark>)``,
    ``calls  [<context>]`` and ``<entry>: calls``; the entry may instead be named in the notes
    as ``Scenario <entry>``.
    """
    text = raw.strip()
    named = _ENTRY_ID.match(text)
    text = re.sub(rf"^{_ENTRY_ID.pattern}:\s*", "", text)
    comment = ""
    if re.search(r"\s#\s", text):
        text, comment = re.split(r"\s+#\s", text, maxsplit=1)
    bracket = re.search(r"\s+\[(.*)\]\s*$", text)
    if bracket and _split_calls(text[: bracket.start()]) is not None:
        text, comment = text[: bracket.start()], f"{bracket.group(1)} {comment}"
    # The sentence naming the scenario (up to a full stop, not the one in "5000.0").
    scenario = re.search(rf"Scenario ({_ENTRY_ID.pattern})(?:[^.]|\.(?=\S))*", notes)
    if named is None and not _ENTRY_ID.search(comment) and scenario:
        comment = scenario.group(0)
    entry = named or _ENTRY_ID.search(comment)
    entry_id = None if entry is None else entry.group(0)
    return _ManualCalls(_split_calls(text), entry_id, _stated_setup(comment))


def _stated_setup(comment: str) -> str | None:
    """What a context remark asks for beyond naming the entry (parenthesized remarks and
    ``initial_config of <entry>`` only describe the entry)."""
    rest = _ENTRY_ID.sub("", comment)
    while re.search(r"\([^()]*\)", rest):
        rest = re.sub(r"\([^()]*\)", "", rest)
    rest = re.sub(r"\b(initial_config( of)?|Scenario)\b", "", rest).strip(" ;,")
    return rest if rest and _PROSE_SETUP.search(rest) else None


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("'", '"')).strip()


_SEPARATORS = re.compile(
    r"\.\.\.|…|,? then | and afterwards | and | or | -> |; | before: | after: | while "
)


def _recorded_pieces(recorded: str) -> list[str]:
    """The data fragments of a recorded result, which authors abbreviate with ``...`` and
    join with prose (``X then Y``); prose fragments cannot be matched and are left out."""
    pieces = []
    for part in _SEPARATORS.split(recorded):
        piece = _normalize(part).strip(" ,;:()")
        if len(piece) >= 8 and re.search(r"[{\[\":]|Error", piece):
            pieces.append(piece.strip("{}[] ,"))
    return [p for p in pieces if len(p) >= 6]


def _verdict(recorded: str, texts: Sequence[str], where: str) -> str:
    got = [_normalize(t) for t in texts]
    wanted = _normalize(recorded)
    pieces = _recorded_pieces(recorded)
    matched = [p for p in pieces if any(p in g for g in got)]
    last_hit = bool(got) and ((got[-1] and got[-1] in wanted) or any(p in got[-1] for p in pieces))
    if recorded and last_hit and len(matched) * 2 >= len(pieces):
        return f"re-execution on {where} confirmed it"
    if recorded and (matched or last_hit):
        return (
            f"re-execution on {where} confirmed it in part ({len(matched)} of {len(pieces)} "
            f"recorded fragments found; last result: {_clip(texts[-1], 200)})"
        )
    return (
        f"re-execution on {where} did NOT reproduce the recorded result; "
        f"got: {_clip(' | '.join(texts), 300)}"
    )


def reverify_manual(
    record: Mapping[str, Any],
    class_name: str,
    release: Release,
    entries: Mapping[str, Entry] | None = None,
) -> Finding:
    """A port author's manual finding, re-executed on the original where possible."""
    evidence = dict(record.get("evidence") or {})
    kind, check = _MANUAL_KIND.get(
        str(record.get("kind")), ("implementation", "implementation.manual")
    )
    raw_call = str(evidence.get("call") or "")
    recorded = str(evidence.get("original_result") or "")
    notes = [str(evidence["notes"])] if evidence.get("notes") else []
    parsed = _evidence_calls(raw_call, " ".join(notes))
    entry = (entries or {}).get(parsed.entry_id) if parsed.entry_id else None
    if parsed.calls is None:
        verdict = "not re-executed: the evidence describes its setup in words"
    elif parsed.entry_id and entry is None:
        verdict = f"not re-executed: entry {parsed.entry_id} is not in the release"
    else:
        where = entry.id if entry else f"the default {class_name}"
        episode = ReferenceEpisode(entry or default_entry(class_name), release)
        verdict = _verdict(recorded, [episode.execute(c).text for c in parsed.calls], where)
        if parsed.unapplied:
            verdict += f" (without the setup stated in words: {parsed.unapplied!r})"
    return _impl_finding(
        check,
        str(record.get("id")),
        str(record.get("summary")),
        class_name,
        None if record.get("function") is None else str(record.get("function")),
        Evidence(
            call=raw_call or None,
            result=recorded or None,
            expected=None if evidence.get("expected") is None else str(evidence["expected"]),
            notes="; ".join([f"manual finding (port authors); {verdict}", *notes]),
        ),
        entry_id=parsed.entry_id,
        kind=kind,
    )


def manual_findings(
    release: Release, root: Path = _ENVIRONMENTS, entries: Sequence[Entry] | None = None
) -> list[Finding]:
    """All ``findings.json`` of the port, re-verified."""
    by_id = {e.id: e for e in (entries if entries is not None else release.all_entries())}
    out: list[Finding] = []
    for class_name, module in CLASS_MODULES.items():
        path = root / module / "findings.json"
        if not path.is_file():
            continue
        for record in json.loads(path.read_text(encoding="utf-8")):
            out.append(reverify_manual(record, class_name, release, by_id))
    return out


# --------------------------------------------------------------------------- the release


def _contexts(
    class_name: str, entries: Sequence[Entry], rng: random.Random, count: int
) -> list[Context]:
    involved = [e for e in entries if class_name in e.involved_classes]
    chosen = rng.sample(involved, min(count, len(involved)))
    out = []
    for entry in chosen:
        turns = len(entry.ground_truth)
        prefix = 0 if rng.random() < 0.5 or turns == 0 else rng.randrange(1, turns + 1)
        out.append(Context(entry, class_name, prefix))
    return out


def audit_implementations(
    release: Release,
    entries: Sequence[Entry] | None = None,
    budget: Budget | None = None,
    seed: int = IMPL_SEED,
    compare: Comparator | None = None,
    manual_root: Path = _ENVIRONMENTS,
) -> list[Finding]:
    """All implementation findings (and the re-verified manual ones) of the release."""
    budget = budget or Budget()
    entries = list(entries) if entries is not None else release.all_entries()
    compare = compare if compare is not None else _default_comparator(release)
    signatures: dict[str, tuple[str, Callable[..., Any]]] = {}
    for class_name in CLASS_MODULES:
        instance = default_episode(release, class_name).instances[class_name]
        for name, method in public_methods(instance).items():
            signatures.setdefault(name, (class_name, method))
    # Ground-truth strings repeat across entries and are read twice (global and local pools).
    parse = functools.lru_cache(maxsize=None)(parse_call)
    pools, _ = argument_pools(entries, signatures, parse)

    local_cache: dict[str, dict[str, list[Any]]] = {}

    def local_values(entry: Entry) -> dict[str, list[Any]]:
        if entry.id not in local_cache:
            merged: dict[str, list[Any]] = {}
            for by_param in argument_pools([entry], signatures, parse)[0].values():
                for param, values in by_param.items():
                    merged.setdefault(param, []).extend(values)
            local_cache[entry.id] = merged
        return local_cache[entry.id]

    steps: list[Step] = []
    out: list[Finding] = []
    for class_name in CLASS_MODULES:
        shared = entity_values(
            [default_episode(release, class_name).state()[class_name]]
            + [e.initial_config.get(class_name, {}) for e in entries]
        )
        for doc in release.func_docs(class_name):
            name = str(doc["name"])
            if signatures.get(name, ("",))[0] != class_name:
                continue
            rng = random.Random(f"{seed}:{class_name}:{name}")
            contexts = _contexts(class_name, entries, rng, budget.contexts)
            for number, context in enumerate(contexts):
                sources = Sources(
                    local=local_values(context.entry),
                    truth=pools.get((class_name, name), {}),
                    entities=entity_values([context.entry.initial_config.get(class_name, {})]),
                    shared=shared,
                )
                calls = [
                    Call(name=name, kwargs=generate_arguments(doc, sources, rng))
                    for _ in range(budget.calls_per_context)
                ]

                def fresh(ctx: Context = context) -> Sandbox:
                    return ReferenceSandbox(release, ctx)

                steps += probe_function(
                    class_name,
                    name,
                    fresh,
                    calls,
                    context.describe(),
                    context.entry.id,
                    context.prefix_turns,
                )
                if compare is not None and number < budget.port_contexts:
                    out += port_findings(
                        class_name, name, context, [format_call(c) for c in calls], compare
                    )
    out += exception_findings(steps, budget.shrink_attempts)
    out += invariant_findings(steps, budget.shrink_attempts)
    out = _first_per_id(out)
    out += manual_findings(release, manual_root, entries)
    return out


def _default_comparator(release: Release) -> Comparator | None:
    """``compare_turns`` on entries whose classes are all ported (None without a port)."""
    try:
        from eigencore.bfcl.differential import compare_turns
        from environments.bfcl import by_class
    except ImportError:
        return None
    ported = set(by_class())

    def compare(entry: Entry, turns: Sequence[Sequence[str]]) -> Sequence[Any]:
        if not set(entry.involved_classes) <= ported:
            return []
        return compare_turns(entry, turns, release)

    return compare


def _first_per_id(findings: Iterable[Finding]) -> list[Finding]:
    seen: dict[str, Finding] = {}
    for finding in findings:
        seen.setdefault(finding.id, finding)
    return list(seen.values())
