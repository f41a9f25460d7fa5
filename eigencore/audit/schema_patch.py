"""Schema refinements: patched BFCL function docs that agree with what the methods do.

`patch_docs(release, findings)` turns every schema finding that has a mechanical fix into an
edit of a deep copy of the release's docs (BFCL's own JSON doc format), and records each edit
as a `ChangeEntry` with the findings it answers. A finding without a mechanical fix comes back
as an entry with ``status == "unrepaired"`` and the reason, so nothing is dropped.

Rules, by check:

* ``schema.default_mismatch``: the string ``"None"`` standing for Python's ``None`` is removed
  (the parameter stays optional and the description says to omit it); any other documented
  default becomes the code's default when JSON can carry it.
* ``schema.enum_rejected``: the rejected value is replaced by a near-miss literal of the
  method's source, kept only when a call with it succeeds on a default instance.
* ``schema.unknown_param`` / ``schema.undocumented_param``: the documented-only parameter is
  removed; the undocumented one is added (typed from its annotation, with its default).
* ``schema.param_order``: the doc's properties are reordered to the signature order.
* ``schema.response_type`` / ``schema.response_field_missing`` /
  ``schema.response_field_undocumented``: the response documents what was observed (the
  finding's evidence result is parsed and its shape written down).

The port authors' ``schema.manual`` findings have no rule of their own; `MANUAL_ANSWERS` (read
from each finding's summary) names the automatic findings that state the same defect. A
manual finding is repaired when all of those were, and stays unrepaired, saying what was
repaired and what is left, when the registry notes a remainder.

The output's ``{class_name: patched docs}`` is what `eigencore.audit.repair.repair` takes as
``schema_patches``; only classes with at least one applied change are included.
"""

from __future__ import annotations

import ast
import copy
import inspect
import json
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypedDict

from eigencore.audit.findings import Finding
from eigencore.audit.schema import (
    _failed,
    _parameters,
    _schema_at,
    annotation_kinds,
    default_episode,
    documented_enum,
    public_methods,
)
from eigencore.bfcl.calls import Call, format_call, parse_call
from eigencore.bfcl.release import CLASS_MODULES, Release

__all__ = ["MANUAL_ANSWERS", "ChangeEntry", "infer_schema", "patch_docs"]

ChangeEntry = TypedDict(
    "ChangeEntry",
    {
        "class": str,
        "function": str,
        "field": str,
        "before": Any,
        "after": Any,
        "why": str,
        "finding_ids": list[str],
        "status": Literal["repaired", "unrepaired"],
    },
)

_PY_KINDS: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "float",
    str: "string",
    list: "array",
    tuple: "array",
    dict: "dict",
}
# Doc types as BFCL writes them for the annotation kinds (`annotation_kinds`).
_DOC_TYPE = {"integer": "integer", "float": "float", "string": "string", "boolean": "boolean",
             "array": "array", "dict": "dict"}
_RETURNS = re.compile(r"the method returns ([A-Za-z_, ]+) \((\d+) of (\d+) successful")
_OPTIONAL_NONE = " Optional: omit it for none."


MANUAL_ANSWERS: dict[str, tuple[tuple[str, ...], str]] = {
    "schema.manual:gorilla_file_system-14": (
        (
            "schema.default_mismatch:GorillaFileSystem.echo.file_name",
            "schema.default_mismatch:GorillaFileSystem.find.name",
        ),
        "",
    ),
    "schema.manual:message_api-1": (
        ("schema.response_type:MessageAPI.send_message.message_id",),
        "",
    ),
    "schema.manual:message_api-2": (
        (
            "schema.unknown_param:MessageAPI.delete_message.message_id",
            "schema.response_type:MessageAPI.delete_message.message_id",
        ),
        "the description still says 'first message' although the latest one is deleted",
    ),
    "schema.manual:ticket_api-5": (
        ("schema.default_mismatch:TicketAPI.get_user_tickets.status",),
        "the response is still documented as a dict although the method returns a list",
    ),
    "schema.manual:trading_bot-8": (
        (
            "schema.response_field_undocumented:TradingBot.get_stock_info.MA(5)",
            "schema.response_field_undocumented:TradingBot.get_stock_info.MA(20)",
        ),
        "",
    ),
    "schema.manual:trading_bot-20": (
        (
            "schema.default_mismatch:TradingBot.get_transaction_history.start_date",
            "schema.default_mismatch:TradingBot.get_transaction_history.end_date",
        ),
        "",
    ),
    "schema.manual:travel_booking-9": (
        ("schema.response_type:TravelAPI.list_all_airports.response",),
        "",
    ),
    "schema.manual:travel_booking-11": (
        ("schema.response_type:TravelAPI.get_flight_cost.travel_cost_list[]",),
        "the sentences still call every flight 'domestica' and do not single out the requested "
        "route's price (the code's behaviour)",
    ),
    "schema.manual:travel_booking-15": (("schema.param_order:TravelAPI.purchase_insurance",), ""),
    "schema.manual:vehicle_control-5": (
        ('schema.enum_rejected:VehicleControlAPI.displayCarStatus.option="brakePadle"',),
        "",
    ),
    "schema.manual:vehicle_control-6": (
        ("schema.response_field_missing:VehicleControlAPI.check_tire_pressure.tirePressure",),
        "",
    ),
}
"""A port author's schema finding -> (the automatic findings stating the same defect, what
the automatic repairs leave of it: empty when nothing)."""


def infer_schema(value: Any) -> dict[str, Any]:
    """A BFCL doc schema for an observed value (dict fields and list items recursively)."""
    kind = _PY_KINDS.get(type(value))
    if kind is None:
        return {"type": "any", "description": "Null when nothing is returned."}
    out: dict[str, Any] = {"type": kind}
    if kind == "dict" and value:
        out["properties"] = {str(k): infer_schema(v) for k, v in value.items()}
    elif kind == "array" and value:
        out["items"] = infer_schema(value[0])
    return out


def _parse_result(text: str | None) -> tuple[bool, Any]:
    """The evidence's result text back as a value (BFCL shows dicts as JSON, else str())."""
    if text is None or text.startswith("Error during execution"):
        return False, None
    for parse in (json.loads, ast.literal_eval):
        try:
            return True, parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return False, None


def _kind_in_text(text: str | None, key: str) -> dict[str, Any] | None:
    """The kind of ``key``'s value read from a (clipped, so unparsable) JSON result text."""
    match = re.search(rf'"{re.escape(key)}": (.)', text or "")
    if match is None:
        return None
    first = match.group(1)
    kinds = {'"': "string", "{": "dict", "[": "array", "t": "boolean", "f": "boolean"}
    if first in kinds:
        return {"type": kinds[first]}
    return {"type": "float"} if first in "-0123456789" else None


def _value_at(value: Any, path: str) -> tuple[bool, Any]:
    node = value
    for part in [p for p in path.split(".") if p] if path else []:
        depth = 0
        while part.endswith("[]"):
            part, depth = part[:-2], depth + 1
        if part:
            if not isinstance(node, dict) or part not in node:
                return False, None
            node = node[part]
        for _ in range(depth):
            if not isinstance(node, list | tuple) or not node:
                return False, None
            node = node[0]
    return True, node


def _node(response: dict[str, Any], path: str, create: bool = False) -> dict[str, Any] | None:
    """The (mutable) response schema node at ``path`` (``a.b[]``), or None."""
    node: Any = response
    for part in [p for p in path.split(".") if p] if path else []:
        depth = 0
        while part.endswith("[]"):
            part, depth = part[:-2], depth + 1
        if part:
            props = node.get("properties")
            if not isinstance(props, dict) or part not in props:
                return None
            node = props[part]
        for _ in range(depth):
            if not isinstance(node.get("items"), dict):
                return None
            node = node["items"]
    return node if isinstance(node, dict) else None


def _split_path(path: str) -> tuple[str, str]:
    if "." in path:
        parent, key = path.rsplit(".", 1)
        return parent, key
    return "", path


def _edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def _near_miss(candidate: str, value: str) -> bool:
    """A typo of ``value``: at most two edits, or the same letters transposed."""
    a, b = candidate.lower(), value.lower()
    return 0 < _edit_distance(a, b) <= 2 or (a != b and sorted(a) == sorted(b))


def _source_literals(method: Callable[..., Any]) -> list[str]:
    try:
        tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(method)))
    except (OSError, TypeError, SyntaxError):
        return []
    seen: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value not in seen:
                seen.append(node.value)
    return seen


class _Patcher:
    def __init__(self, release: Release) -> None:
        self.release = release
        self.docs: dict[str, dict[str, dict[str, Any]]] = {}
        self.order: dict[str, list[str]] = {}
        self.methods: dict[str, dict[str, Callable[..., Any]]] = {}
        self.changes: list[ChangeEntry] = []
        self.touched: set[str] = set()

    def doc(self, cls: str, function: str) -> dict[str, Any] | None:
        if cls not in self.docs:
            docs = copy.deepcopy(self.release.func_docs(cls))
            self.docs[cls] = {d["name"]: d for d in docs}
            self.order[cls] = [d["name"] for d in docs]
        return self.docs[cls].get(function)

    def method(self, cls: str, function: str) -> Callable[..., Any] | None:
        if cls not in self.methods:
            instance = default_episode(self.release, cls).instances[cls]
            self.methods[cls] = public_methods(instance)
        return self.methods[cls].get(function)

    def fresh_method(self, cls: str, function: str) -> Callable[..., Any] | None:
        """The method on a NEW default instance (a verification call must not see earlier
        calls' effects)."""
        return public_methods(default_episode(self.release, cls).instances[cls]).get(function)

    def release_literals(self, cls: str, name: str) -> list[str]:
        """String literals of the method in the release's source (its classes are not
        loaded from files, so ``inspect.getsource`` cannot see them)."""
        try:
            tree = ast.parse(self.release.source(CLASS_MODULES[cls]))
        except (KeyError, SyntaxError, OSError):
            return []
        out: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == name:
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                        out.append(sub.value)
        return list(dict.fromkeys(out))

    def record(
        self, f: Finding, field: str, before: Any, after: Any, why: str, ok: bool = True
    ) -> None:
        self.changes.append(
            {
                "class": f.class_name or "",
                "function": f.function or "",
                "field": field,
                "before": copy.deepcopy(before),
                "after": copy.deepcopy(after),
                "why": why,
                "finding_ids": [f.id],
                "status": "repaired" if ok else "unrepaired",
            }
        )
        if ok:
            self.touched.add(f.class_name or "")

    def unrepaired(self, f: Finding, why: str) -> None:
        self.record(f, f.check, None, None, why, ok=False)

    # ----------------------------------------------------------------- parameter rules

    def default_mismatch(self, f: Finding, doc: dict[str, Any], param: str) -> None:
        spec = doc["parameters"]["properties"].get(param)
        method = self.method(f.class_name or "", doc["name"])
        if spec is None or method is None or param not in _parameters(method):
            return self.unrepaired(f, "the parameter is no longer in both doc and signature")
        before = copy.deepcopy(spec)
        actual = _parameters(method)[param].default
        if spec.get("default") == "None" and actual is None:
            # JSON has no Python None in BFCL's docs: the string "None" is passed literally.
            del spec["default"]
            if _OPTIONAL_NONE.strip() not in str(spec.get("description", "")):
                spec["description"] = str(spec.get("description", "")).rstrip() + _OPTIONAL_NONE
            why = "the documented default was the string 'None'; the code's default is None"
        else:
            try:
                json.dumps(actual)
            except (TypeError, ValueError):
                return self.unrepaired(f, f"the code's default {actual!r} is not JSON")
            spec["default"] = actual
            why = f"the code's default is {actual!r}"
        required = doc["parameters"].setdefault("required", [])
        if param in required:
            required.remove(param)
        self.record(f, f"parameters.properties.{param}", before, spec, why)

    def enum_rejected(self, f: Finding, doc: dict[str, Any], param: str, raw: str) -> None:
        cls, name = f.class_name or "", doc["name"]
        spec = doc["parameters"]["properties"].get(param)
        method = self.method(cls, name)
        bad = json.loads(raw)
        if spec is None or method is None or not isinstance(bad, str) or not f.evidence.call:
            return self.unrepaired(f, "no string enum value and executed call to correct")
        target = spec
        values = documented_enum(spec)
        if values is None and isinstance(spec.get("items"), dict):
            target, values = spec["items"], documented_enum(spec["items"])
        values = values or []
        candidates = sorted(
            (
                v
                for v in _source_literals(method) or self.release_literals(cls, name)
                if v != bad and v not in values and _near_miss(v, bad)
            ),
            key=lambda v: (_edit_distance(v.lower(), bad.lower()), v),
        )
        call = parse_call(f.evidence.call)
        for candidate in candidates:
            kwargs = {
                k: ([candidate] if v == [bad] else candidate) if k == param else v
                for k, v in call.kwargs.items()
            }
            fresh = self.fresh_method(cls, name)
            if fresh is None:
                break
            from eigencore.audit.schema import invoke

            result, _ = invoke(fresh, Call(name=name, args=call.args, kwargs=kwargs))
            if _failed(result):
                continue
            before = copy.deepcopy(spec)
            if isinstance(target.get("enum"), list):
                target["enum"] = [candidate if v == bad else v for v in target["enum"]]
            if isinstance(target.get("description"), str):
                target["description"] = target["description"].replace(
                    json.dumps(bad), json.dumps(candidate)
                )
                if documented_enum(target) and bad in (documented_enum(target) or []):
                    target["description"] = re.sub(
                        rf"\b{re.escape(bad)}\b", candidate, target["description"]
                    )
            why = (
                f"{bad!r} is rejected; {candidate!r} (in the method's source) is accepted: "
                f"{format_call(Call(name=name, kwargs=kwargs))} -> {result.text[:120]}"
            )
            return self.record(f, f"parameters.properties.{param}", before, spec, why)
        self.unrepaired(f, f"no near-miss of {bad!r} in the method's source is accepted")

    def unknown_param(self, f: Finding, doc: dict[str, Any], param: str) -> None:
        props = doc["parameters"]["properties"]
        if param not in props:
            return self.unrepaired(f, "already absent from the doc")
        before = props.pop(param)
        if param in doc["parameters"].get("required", []):
            doc["parameters"]["required"].remove(param)
        self.record(
            f,
            f"parameters.properties.{param}",
            before,
            None,
            "the method has no such parameter: passing it raises TypeError",
        )

    def undocumented_param(self, f: Finding, doc: dict[str, Any], param: str) -> None:
        method = self.method(f.class_name or "", doc["name"])
        params = _parameters(method) if method is not None else {}
        if param not in params:
            return self.unrepaired(f, "the method has no such parameter any more")
        p = params[param]
        kinds = (annotation_kinds(p.annotation) or set()) - {"null"}
        spec: dict[str, Any] = {
            "type": _DOC_TYPE.get(next(iter(kinds)), "any") if len(kinds) == 1 else "any",
            "description": f"The `{param}` parameter of {doc['name']}.",
        }
        if p.default is not inspect.Parameter.empty:
            try:
                json.dumps(p.default)
                if p.default is not None:
                    spec["default"] = p.default
            except (TypeError, ValueError):
                pass
        else:
            doc["parameters"].setdefault("required", []).append(param)
        doc["parameters"]["properties"][param] = spec
        self.reorder(doc, method)
        self.record(f, f"parameters.properties.{param}", None, spec, "the method takes it")

    def reorder(self, doc: dict[str, Any], method: Callable[..., Any] | None) -> None:
        if method is None:
            return
        props = doc["parameters"]["properties"]
        names = list(_parameters(method))
        ordered = sorted(props, key=lambda p: names.index(p) if p in names else len(names))
        doc["parameters"]["properties"] = {p: props[p] for p in ordered}
        if "required" in doc["parameters"]:
            required = doc["parameters"]["required"]
            doc["parameters"]["required"] = [p for p in ordered if p in required]

    def param_order(self, f: Finding, doc: dict[str, Any]) -> None:
        method = self.method(f.class_name or "", doc["name"])
        before = list(doc["parameters"]["properties"])
        self.reorder(doc, method)
        after = list(doc["parameters"]["properties"])
        if before == after:
            return self.unrepaired(f, "the doc order already matches the signature")
        self.record(f, "parameters.properties(order)", before, after, "signature order")

    # ----------------------------------------------------------------- response rules

    def observed(self, f: Finding, path: str) -> tuple[bool, Any]:
        ok, value = _parse_result(f.evidence.result)
        return _value_at(value, path) if ok else (False, None)

    def response_type(self, f: Finding, doc: dict[str, Any], path: str) -> None:
        response = doc.get("response")
        node = _node(response, "" if path == "response" else path) if response else None
        match = _RETURNS.search(f.summary)
        if node is None or match is None:
            return self.unrepaired(f, "no documented node or observed type to compare")
        types = {t.strip() for t in match.group(1).split(",")}
        if types & {"mpf", "mpc", "Decimal"}:
            return self.unrepaired(
                f,
                "the method returns mpmath/Decimal numbers, which JSON cannot carry: the "
                "doc states the intended float; the fix belongs in the code",
            )
        ok, value = self.observed(f, "" if path == "response" else path)
        before = copy.deepcopy(node)
        always = match.group(2) == match.group(3)
        if ok and always and value is not None:
            inferred = infer_schema(value)
            node.clear()
            node.update(inferred)
            if before.get("description"):
                node["description"] = before["description"]
            why = f"the method returns {', '.join(sorted(types))} in every successful call"
        else:
            shown = " or ".join(
                sorted(
                    ({*types, str(before.get("type"))} - {"NoneType"})
                    | ({"null"} if "NoneType" in types else set())
                )
            )
            node["type"] = "any"
            node["description"] = (
                str(before.get("description", "")).rstrip()
                + f" Observed: {shown} ({match.group(2)} of {match.group(3)} successful calls"
                + f" return {', '.join(sorted(types))})."
            ).strip()
            why = "the method returns more than one type; all observed types are documented"
        self.record(f, f"response.{path}", before, node, why)

    def response_field_undocumented(self, f: Finding, doc: dict[str, Any], path: str) -> None:
        response = doc.get("response")
        if not isinstance(response, dict):
            return self.unrepaired(f, "the doc has no response")
        if path.endswith("*"):
            base = path[:-2] if path.endswith(".*") else ""
            node = _node(response, base)
            if node is None:
                return self.unrepaired(f, "no documented node at the path")
            before = copy.deepcopy(node)
            record = node.pop("properties", None)
            if record:
                node["additionalProperties"] = {"type": "dict", "properties": record}
            node["description"] = (
                str(node.get("description", "")).rstrip()
                + " A map keyed by data (ids, dates or names), not fixed fields."
            ).strip()
            return self.record(
                f, f"response.{path}", before, node, "the keys observed are data, not fields"
            )
        parent, key = _split_path(path)
        node = _node(response, parent)
        ok, value = self.observed(f, path)
        inferred = infer_schema(value) if ok else _kind_in_text(f.evidence.result, key)
        if node is None or inferred is None:
            return self.unrepaired(f, "the returned field's value is not in the evidence")
        props = node.setdefault("properties", {})
        if key in props:
            return self.unrepaired(f, "already documented")
        props[key] = inferred
        props[key]["description"] = f"Returned by {doc['name']} (observed)."
        self.record(f, f"response.{path}", None, props[key], "the method returns it")

    def response_field_missing(
        self, f: Finding, doc: dict[str, Any], path: str, returned: set[str]
    ) -> None:
        response = doc.get("response")
        parent, key = _split_path(path)
        node = _node(response, parent) if isinstance(response, dict) else None
        if node is None or key not in (node.get("properties") or {}):
            return self.unrepaired(f, "no documented field at the path")
        before = copy.deepcopy(node["properties"][key])
        nested = before.get("properties") or {}
        hoisted = [k for k in nested if f"{parent}.{k}".lstrip(".") in returned]
        del node["properties"][key]
        if hoisted:
            # The method returns the documented sub-fields one level up (no wrapper key).
            for k, spec in nested.items():
                node["properties"].setdefault(k, spec)
            why = f"the fields documented under `{key}` are returned without that wrapper"
            self.record(f, f"response.{path}", before, {k: nested[k] for k in nested}, why)
        else:
            self.record(f, f"response.{path}", before, None, "never returned by the method")

    def patched(self) -> dict[str, list[dict[str, Any]]]:
        return {
            cls: [self.docs[cls][n] for n in self.order[cls]]
            for cls in self.docs
            if cls in self.touched
        }


def _path(f: Finding) -> str:
    prefix = f"{f.check}:{f.class_name}.{f.function}"
    rest = f.id[len(prefix) :] if f.id.startswith(prefix) else ""
    return rest[1:] if rest.startswith(".") else rest


def patch_docs(
    release: Release, findings: Sequence[Finding]
) -> tuple[dict[str, list[dict[str, Any]]], list[ChangeEntry]]:
    """Patched docs per class (only classes with an applied change) and every change entry,
    including one ``status == "unrepaired"`` entry per schema finding without a mechanical fix.
    """
    p = _Patcher(release)
    schema = [f for f in findings if f.kind == "schema"]
    # Hoisting decisions need every undocumented path of the function at once.
    returned: Mapping[tuple[str, str], set[str]] = defaultdict(set)
    for f in schema:
        if f.check == "schema.response_field_undocumented":
            returned[(f.class_name or "", f.function or "")].add(_path(f))
    rank = {"schema.response_field_missing": 0}  # hoist before adding the same fields
    for f in sorted(schema, key=lambda f: rank.get(f.check, 1)):
        cls, function = f.class_name or "", f.function or ""
        doc = p.doc(cls, function) if cls and function else None
        if doc is None:
            p.unrepaired(f, f"{f.check}: not tied to a documented function; no mechanical rule")
            continue
        doc.setdefault("parameters", {}).setdefault("properties", {})
        path = _path(f)
        if f.check == "schema.default_mismatch":
            p.default_mismatch(f, doc, path)
        elif f.check == "schema.enum_rejected" and "=" in path:
            param, raw = path.split("=", 1)
            p.enum_rejected(f, doc, param, raw)
        elif f.check == "schema.unknown_param":
            p.unknown_param(f, doc, path)
        elif f.check == "schema.undocumented_param":
            p.undocumented_param(f, doc, path)
        elif f.check == "schema.param_order":
            p.param_order(f, doc)
        elif f.check == "schema.response_type":
            p.response_type(f, doc, path)
        elif f.check == "schema.response_field_missing":
            p.response_field_missing(f, doc, path, returned[(cls, function)])
        elif f.check == "schema.response_field_undocumented":
            if _node(doc.get("response") or {}, _split_path(path)[0]) is not None and path in {
                *_schema_paths(doc)
            }:
                p.record(f, f"response.{path}", None, None, "documented by a hoist")
            else:
                p.response_field_undocumented(f, doc, path)
        else:
            p.unrepaired(f, f"{f.check}: no mechanical rule (needs a person's judgement)")
    # A manual finding often describes what an automatic rule fixed: point to those edits.
    fields: dict[tuple[str, str], list[str]] = defaultdict(list)
    for c in p.changes:
        if c["status"] == "repaired":
            fields[(c["class"], c["function"])].append(c["field"])
    for c in p.changes:
        related = fields.get((c["class"], c["function"]))
        if c["status"] == "unrepaired" and related:
            c["why"] += f"; this function's doc was changed at: {', '.join(sorted(set(related)))}"
    _answer_manual(p.changes)
    return p.patched(), p.changes


def _answer_manual(changes: list[ChangeEntry]) -> None:
    """Settle the manual findings that `MANUAL_ANSWERS` ties to automatic ones."""
    repaired = {i for c in changes if c["status"] == "repaired" for i in c["finding_ids"]}
    for c in changes:
        (finding_id,) = c["finding_ids"]
        if c["status"] != "unrepaired" or finding_id not in MANUAL_ANSWERS:
            continue
        same, left = MANUAL_ANSWERS[finding_id]
        done = [i for i in same if i in repaired]
        if len(done) < len(same):
            missing = ", ".join(i for i in same if i not in repaired)
            c["why"] = f"the same defect as {missing}, which is not repaired"
        elif left:
            c["why"] = f"repaired in part by the edits for {', '.join(same)}; left: {left}"
        else:
            c["status"] = "repaired"
            c["field"] = "(see " + ", ".join(same) + ")"
            c["why"] = f"the same defect as {', '.join(same)}: repaired by their edits"


def _schema_paths(doc: Mapping[str, Any]) -> list[str]:
    response = doc.get("response")
    if not isinstance(response, dict):
        return []
    out: list[str] = []
    for key in (response.get("properties") or {}):
        out.append(str(key))
        sub = _schema_at(response, str(key))
        out += [f"{key}.{k}" for k in (sub.get("properties") or {})]
    return out
