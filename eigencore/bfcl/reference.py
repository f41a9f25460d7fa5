"""Reference execution of BFCL multi-turn calls on the ORIGINAL BFCL environment classes.

The classes are the benchmark's own source from the hash-checked wheel. Per episode, every
source module needed is executed into a fresh module object (code objects are compiled once and
cached; executing them costs ~0.1 ms). Fresh modules are required, not just fresh instances:
the sources keep module-global mutable state that instances alias and mutate
(``long_context.CREDIT_CARD_EXTENSION`` / ``BOOKING_RECORD_EXTENSION`` dicts merged by reference
into ``TravelAPI`` state, ``LONG_WEATHER_EXTENSION`` written by
``VehicleControlAPI.get_outside_temperature_from_google``, and ``TwitterAPI.post_tweet``'s
mutable default ``mentions=[]`` later extended by ``mention``).

Their ``bfcl_eval...`` imports are satisfied by a per-episode ``__import__`` in the modules'
builtins, so ``sys.modules`` is never touched and no ``bfcl_eval`` package code runs.

Call strings and model output are never evaluated: a call is parsed by
:mod:`eigencore.bfcl.calls` and dispatched by name to a public method of an involved instance,
with BFCL's name resolution, result stringification and error strings
(``execute_multi_turn_func_call`` in ``multi_turn_utils.py``).
"""

from __future__ import annotations

import builtins
import copy
import decimal
import inspect
import json
import sys
import threading
import types
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from eigencore.bfcl.calls import Call, parse_call
from eigencore.bfcl.release import CLASS_MODULES, Entry, Release, load_release

__all__ = [
    "BLOCKED_FUNCTION_NAMES",
    "ERROR_PREFIX",
    "STATELESS_CLASSES",
    "CallRecord",
    "ExecResult",
    "ReferenceEpisode",
    "Replay",
    "TurnReplay",
    "compare_states",
    "project_value",
    "replay",
    "result_text",
]

PACKAGE = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code"
# BFCL skips `_load_scenario` for these (multi_turn_utils.STATELESS_CLASSES).
STATELESS_CLASSES: frozenset[str] = frozenset({"MathAPI"})
# BFCL refuses these names before eval, with "Function call {name} is not allowed."
BLOCKED_FUNCTION_NAMES: frozenset[str] = frozenset(
    {"kill", "exit", "quit", "remove", "unlink", "popen", "Popen", "run"}
)
ERROR_PREFIX = "Error during execution: "

_CODE: dict[tuple[str, str], dict[str, types.CodeType]] = {}
_CODE_LOCK = threading.Lock()
# mpmath's precision is process-global and MathAPI.logarithm sets it; the lock keeps
# concurrent episodes from seeing each other's precision.
_NUMERIC_LOCK = threading.RLock()


def _compiled(release: Release) -> dict[str, types.CodeType]:
    """Code objects of all func_source_code modules (immutable, so cached per release)."""
    key = (release.version, release.sha256)
    with _CODE_LOCK:
        codes = _CODE.get(key)
        if codes is None:
            codes = {}
            for stem in release.source_modules():
                filename = f"<{release.path.name}>/{PACKAGE.replace('.', '/')}/{stem}.py"
                codes[stem] = compile(release.source(stem), filename, "exec", dont_inherit=True)
            _CODE[key] = codes
    return codes


class _EpisodeModules:
    """One episode's private copies of the BFCL source modules."""

    def __init__(self, release: Release) -> None:
        self._release = release
        self._codes = _compiled(release)
        self._modules: dict[str, types.ModuleType] = {}
        self._builtins = dict(vars(builtins))
        self._builtins["__import__"] = self._import

    def module(self, stem: str) -> types.ModuleType:
        existing = self._modules.get(stem)
        if existing is not None:
            return existing
        code = self._codes.get(stem)
        if code is None:
            raise ImportError(f"{PACKAGE}.{stem} is not in the release", name=f"{PACKAGE}.{stem}")
        module = types.ModuleType(f"{PACKAGE}.{stem}")
        module.__file__ = code.co_filename
        module.__package__ = PACKAGE
        module.__dict__["__builtins__"] = self._builtins
        # Registered before exec, as sys.modules is, so import cycles see the partial module.
        self._modules[stem] = module
        try:
            exec(code, module.__dict__)
        except ModuleNotFoundError as exc:
            del self._modules[stem]
            if exc.name and exc.name.startswith("bfcl_eval"):
                raise
            raise ModuleNotFoundError(
                f"BFCL reference module {stem!r} needs {exc.name!r}, which is not installed "
                f"(bfcl-eval {self._release.version} depends on mpmath==1.3.0 for MathAPI; "
                "install it with the project dependencies)",
                name=exc.name,
            ) from exc
        except BaseException:
            del self._modules[stem]
            raise
        return module

    def _import(
        self,
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> types.ModuleType:
        if level == 1 and globals is not None and globals.get("__package__") == PACKAGE:
            if fromlist:
                return self.module(name) if name else self._package(fromlist)
            raise ImportError(f"unsupported relative import of {name!r} in BFCL source")
        if level == 0 and (name == "bfcl_eval" or name.startswith("bfcl_eval.")):
            prefix = PACKAGE + "."
            if name.startswith(prefix) and fromlist:
                return self.module(name[len(prefix) :])
            if name == PACKAGE and fromlist:
                return self._package(fromlist)
            raise ImportError(
                f"`import {name}` is not available to the BFCL reference sources "
                "(only `from <func_source_code module> import ...` is)",
                name=name,
            )
        return builtins.__import__(name, globals, locals, fromlist or (), level)

    def _package(self, fromlist: Sequence[str]) -> types.ModuleType:
        package = types.ModuleType(PACKAGE)
        for stem in fromlist:
            setattr(package, stem, self.module(stem))
        return package


@contextmanager
def _numeric_isolation() -> Iterator[None]:
    """Fresh default decimal context and mpmath precision for one call.

    MathAPI.square_root sets ``getcontext().prec`` and MathAPI.logarithm sets
    ``mpmath.mp.dps``; in BFCL these leak into the whole process. Each call here starts from
    the defaults (both functions set their precision before using it, so results are unchanged)
    and the host's settings are restored afterwards.
    """
    with _NUMERIC_LOCK:
        mpmath = sys.modules.get("mpmath")
        saved_prec = mpmath.mp.prec if mpmath is not None else None
        try:
            if mpmath is not None:
                mpmath.mp.prec = 53
            with decimal.localcontext(decimal.Context()):
                yield
        finally:
            mpmath = sys.modules.get("mpmath")
            if mpmath is not None:
                mpmath.mp.prec = saved_prec if saved_prec is not None else 53


def result_text(result: Any) -> str:
    """BFCL's stringification of a call result.

    ``str`` as is; exactly ``dict`` via ``json.dumps`` (default separators, ASCII escapes),
    falling back to ``str`` when not JSON-serializable (e.g. ``Decimal``/``mpf`` values);
    anything else (lists, bools, None, ...) via ``str``.
    """
    if type(result) is str:
        return result
    if type(result) is dict:
        try:
            return json.dumps(result)
        except Exception:
            return str(result)
    return str(result)


@dataclass(frozen=True)
class ExecResult:
    """Outcome of one call.

    ``text`` is exactly what BFCL appends to the execution results (and shows the model).
    ``error`` is True when the call raised or was refused: then ``text`` is
    ``"Error during execution: {exception}"`` and ``value`` is None. A method that *returns*
    an ``{"error": ...}`` dict is not an ``error`` here (see ``reported_error``).
    """

    value: Any
    text: str
    error: bool

    @property
    def reported_error(self) -> bool:
        """The method returned a dict with an ``"error"`` key (a domain-level failure)."""
        return isinstance(self.value, dict) and "error" in self.value


def _error(message: str) -> ExecResult:
    return ExecResult(value=None, text=ERROR_PREFIX + message, error=True)


def project_value(value: Any) -> Any:
    """Deep, plain-data copy of a state value with BFCL's equality semantics.

    ``File``/``Directory`` objects of GorillaFileSystem compare by ``(name, content)`` and
    ``(name, contents)`` in BFCL (not by parent or timestamps); they become
    ``{"type": "file", "name", "content"}`` and ``{"type": "directory", "name", "contents"}``
    dicts, so two projections are equal exactly when BFCL's ``==`` says the originals are, even
    across episodes whose classes come from different module copies.
    """
    kind = type(value)
    if kind in (str, int, float, bool, type(None)):
        return value
    if kind is dict:
        return {project_value(k): project_value(v) for k, v in value.items()}
    if kind is list:
        return [project_value(v) for v in value]
    if kind is tuple:
        return tuple(project_value(v) for v in value)
    if kind.__module__.startswith(PACKAGE + "."):
        if kind.__name__ == "File":
            return {"type": "file", "name": value.name, "content": value.content}
        if kind.__name__ == "Directory":
            return {
                "type": "directory",
                "name": value.name,
                "contents": project_value(value.contents),
            }
    return copy.deepcopy(value)


def compare_states(
    model: Mapping[str, Mapping[str, Any]], reference: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """BFCL's state check on projected states: per class, the reference attributes that differ.

    Mirrors ``_compare_instances``: iterates the reference's public attributes and compares
    with ``!=``; an attribute missing on the model side differs. Empty result = state match.
    """
    differences: dict[str, dict[str, dict[str, Any]]] = {}
    missing = object()
    for class_name, ref_attrs in reference.items():
        model_attrs = model.get(class_name, {})
        for attr, ref_value in ref_attrs.items():
            model_value = model_attrs.get(attr, missing)
            if model_value is missing or model_value != ref_value:
                differences.setdefault(class_name, {})[attr] = {
                    "model": None if model_value is missing else model_value,
                    "ground_truth": ref_value,
                }
    return differences


class ReferenceEpisode:
    """Fresh BFCL instances for one entry, set up as ``execute_multi_turn_func_call`` does."""

    def __init__(self, entry: Entry, release: Release | None = None) -> None:
        self.entry = entry
        self.release = release if release is not None else load_release()
        self._modules = _EpisodeModules(self.release)
        self.instances: dict[str, Any] = {}
        self._methods: dict[str, tuple[str, Any]] = {}
        for class_name in entry.involved_classes:
            stem = CLASS_MODULES.get(class_name)
            if stem is None:
                raise ValueError(f"{entry.id}: unknown involved class {class_name!r}")
            instance = getattr(self._modules.module(stem), class_name)()
            if class_name not in STATELESS_CLASSES:
                # BFCL deep-copies the config: instances keep references into it.
                instance._load_scenario(
                    copy.deepcopy(entry.initial_config.get(class_name, {})),
                    long_context=entry.long_context,
                )
            self.instances[class_name] = instance
            # Later classes win on a shared method name, as in BFCL's name -> instance map.
            for name, method in inspect.getmembers(instance, predicate=inspect.ismethod):
                if not name.startswith("_"):
                    self._methods[name] = (class_name, method)

    @property
    def function_names(self) -> dict[str, str]:
        """Callable function name -> owning class."""
        return {name: owner for name, (owner, _) in self._methods.items()}

    def execute(self, call: Call | str) -> ExecResult:
        """Run one call; a string is parsed first (``CallParseError`` propagates)."""
        if isinstance(call, str):
            call = parse_call(call)
        if call.name in BLOCKED_FUNCTION_NAMES:
            return _error(f"Function call {call.name} is not allowed.")
        target = self._methods.get(call.name)
        if target is None:
            # What BFCL's eval reports for a name it did not rewrite to an instance method.
            # (BFCL would also resolve Python builtins such as `print`; nothing else runs here.)
            return _error(f"name '{call.name}' is not defined")
        method = target[1]
        # Fresh argument objects, as BFCL's eval creates: methods may keep or mutate them.
        args = copy.deepcopy(call.args)
        kwargs = copy.deepcopy(call.kwargs)
        with _numeric_isolation():
            try:
                value = method(*args, **kwargs)
                # Inside the isolation: repr of mpmath numbers depends on the precision the
                # call just set, exactly as when BFCL stringifies right after eval.
                text = result_text(value)
            except Exception as exc:
                return _error(str(exc))
            try:
                value = copy.deepcopy(value)
            except Exception:
                pass  # the value is informational; text is what BFCL uses
        return ExecResult(value=value, text=text, error=False)

    def execute_all(self, calls: Sequence[Call | str]) -> list[ExecResult]:
        return [self.execute(call) for call in calls]

    def state(self) -> dict[str, dict[str, Any]]:
        """Public instance attributes per involved class: what BFCL's state checker compares.

        ``_compare_instances`` iterates ``vars(instance)`` and skips names starting with ``_``;
        stateless classes (MathAPI) therefore project to ``{}``.
        """
        return {
            class_name: {
                attr: project_value(value)
                for attr, value in vars(instance).items()
                if not attr.startswith("_") and not callable(value)
            }
            for class_name, instance in self.instances.items()
        }


@dataclass(frozen=True)
class CallRecord:
    call: str
    result: ExecResult


@dataclass(frozen=True)
class TurnReplay:
    """One turn of a ground-truth replay.

    ``checked`` is False for empty-truth turns, which BFCL's checker skips entirely (the model
    should make no call; the irrelevance checker handles that). ``added_functions`` are the
    miss_func hold-outs revealed at this turn, whose question is empty and whose user message
    BFCL replaces by ``HOLDOUT_PROMPT``.
    """

    index: int
    calls: list[CallRecord]
    state: dict[str, dict[str, Any]]
    checked: bool
    added_functions: list[str] = field(default_factory=list)

    @property
    def results(self) -> list[str]:
        return [record.result.text for record in self.calls]


@dataclass(frozen=True)
class Replay:
    entry_id: str
    initial_state: dict[str, dict[str, Any]]
    turns: list[TurnReplay]

    def errors(self) -> list[tuple[int, str, str]]:
        """(turn, call, text) of calls that raised (BFCL's "Error during execution" results)."""
        return [
            (turn.index, record.call, record.result.text)
            for turn in self.turns
            for record in turn.calls
            if record.result.error
        ]

    def reported_errors(self) -> list[tuple[int, str, str]]:
        """(turn, call, text) of calls whose method returned an ``{"error": ...}`` dict."""
        return [
            (turn.index, record.call, record.result.text)
            for turn in self.turns
            for record in turn.calls
            if record.result.reported_error
        ]


def replay(entry: Entry, release: Release | None = None) -> Replay:
    """Execute the entry's ground truth turn by turn on fresh reference instances."""
    episode = ReferenceEpisode(entry, release)
    initial = episode.state()
    turns: list[TurnReplay] = []
    for index, calls in enumerate(entry.ground_truth):
        records = [CallRecord(call=text, result=episode.execute(text)) for text in calls]
        turns.append(
            TurnReplay(
                index=index,
                calls=records,
                state=episode.state(),
                checked=bool(calls),
                added_functions=list(entry.missed_function.get(str(index), [])),
            )
        )
    return Replay(entry_id=entry.id, initial_state=initial, turns=turns)
