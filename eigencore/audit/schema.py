"""Schema audit: BFCL's function docs against the ORIGINAL methods and their observed results.

Per class and function, the doc the model sees is compared with what the benchmark's own code
does: the method's ``inspect.signature`` (names, required vs. defaults, default values, type
annotations, parameter order), the documented enum values (each one executed on a default
instance), and the documented ``response`` (against the values the method actually returned
while replaying all ground truths plus a light, seeded fuzz of their arguments).

Everything is deterministic and executes only the release's own classes: no LLM, no other
release. The ``check_*`` functions take plain inputs (a doc dict, a callable, observations) so
that tests can feed them a seeded defect.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import json
import random
import re
import types
import typing
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eigencore.audit.findings import Evidence, Finding, Severity
from eigencore.bfcl.calls import Call, format_call, parse_call
from eigencore.bfcl.reference import ERROR_PREFIX, ExecResult, ReferenceEpisode, result_text
from eigencore.bfcl.release import CLASS_MODULES, Entry, Release

__all__ = [
    "FUZZ_SEED",
    "ArgumentPools",
    "Execute",
    "Observation",
    "Probe",
    "annotation_kinds",
    "argument_pools",
    "audit_schemas",
    "bind_call",
    "check_enums",
    "check_function",
    "check_names",
    "check_responses",
    "check_signature",
    "collect_observations",
    "default_entry",
    "default_episode",
    "doc_kind",
    "documented_enum",
    "invoke",
    "public_methods",
    "signature_text",
    "value_fits",
]

FUZZ_SEED = 20250608
Execute = Callable[[Call], ExecResult]
"""Runs one call on a FRESH default instance of the class under audit."""
ArgumentPools = dict[tuple[str, str], dict[str, list[Any]]]
"""(class, function) -> parameter -> distinct ground-truth values, in first-seen order."""

# How many undocumented keys under one response path are reported one by one; beyond that the
# keys are data (ids, file names) rather than fields, and one finding names the path.
_MAX_UNDOCUMENTED_KEYS = 5
_OPTIONAL_MARK = "[Optional]"
# A response key that reads like a field name (not an id, date or file name used as a key).
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\([0-9]+\))?")
_ENUM_JSON = re.compile(r"\[Enum\]:\s*(\[.*?\])")
_ENUM_LIST = re.compile(r"\[Enum\]:\s*([^\[\]]+?)\s*$")


# --------------------------------------------------------------------------- shared helpers


def default_entry(class_name: str, involved: Sequence[str] | None = None) -> Entry:
    """A synthetic entry whose classes load their built-in default state (empty config)."""
    return Entry(
        id="audit_default_0",
        category="base",
        question=[],
        initial_config={},
        involved_classes=list(involved or [class_name]),
        ground_truth=[],
    )


def default_episode(release: Release, class_name: str) -> ReferenceEpisode:
    """A fresh original instance of ``class_name`` in its default state."""
    return ReferenceEpisode(default_entry(class_name), release)


def public_methods(instance: Any) -> dict[str, Callable[..., Any]]:
    """The methods BFCL exposes as functions: bound methods not starting with ``_``."""
    return {
        name: method
        for name, method in inspect.getmembers(instance, predicate=inspect.ismethod)
        if not name.startswith("_")
    }


def signature_text(name: str, method: Callable[..., Any]) -> str:
    try:
        return f"{name}{inspect.signature(method)}"
    except (TypeError, ValueError):
        return f"{name}(...)"


def _parameters(method: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """Named parameters of a bound method (``self`` is already bound; *args/**kw skipped)."""
    return {
        name: p
        for name, p in inspect.signature(method).parameters.items()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    }


def bind_call(call: Call, method: Callable[..., Any]) -> dict[str, Any]:
    """The call's arguments by parameter name (BFCL's ground truth sometimes passes them
    positionally); positional arguments beyond the signature are dropped."""
    names = list(_parameters(method))
    bound = dict(zip(names, call.args, strict=False))
    bound.update(call.kwargs)
    return bound


@contextlib.contextmanager
def _isolated_numerics() -> Iterator[None]:
    # The reference executor's guard against MathAPI leaking mpmath/decimal precision into the
    # process; used when a method is invoked directly (to learn the exception type).
    from eigencore.bfcl import reference

    guard = getattr(reference, "_numeric_isolation", None)
    with guard() if guard is not None else contextlib.nullcontext():
        yield


def invoke(method: Callable[..., Any], call: Call) -> tuple[ExecResult, str | None]:
    """Call ``method`` as BFCL's executor does: fresh argument copies, BFCL's result text and
    ``Error during execution: ...`` on an exception. Also returns the exception type name."""
    args, kwargs = copy.deepcopy(call.args), copy.deepcopy(call.kwargs)
    with _isolated_numerics():
        try:
            value = method(*args, **kwargs)
            text = result_text(value)
        except Exception as exc:
            return ExecResult(value=None, text=ERROR_PREFIX + str(exc), error=True), type(
                exc
            ).__name__
        with contextlib.suppress(Exception):
            value = copy.deepcopy(value)
    return ExecResult(value=value, text=text, error=False), None


def _failed(result: ExecResult) -> bool:
    """Raised, or answered with an error: ``{"error": ...}`` (or a list of just that)."""
    value = result.value
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, dict) and "error" in v for v in value)
    ):
        return True
    return result.error or result.reported_error


def _short(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text)} chars]"


# --------------------------------------------------------------------------- doc types


def doc_kind(schema: Mapping[str, Any] | None) -> str | None:
    """Canonical JSON kind of a doc schema: integer, float, string, boolean, array, dict, any."""
    if not schema:
        return None
    kind = schema.get("type")
    if not isinstance(kind, str):
        return None
    return {
        "number": "float",
        "object": "dict",
        "tuple": "array",
        "str": "string",
        "int": "integer",
        "bool": "boolean",
        "list": "array",
    }.get(kind, kind)


def value_fits(kind: str | None, value: Any) -> bool:
    """Whether a Python value is of the documented kind, as JSON would carry it.

    An int is a valid ``float`` (a JSON number); a bool is never a number; ``mpf``/``Decimal``
    are not floats: BFCL cannot even ``json.dumps`` them, so the model sees their ``repr``.
    """
    if kind in (None, "any"):
        return True
    if kind == "string":
        return type(value) is str
    if kind == "integer":
        return type(value) is int
    if kind == "float":
        return type(value) in (int, float)
    if kind == "boolean":
        return type(value) is bool
    if kind == "array":
        return type(value) in (list, tuple)
    if kind == "dict":
        return type(value) is dict
    return True  # an unknown doc type claims nothing checkable


_ANNOTATION_KINDS: dict[Any, str] = {
    int: "integer",
    float: "float",
    str: "string",
    bool: "boolean",
    list: "array",
    tuple: "array",
    set: "array",
    dict: "dict",
    type(None): "null",
}
_NAMED_KINDS = {
    "int": "integer",
    "float": "float",
    "str": "string",
    "bool": "boolean",
    "list": "array",
    "List": "array",
    "tuple": "array",
    "Tuple": "array",
    "dict": "dict",
    "Dict": "dict",
    "None": "null",
}


def annotation_kinds(annotation: Any) -> set[str] | None:
    """JSON kinds an annotation admits, or None when it admits anything / is absent."""
    if annotation is inspect.Parameter.empty or annotation is Any or annotation is object:
        return None
    if isinstance(annotation, str):
        # A string annotation (postponed evaluation): read the outermost names only.
        text = annotation.replace(" ", "")
        if text.startswith("Optional["):
            inner = annotation_kinds(text[len("Optional[") : -1])
            return None if inner is None else inner | {"null"}
        if text.startswith("Union["):
            parts = _split_top(text[len("Union[") : -1])
            kinds: set[str] = set()
            for part in parts:
                sub = annotation_kinds(part)
                if sub is None:
                    return None
                kinds |= sub
            return kinds
        head = text.split("[", 1)[0]
        kind = _NAMED_KINDS.get(head)
        return {kind} if kind else None
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        kinds = set()
        for arg in typing.get_args(annotation):
            sub = annotation_kinds(arg)
            if sub is None:
                return None
            kinds |= sub
        return kinds
    if origin is typing.Literal:
        return {_ANNOTATION_KINDS.get(type(v), "any") for v in typing.get_args(annotation)}
    base = origin if origin is not None else annotation
    kind = _ANNOTATION_KINDS.get(base)
    return {kind} if kind else None


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p]


def _type_hints(method: Callable[..., Any]) -> dict[str, Any]:
    """Evaluated annotations (string ones resolved in the method's module), else none."""
    try:
        return typing.get_type_hints(method)
    except Exception:
        return {}


def _item_annotation(annotation: Any) -> Any:
    """``X`` of ``List[X]`` (also inside Optional), else ``inspect.Parameter.empty``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        for arg in typing.get_args(annotation):
            inner = _item_annotation(arg)
            if inner is not inspect.Parameter.empty:
                return inner
        return inspect.Parameter.empty
    if origin in (list, set) and typing.get_args(annotation):
        return typing.get_args(annotation)[0]
    return inspect.Parameter.empty


def _annotation_text(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return "(no annotation)"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def documented_enum(schema: Mapping[str, Any]) -> list[Any] | None:
    """Enum values of a doc property: an ``enum`` key or BFCL's ``[Enum]: ...`` in the text.

    BFCL writes enums two ways: a JSON list (``[Enum]: ["a", "b"]``) and a bare
    comma-separated list (``[Enum]: USD, RMB, EUR``).
    """
    if isinstance(schema.get("enum"), list):
        return list(schema["enum"])
    description = schema.get("description")
    if not isinstance(description, str) or "[Enum]" not in description:
        return None
    match = _ENUM_JSON.search(description)
    if match:
        try:
            values = json.loads(match.group(1))
        except json.JSONDecodeError:
            values = None
        if isinstance(values, list):
            return values
    match = _ENUM_LIST.search(description)
    if match:
        return [v.strip() for v in match.group(1).split(",") if v.strip()]
    return None


def _fragment(doc: Mapping[str, Any], *params: str) -> dict[str, Any]:
    """The doc fragment a finding is about: the named properties and ``required``."""
    parameters = doc.get("parameters") or {}
    props = parameters.get("properties") or {}
    return {
        "name": doc.get("name"),
        "parameters": {
            "properties": {p: props[p] for p in params if p in props},
            "required": list(parameters.get("required") or []),
        },
    }


def _finding(
    check: str,
    class_name: str,
    function: str | None,
    where: str,
    summary: str,
    evidence: Evidence,
    severity: Severity = "error",
    entry_id: str | None = None,
) -> Finding:
    return Finding(
        id=f"{check}:{where}",
        check=check,
        kind="schema",
        severity=severity,
        summary=summary,
        class_name=class_name,
        function=function,
        entry_id=entry_id,
        evidence=evidence,
    )


# --------------------------------------------------------------------------- names


def check_names(
    class_name: str,
    docs: Sequence[Mapping[str, Any]],
    methods: Mapping[str, Callable[..., Any]],
) -> list[Finding]:
    """Documented functions without a method; public methods without a doc."""
    documented = {doc["name"]: doc for doc in docs}
    out: list[Finding] = []
    for name in sorted(set(documented) - set(methods)):
        out.append(
            _finding(
                "schema.missing_method",
                class_name,
                name,
                f"{class_name}.{name}",
                f"{class_name} documents `{name}` but has no such method: every call to it "
                "fails with a NameError.",
                Evidence(schema_fragment=dict(documented[name]), notes="no public method"),
            )
        )
    for name in sorted(set(methods) - set(documented)):
        out.append(
            _finding(
                "schema.undocumented_function",
                class_name,
                name,
                f"{class_name}.{name}",
                f"{class_name}.{name} is a public method (callable by name) with no doc.",
                Evidence(signature=signature_text(name, methods[name])),
                severity="warning",
            )
        )
    return out


# --------------------------------------------------------------------------- signatures


def check_signature(
    class_name: str,
    doc: Mapping[str, Any],
    method: Callable[..., Any],
    execute: Execute | None = None,
    fillers: Mapping[str, Any] | None = None,
    where_executed: str = "on a default instance",
) -> list[Finding]:
    """Parameters, required/default, defaults, types and order: doc vs signature.

    ``execute`` (a call on a fresh instance, in the state ``where_executed`` describes) and
    ``fillers`` (a value per parameter, e.g. from the ground truth) let a finding carry an
    executed call as evidence.
    """
    name = str(doc["name"])
    parameters = doc.get("parameters") or {}
    props: dict[str, Any] = dict(parameters.get("properties") or {})
    required = set(parameters.get("required") or [])
    params = _parameters(method)
    sig = signature_text(name, method)
    # Probe values: the given fillers, else the documented defaults.
    given = dict(fillers or {})
    fillers = {
        **{p: spec["default"] for p, spec in props.items() if "default" in spec},
        **(fillers or {}),
    }
    hints = _type_hints(method)
    out: list[Finding] = []
    where = f"{class_name}.{name}"

    def evidence(*names: str, **extra: Any) -> Evidence:
        if extra.get("call"):
            extra["notes"] = f"executed {where_executed}"
        return Evidence(schema_fragment=_fragment(doc, *names), signature=sig, **extra)

    for p in props:
        if p not in params:
            out.append(
                _finding(
                    "schema.unknown_param",
                    class_name,
                    name,
                    f"{where}.{p}",
                    f"`{p}` is documented for {name} but the method has no such parameter: "
                    "passing it raises TypeError.",
                    evidence(p, **_unknown_probe(name, p, props[p], params, fillers, execute)),
                )
            )
    for p, param in params.items():
        if p in props:
            continue
        has_default = param.default is not inspect.Parameter.empty
        out.append(
            _finding(
                "schema.undocumented_param",
                class_name,
                name,
                f"{where}.{p}",
                f"{name} takes `{p}` but the doc does not mention it"
                + (
                    f" (default {param.default!r}: the model cannot set it)."
                    if has_default
                    else ": it is required, so no doc-conforming call can succeed."
                ),
                evidence(),
                severity="warning" if has_default else "error",
            )
        )

    for p, schema in props.items():
        param = params.get(p)
        if param is None:
            continue
        has_default = param.default is not inspect.Parameter.empty
        if p in required and has_default:
            out.append(
                _finding(
                    "schema.required_mismatch",
                    class_name,
                    name,
                    f"{where}.{p}",
                    f"`{p}` is required in the doc but optional in the code "
                    f"(default {param.default!r}).",
                    evidence(p),
                    severity="warning",
                )
            )
        elif p not in required and not has_default:
            out.append(
                _finding(
                    "schema.required_mismatch",
                    class_name,
                    name,
                    f"{where}.{p}",
                    f"`{p}` is optional in the doc but has no default in the code: a call "
                    "that omits it raises TypeError.",
                    evidence(p, **_omission_probe(name, p, params, required, fillers, execute)),
                )
            )
        documented_default = schema.get("default", inspect.Parameter.empty)
        if (
            "default" in schema
            and has_default
            and not _same_value(documented_default, param.default)
        ):
            out.append(
                _finding(
                    "schema.default_mismatch",
                    class_name,
                    name,
                    f"{where}.{p}",
                    f"`{p}` defaults to {schema['default']!r} in the doc but to "
                    f"{param.default!r} in the code: passing the documented default "
                    "does not mean the default.",
                    evidence(
                        p,
                        **_default_probe(
                            name, p, schema["default"], params, fillers, given, execute
                        ),
                    ),
                )
            )
        annotation = hints.get(p, param.annotation)
        out.extend(_type_findings(class_name, doc, name, p, schema, annotation, sig))

    doc_order = [p for p in props if p in params]
    sig_order = [p for p in params if p in props]
    if doc_order != sig_order:
        swapped = [f"{d}->{s}" for d, s in zip(doc_order, sig_order, strict=True) if d != s]
        out.append(
            _finding(
                "schema.param_order",
                class_name,
                name,
                where,
                f"{name}: the doc lists parameters as ({', '.join(doc_order)}) but the "
                f"signature order is ({', '.join(sig_order)}); positional arguments given in "
                f"doc order bind to the wrong parameters ({', '.join(swapped)}).",
                Evidence(
                    schema_fragment={"name": name, "properties_order": list(props)},
                    signature=sig,
                    notes=f"doc order: {doc_order}; signature order: {sig_order}",
                ),
                severity="warning",
            )
        )
    return out


def _same_value(documented: Any, actual: Any) -> bool:
    if type(documented) in (int, float) and type(actual) in (int, float):
        return documented == actual
    return type(documented) is type(actual) and documented == actual


def _fill(
    params: Mapping[str, inspect.Parameter],
    wanted: Iterable[str],
    fillers: Mapping[str, Any],
) -> dict[str, Any] | None:
    """Values for ``wanted`` parameters from ``fillers``; None if one has no value."""
    kwargs: dict[str, Any] = {}
    for p in wanted:
        if p in fillers:
            kwargs[p] = fillers[p]
        else:
            return None
    return kwargs


def _omission_probe(
    name: str,
    param: str,
    params: Mapping[str, inspect.Parameter],
    required: set[str],
    fillers: Mapping[str, Any],
    execute: Execute | None,
) -> dict[str, Any]:
    if execute is None:
        return {}
    others = [
        p
        for p, spec in params.items()
        if p != param and (p in required or spec.default is inspect.Parameter.empty)
    ]
    kwargs = _fill(params, others, fillers)
    if kwargs is None:
        return {}
    call = Call(name=name, kwargs=kwargs)
    result = execute(call)
    return {"call": format_call(call), "result": _short(result.text)}


_SAMPLE_BY_KIND: dict[str, Any] = {
    "string": "x",
    "integer": 1,
    "float": 1.0,
    "boolean": True,
    "array": [],
    "dict": {},
}


def _unknown_probe(
    name: str,
    param: str,
    schema: Mapping[str, Any],
    params: Mapping[str, inspect.Parameter],
    fillers: Mapping[str, Any],
    execute: Execute | None,
) -> dict[str, Any]:
    """Executed evidence: a doc-conforming call that passes the documented-only parameter."""
    if execute is None:
        return {}
    others = [p for p, spec in params.items() if spec.default is spec.empty]
    kwargs = _fill(params, others, fillers)
    sample = schema.get("default", _SAMPLE_BY_KIND.get(doc_kind(schema) or "", "x"))
    if kwargs is None:
        return {}
    call = Call(name=name, kwargs={**kwargs, param: sample})
    return {"call": format_call(call), "result": _short(execute(call).text)}


def _default_probe(
    name: str,
    param: str,
    documented: Any,
    params: Mapping[str, inspect.Parameter],
    fillers: Mapping[str, Any],
    given: Mapping[str, Any],
    execute: Execute | None,
) -> dict[str, Any]:
    """Executed evidence: the documented default passed explicitly vs. the parameter omitted."""
    if execute is None:
        return {}
    others = [p for p, spec in params.items() if p != param and spec.default is spec.empty]
    kwargs = _fill(params, others, fillers)
    if kwargs is None:
        return {}
    # Optional parameters the ground truth set keep their values (not documented defaults).
    kwargs.update({p: given[p] for p in params if p != param and p in given})
    try:
        explicit = Call(name=name, kwargs={**kwargs, param: documented})
        omitted = Call(name=name, kwargs=kwargs)
        format_call(explicit)
    except ValueError:
        return {}
    got, base = execute(explicit), execute(omitted)
    same = " (the same result here)" if got.text == base.text else ""
    return {
        "call": format_call(explicit),
        "result": _short(got.text),
        "expected": f"as when omitted: {format_call(omitted)} -> {_short(base.text)}{same}",
    }


def _type_findings(
    class_name: str,
    doc: Mapping[str, Any],
    name: str,
    p: str,
    schema: Mapping[str, Any],
    annotation: Any,
    sig: str,
) -> list[Finding]:
    out: list[Finding] = []
    for path, sub_schema, sub_annotation in (
        (p, schema, annotation),
        (f"{p}[]", schema.get("items"), _item_annotation(annotation)),
    ):
        kind = doc_kind(sub_schema)
        allowed = annotation_kinds(sub_annotation)
        if kind in (None, "any") or allowed is None or kind in allowed:
            continue
        # The doc being narrower than the code (integer doc, float code) breaks nothing.
        harmless = kind == "integer" and "float" in allowed
        out.append(
            _finding(
                "schema.type_mismatch",
                class_name,
                name,
                f"{class_name}.{name}.{path}",
                f"`{path}` is documented as {sub_schema.get('type')!r} but annotated "
                f"{_annotation_text(sub_annotation)}.",
                Evidence(schema_fragment=_fragment(doc, p), signature=sig),
                severity="info" if harmless else "error",
            )
        )
    return out


# --------------------------------------------------------------------------- enums


def check_enums(
    class_name: str,
    doc: Mapping[str, Any],
    method: Callable[..., Any],
    execute: Execute,
    fillers: Sequence[Mapping[str, Any]] = (),
) -> list[Finding]:
    """Execute every documented enum value; a value the method rejects is a finding.

    A value counts as rejected when its call fails (raises or returns ``{"error": ...}``)
    under every filling of the other parameters for which some OTHER value of the same enum
    succeeds: a state precondition (e.g. doors unlocked) fails all values alike and is not
    the value's fault.
    """
    name = str(doc["name"])
    parameters = doc.get("parameters") or {}
    props: dict[str, Any] = dict(parameters.get("properties") or {})
    params = _parameters(method)
    out: list[Finding] = []
    for p, schema in props.items():
        if p not in params:
            continue
        is_array = doc_kind(schema) == "array"
        values = documented_enum(schema)
        if values is None and is_array and isinstance(schema.get("items"), dict):
            values = documented_enum(schema["items"])
        if not values:
            continue
        contexts = _enum_contexts(p, params, fillers)
        if not contexts:
            continue
        rejected: dict[Any, tuple[Call, ExecResult, Call, ExecResult]] = {}
        clean: set[str] = set()
        for kwargs in contexts:
            results = {}
            for value in values:
                call = Call(name=name, kwargs={**kwargs, p: [value] if is_array else value})
                results[json.dumps(value)] = (value, call, execute(call))
            accepted = [(c, r) for _, c, r in results.values() if not _failed(r)]
            if not accepted:
                continue  # the context, not the value, fails
            for key, (_, call, result) in results.items():
                if not _failed(result):
                    clean.add(key)
                elif key not in rejected:
                    rejected[key] = (call, result, *accepted[0])
        for key, (call, result, ok_call, ok_result) in rejected.items():
            if key in clean:
                continue
            value = json.loads(key)
            out.append(
                _finding(
                    "schema.enum_rejected",
                    class_name,
                    name,
                    f"{class_name}.{name}.{p}={key}",
                    f"{name}: the documented {p} value {value!r} is rejected by the method.",
                    Evidence(
                        call=format_call(call),
                        result=_short(result.text),
                        schema_fragment=_fragment(doc, p),
                        signature=signature_text(name, method),
                        notes=f"another documented value is accepted: {format_call(ok_call)} "
                        f"-> {_short(ok_result.text, 200)}",
                    ),
                )
            )
    return out


def _enum_contexts(
    param: str,
    params: Mapping[str, inspect.Parameter],
    fillers: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Fillings of the OTHER required parameters (defaults for the rest), at most three."""
    needed = [p for p, spec in params.items() if p != param and spec.default is spec.empty]
    if not needed:
        return [{}]
    out: list[dict[str, Any]] = []
    for filler in fillers:
        kwargs = {p: filler[p] for p in needed if p in filler}
        if len(kwargs) == len(needed) and kwargs not in out:
            out.append(kwargs)
        if len(out) == 3:
            break
    return out


# --------------------------------------------------------------------------- responses


@dataclass(frozen=True)
class Observation:
    """One executed call and what it returned (``value`` is None when it raised)."""

    call: str
    value: Any
    text: str
    error: bool = False
    context: str = ""
    entry_id: str | None = None
    fuzz: bool = False
    position: tuple[int, int] | None = None
    """(turn, index in turn) of a ground-truth call."""

    @property
    def succeeded(self) -> bool:
        return not self.error and not (isinstance(self.value, dict) and "error" in self.value)


@dataclass
class _Walk:
    present: set[str]
    seen_dicts: dict[str, Mapping[str, Any]]
    wrong_type: dict[str, list[tuple[Observation, str]]]
    undocumented: dict[str, list[tuple[Observation, str, str]]]
    """path -> (observation, key, shape of its value: record (has documented keys)/dict/value)"""


def _walk(schema: Mapping[str, Any], value: Any, path: str, obs: Observation, acc: _Walk) -> None:
    kind = doc_kind(schema)
    if not value_fits(kind, value):
        acc.wrong_type.setdefault(path, []).append((obs, type(value).__name__))
        return
    if kind == "dict":
        props = schema.get("properties")
        if not isinstance(props, dict):
            return  # a free-form dict: its keys are data
        acc.seen_dicts[path] = props
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if key in props:
                acc.present.add(sub)
                _walk(props[key], item, sub, obs, acc)
            else:
                shape = (
                    "record"
                    if isinstance(item, dict) and set(item) & set(props)
                    else "dict"
                    if isinstance(item, dict)
                    else "value"
                )
                acc.undocumented.setdefault(path, []).append((obs, str(key), shape))
    elif kind == "array" and isinstance(schema.get("items"), dict):
        for item in value:
            _walk(schema["items"], item, f"{path}[]", obs, acc)


def _best(observations: Iterable[Observation]) -> Observation:
    # Ground-truth observations reproduce by replaying the entry; prefer them, then brevity.
    return min(observations, key=lambda o: (o.fuzz, len(o.text), o.call))


def _obs_evidence(obs: Observation, **extra: Any) -> Evidence:
    where = f"observed at {obs.context}" if obs.context else None
    notes = "; ".join(x for x in (extra.pop("notes", None), where) if x) or None
    return Evidence(call=obs.call, result=_short(obs.text), notes=notes, **extra)


def check_responses(
    class_name: str, doc: Mapping[str, Any], observations: Sequence[Observation]
) -> list[Finding]:
    """Documented response vs. the values the method returned in successful calls."""
    response = doc.get("response")
    ok = [o for o in observations if o.succeeded]
    if not isinstance(response, dict) or not ok:
        return []
    acc = _Walk(set(), {}, {}, {})
    for obs in ok:
        _walk(response, obs.value, "", obs, acc)
    name = str(doc["name"])
    out = _wrong_types(class_name, name, response, acc, len(ok))
    undocumented, data_maps = _undocumented(class_name, name, response, acc)
    out += _missing(class_name, name, acc, ok, skip=data_maps)
    return out + undocumented


def _wrong_types(
    class_name: str, name: str, response: Mapping[str, Any], acc: _Walk, successes: int
) -> list[Finding]:
    out: list[Finding] = []
    for path, hits in sorted(acc.wrong_type.items()):
        obs = _best(o for o, _ in hits)
        returned = sorted(Counter(t for _, t in hits))
        calls = len({id(o) for o, _ in hits})
        schema = _schema_at(response, path)
        out.append(
            _finding(
                "schema.response_type",
                class_name,
                name,
                f"{class_name}.{name}.{path or 'response'}",
                f"{name}: `{path or 'response'}` is documented as {schema.get('type')!r} but "
                f"the method returns {', '.join(returned)} ({calls} of {successes} successful "
                "calls).",
                _obs_evidence(obs, schema_fragment={"response": {path or "response": schema}}),
                entry_id=obs.entry_id,
            )
        )
    return out


def _missing(
    class_name: str, name: str, acc: _Walk, ok: Sequence[Observation], skip: set[str]
) -> list[Finding]:
    out: list[Finding] = []
    for path, props in sorted(acc.seen_dicts.items()):
        if path in skip:
            continue  # a map of records: its documented "fields" are the records' fields
        for key, schema in props.items():
            sub = f"{path}.{key}" if path else str(key)
            if sub in acc.present:
                continue
            parent_hits = [o for o in ok if _dict_at(o.value, path) is not None]
            obs = _best(parent_hits or ok)
            optional = _OPTIONAL_MARK in str(schema.get("description", ""))
            out.append(
                _finding(
                    "schema.response_field_missing",
                    class_name,
                    name,
                    f"{class_name}.{name}.{sub}",
                    f"{name}: documented response field `{sub}` is never returned "
                    f"({len(parent_hits or ok)} successful calls observed).",
                    _obs_evidence(obs, schema_fragment={"response": {sub: schema}}),
                    severity="warning" if optional else "error",
                    entry_id=obs.entry_id,
                )
            )
    return out


def _undocumented(
    class_name: str, name: str, response: Mapping[str, Any], acc: _Walk
) -> tuple[list[Finding], set[str]]:
    """Findings for returned keys the doc does not name, and the paths found to be maps
    keyed by data (ids, dates, file names) rather than records with fields."""
    out: list[Finding] = []
    data_maps: set[str] = set()
    elsewhere = _documented_paths(response)
    for path, hits in sorted(acc.undocumented.items()):
        by_key: dict[str, list[Observation]] = defaultdict(list)
        shapes: dict[str, set[str]] = defaultdict(set)
        for obs, key, shape in hits:
            by_key[key].append(obs)
            shapes[key].add(shape)
        documented = sorted(_schema_at(response, path).get("properties") or {})
        # Data used as keys: keys whose values are the documented record (the doc describes
        # one record, the method returns a map of them), keys that no single response holds
        # most of, and keys that do not read as field names.
        per_response = Counter(id(o) for o, _, _ in hits)
        scattered = len(by_key) > 2 * max(per_response.values())
        data_keys = sorted(
            k for k in by_key if scattered or "record" in shapes[k] or not _FIELD_NAME.fullmatch(k)
        )
        if len(data_keys) > _MAX_UNDOCUMENTED_KEYS:
            # In a map keyed by data, the other dict-valued keys are entries of other shapes.
            data_keys = sorted({*data_keys, *(k for k in by_key if "dict" in shapes[k])})
            data_maps.add(path)
            obs = _best([o for k in data_keys for o in by_key.pop(k)])
            label = f"{path}.*" if path else "*"
            out.append(
                _finding(
                    "schema.response_field_undocumented",
                    class_name,
                    name,
                    f"{class_name}.{name}.{label}",
                    f"{name}: `{path or 'response'}` is a map keyed by data ({len(data_keys)} "
                    f"distinct keys, e.g. {', '.join(data_keys[:4])}), but the doc describes "
                    f"it as one record with the fields {documented}.",
                    _obs_evidence(obs, notes=f"documented keys: {documented}"),
                    severity="warning",
                    entry_id=obs.entry_id,
                )
            )
        for key, seen in sorted(by_key.items()):
            obs = _best(seen)
            sub = f"{path}.{key}" if path else key
            hint = [d for d in elsewhere if d.rsplit(".", 1)[-1] == key and d != sub]
            moved = f" (the doc has it as `{hint[0]}`)" if hint else ""
            out.append(
                _finding(
                    "schema.response_field_undocumented",
                    class_name,
                    name,
                    f"{class_name}.{name}.{sub}",
                    f"{name}: returns `{sub}`, which the documented response does not name{moved}.",
                    _obs_evidence(obs, notes=f"documented keys: {documented}"),
                    severity="warning",
                    entry_id=obs.entry_id,
                )
            )
    return out, data_maps


def _documented_paths(schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Every documented response path, e.g. ``status.fuelLevel``."""
    out: list[str] = []
    props = schema.get("properties")
    if isinstance(props, dict):
        for key, sub in props.items():
            here = f"{path}.{key}" if path else str(key)
            out.append(here)
            if isinstance(sub, dict):
                out += _documented_paths(sub, here)
    if isinstance(schema.get("items"), dict):
        out += _documented_paths(schema["items"], f"{path}[]")
    return out


def _schema_at(schema: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    node: Mapping[str, Any] = schema
    for part in _path_parts(path):
        if part == "[]":
            node = node.get("items") or {}
        else:
            node = (node.get("properties") or {}).get(part) or {}
    return node


def _dict_at(value: Any, path: str) -> dict[str, Any] | None:
    nodes = [value]
    for part in _path_parts(path):
        nxt: list[Any] = []
        for node in nodes:
            if part == "[]" and isinstance(node, list | tuple):
                nxt.extend(node)
            elif isinstance(node, dict) and part in node:
                nxt.append(node[part])
        nodes = nxt
    return next((n for n in nodes if isinstance(n, dict)), None)


def _path_parts(path: str) -> list[str]:
    """``"results[].id"`` -> ``["results", "[]", "id"]``."""
    parts: list[str] = []
    for chunk in path.split(".") if path else []:
        base, depth = chunk, 0
        while base.endswith("[]"):
            base, depth = base[:-2], depth + 1
        if base:
            parts.append(base)
        parts.extend(["[]"] * depth)
    return parts


# --------------------------------------------------------------------------- one function


@dataclass(frozen=True)
class Probe:
    """Where signature findings take executed evidence: an executor, argument values for the
    other parameters, and a description of the state (e.g. an entry after its ground truth)."""

    execute: Execute
    fillers: Mapping[str, Any]
    where: str


def check_function(
    class_name: str,
    doc: Mapping[str, Any],
    method: Callable[..., Any],
    observed: Sequence[Observation] = (),
    execute: Execute | None = None,
    fillers: Sequence[Mapping[str, Any]] = (),
    probe: Probe | None = None,
) -> list[Finding]:
    """All per-function schema checks.

    ``execute`` runs a call on a fresh default instance (enum values are tried there);
    ``fillers`` are argument dicts known to be meaningful (the ground truth's) that complete
    executed probes; ``probe`` is where signature findings take their executed evidence
    (default: ``execute`` with the fillers).
    """
    merged: dict[str, Any] = {}
    for filler in fillers:
        for key, value in filler.items():
            merged.setdefault(key, value)
    if probe is None and execute is not None:
        probe = Probe(execute, merged, "on a default instance")
    out = (
        check_signature(class_name, doc, method, probe.execute, probe.fillers, probe.where)
        if probe is not None
        else check_signature(class_name, doc, method)
    )
    if execute is not None:
        out += check_enums(class_name, doc, method, execute, fillers)
    out += check_responses(class_name, doc, observed)
    return out


# --------------------------------------------------------------------------- the release


def argument_pools(
    entries: Sequence[Entry],
    signatures: Mapping[str, tuple[str, Callable[..., Any]]],
    parse: Callable[[str], Call] = parse_call,
) -> tuple[ArgumentPools, dict[tuple[str, str], list[dict[str, Any]]]]:
    """Ground-truth argument values per (class, function, parameter), and the distinct
    argument dicts per function (as fillers). ``signatures``: function -> (class, method)."""
    pools: ArgumentPools = {}
    calls: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in entries:
        for turn in entry.ground_truth:
            for text in turn:
                call = parse(text)
                owner = signatures.get(call.name)
                if owner is None:
                    continue
                key = (owner[0], call.name)
                bound = bind_call(call, owner[1])
                pool = pools.setdefault(key, {})
                for param, value in bound.items():
                    values = pool.setdefault(param, [])
                    if value not in values:
                        values.append(value)
                seen = calls.setdefault(key, [])
                if bound not in seen:
                    seen.append(bound)
    return pools, calls


def _variation(call: Call, pool: Mapping[str, list[Any]], rng: random.Random) -> Call | None:
    """A small change of a ground-truth call: one argument nudged, swapped or dropped."""
    kwargs = dict(call.kwargs)
    if call.args or not kwargs:
        return None
    key = rng.choice(sorted(kwargs))
    value = kwargs[key]
    others = [v for v in pool.get(key, []) if v != value]
    roll = rng.random()
    if roll < 0.15:
        del kwargs[key]
    elif others and roll < 0.6:
        kwargs[key] = rng.choice(others)
    elif type(value) in (int, float):
        kwargs[key] = rng.choice([value * 2, value + 1, -value, 0])
    elif type(value) is bool:
        kwargs[key] = not value
    elif type(value) is list:
        kwargs[key] = value[:-1] if value else value
    elif type(value) is str:
        kwargs[key] = value.upper() if value != value.upper() else value.lower()
    else:
        return None
    return Call(name=call.name, kwargs=kwargs)


def collect_observations(
    release: Release,
    entries: Sequence[Entry],
    owners: Mapping[str, str],
    pools: ArgumentPools,
    seed: int = FUZZ_SEED,
    parse: Callable[[str], Call] = parse_call,
) -> dict[tuple[str, str], list[Observation]]:
    """Every ground-truth call's result, plus one seeded variation per call.

    The variations run in a second ("shadow") episode per entry, each just before the
    ground-truth call it varies, so most of them meet the state the ground truth expects.
    """
    out: dict[tuple[str, str], list[Observation]] = defaultdict(list)
    rng = random.Random(seed)
    for entry in entries:
        truth = ReferenceEpisode(entry, release)
        shadow = ReferenceEpisode(entry, release)
        for t, turn in enumerate(entry.ground_truth):
            for index, text in enumerate(turn):
                call = parse(text)
                owner = owners.get(call.name)
                if owner is None:
                    continue
                key = (owner, call.name)
                result = truth.execute(call)
                out[key].append(
                    Observation(
                        text,
                        result.value,
                        result.text,
                        result.error,
                        f"{entry.id} turn {t} (ground truth)",
                        entry.id,
                        position=(t, index),
                    )
                )
                variant = _variation(call, pools.get(key, {}), rng)
                if variant is not None:
                    try:
                        variant_text = format_call(variant)
                    except ValueError:
                        variant_text = None
                    if variant_text is not None:
                        got = shadow.execute(variant)
                        out[key].append(
                            Observation(
                                variant_text,
                                got.value,
                                got.text,
                                got.error,
                                f"{entry.id} turn {t} (fuzzed ground truth)",
                                entry.id,
                                fuzz=True,
                            )
                        )
                shadow.execute(call)
    return out


def audit_schemas(release: Release, entries: Sequence[Entry] | None = None) -> list[Finding]:
    """All schema findings of the release (kind ``schema``), deterministic."""
    entries = list(entries) if entries is not None else release.all_entries()
    methods_by_class: dict[str, dict[str, Callable[..., Any]]] = {}
    signatures: dict[str, tuple[str, Callable[..., Any]]] = {}
    for class_name in CLASS_MODULES:
        instance = default_episode(release, class_name).instances[class_name]
        methods_by_class[class_name] = public_methods(instance)
        for name, method in methods_by_class[class_name].items():
            signatures.setdefault(name, (class_name, method))
    owners = {name: owner for name, (owner, _) in signatures.items()}
    # Ground-truth strings repeat across entries and are read twice: parse each once.
    parse = functools.lru_cache(maxsize=None)(parse_call)
    pools, fillers = argument_pools(entries, signatures, parse)
    observed = collect_observations(release, entries, owners, pools, parse=parse)

    out: list[Finding] = []
    for class_name, methods in methods_by_class.items():
        docs = release.func_docs(class_name)
        out += check_names(class_name, docs, methods)

        def execute(call: Call, _cls: str = class_name) -> ExecResult:
            return default_episode(release, _cls).execute(call)

        for doc in docs:
            method = methods.get(doc["name"])
            if method is None:
                continue
            key = (class_name, doc["name"])
            seen = observed.get(key, [])
            out += check_function(
                class_name,
                doc,
                method,
                seen,
                execute,
                fillers.get(key, []),
                _truth_probe(
                    release, class_name, entries, seen, fillers.get(key, []), method, parse
                ),
            )
    return _unique(out)


def _truth_probe(
    release: Release,
    class_name: str,
    entries: Sequence[Entry],
    observed: Sequence[Observation],
    fillers: Sequence[Mapping[str, Any]],
    method: Callable[..., Any],
    parse: Callable[[str], Call],
) -> Probe | None:
    """Probe in a realistic state: a default instance often refuses (not logged in, no data)
    before the parameter under test matters.

    The state of the function's first successful ground-truth call (with that call's own
    arguments as fillers); for a function the ground truth never calls, the end state of the
    first entries of the class where the bare call succeeds.
    """
    values: dict[str, Any] = {}
    first = next((o for o in observed if o.position and not o.fuzz and o.succeeded), None)
    if first is not None and first.position is not None:
        entry = next(e for e in entries if e.id == first.entry_id)
        values.update(bind_call(parse(first.call), method))
        stop = first.position
        where = f"on {entry.id} in place of its ground-truth call {first.call} (turn {stop[0]})"
    for filler in fillers:
        for key, value in filler.items():
            values.setdefault(key, value)

    def executor(entry: Entry, stop: tuple[int, int] | None) -> Execute:
        def execute(call: Call) -> ExecResult:
            episode = ReferenceEpisode(entry, release)
            for t, calls in enumerate(entry.ground_truth):
                for i, text in enumerate(calls):
                    if (t, i) == stop:
                        return episode.execute(call)
                    episode.execute(text)
            return episode.execute(call)

        return execute

    if first is not None and first.position is not None:
        return Probe(executor(entry, stop), values, where)
    required = [p for p, spec in _parameters(method).items() if spec.default is spec.empty]
    if any(p not in values for p in required):
        return None
    bare = Call(name=getattr(method, "__name__", ""), kwargs={p: values[p] for p in required})
    involved = [e for e in entries if class_name in e.involved_classes]
    for entry in involved[:5]:
        execute = executor(entry, None)
        if not _failed(execute(bare)):
            return Probe(execute, values, f"on {entry.id} after its whole ground truth")
    return None


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    seen: dict[str, Finding] = {}
    for finding in findings:
        seen.setdefault(finding.id, finding)
    return list(seen.values())
