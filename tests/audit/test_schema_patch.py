"""Schema refinements: patched docs keep BFCL's shape and agree with the signatures."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from eigencore.audit.findings import Finding
from eigencore.audit.schema import (
    audit_schemas,
    check_enums,
    check_signature,
    default_episode,
    public_methods,
)
from eigencore.audit.schema_patch import infer_schema, patch_docs
from eigencore.bfcl.calls import Call
from eigencore.bfcl.reference import ExecResult
from eigencore.bfcl.release import Release

SIGNATURE_CHECKS = {
    "schema.default_mismatch",
    "schema.unknown_param",
    "schema.undocumented_param",
    "schema.param_order",
}


@pytest.fixture(scope="module")
def findings(release: Release) -> list[Finding]:
    return audit_schemas(release)


@pytest.fixture(scope="module")
def patched(
    release: Release, findings: list[Finding]
) -> tuple[dict[str, list[dict[str, Any]]], list[Any]]:
    return patch_docs(release, findings)


def _shape_ok(doc: dict[str, Any]) -> None:
    assert isinstance(doc["name"], str) and isinstance(doc["description"], str)
    params = doc["parameters"]
    assert params["type"] == "dict" and isinstance(params["properties"], dict)
    assert set(params.get("required", [])) <= set(params["properties"])
    for spec in params["properties"].values():
        assert isinstance(spec.get("type"), str)
    assert isinstance(doc.get("response", {}), dict)


def _execute(release: Release, cls: str) -> Any:
    def run(call: Call) -> ExecResult:
        return default_episode(release, cls).execute(call)

    return run


def test_every_schema_finding_gets_an_entry(
    findings: list[Finding], patched: tuple[dict[str, Any], list[Any]]
) -> None:
    _, changes = patched
    cited = {i for c in changes for i in c["finding_ids"]}
    assert {f.id for f in findings if f.kind == "schema"} <= cited
    for c in changes:
        assert set(c) >= {"class", "function", "field", "before", "after", "why", "finding_ids"}
        assert c["why"]
    repaired = [c for c in changes if c["status"] == "repaired"]
    assert len(repaired) >= len(changes) // 2


def test_patched_docs_keep_bfcl_shape(
    release: Release, patched: tuple[dict[str, Any], list[Any]]
) -> None:
    docs, _ = patched
    assert docs
    for cls, patched_docs in docs.items():
        original = release.func_docs(cls)
        assert [d["name"] for d in patched_docs] == [d["name"] for d in original]
        assert patched_docs is not original and patched_docs[0] is not original[0]
        for doc in patched_docs:
            _shape_ok(doc)


def test_patched_functions_agree_with_signatures(
    release: Release,
    findings: list[Finding],
    patched: tuple[dict[str, Any], list[Any]],
) -> None:
    docs, changes = patched
    fixed = {
        (c["class"], c["function"])
        for c in changes
        if c["status"] == "repaired" and c["field"].startswith("parameters")
    }
    assert fixed
    before_ids = {f.id for f in findings}
    for cls, function in fixed:
        doc = next(d for d in docs[cls] if d["name"] == function)
        method = public_methods(default_episode(release, cls).instances[cls])[function]
        after = check_signature(cls, doc, method) + check_enums(
            cls, doc, method, _execute(release, cls)
        )
        remaining = [
            f for f in after if f.check in SIGNATURE_CHECKS | {"schema.enum_rejected"}
        ]
        assert remaining == [], [f.id for f in remaining]
        assert {f.id for f in after} <= before_ids  # nothing new


def test_examples(patched: tuple[dict[str, Any], list[Any]]) -> None:
    docs, _ = patched
    car = {d["name"]: d for d in docs["VehicleControlAPI"]}
    option = car["displayCarStatus"]["parameters"]["properties"]["option"]["description"]
    assert "brakePedal" in option and "brakePadle" not in option
    travel = {d["name"]: d for d in docs["TravelAPI"]}
    assert list(travel["purchase_insurance"]["parameters"]["properties"]) == [
        "access_token", "insurance_type", "booking_id", "insurance_cost", "card_id"]
    invoice = travel["retrieve_invoice"]["parameters"]["properties"]
    assert "default" not in invoice["booking_id"]
    assert "message_id" not in {
        d["name"]: d for d in docs["MessageAPI"]
    }["delete_message"]["parameters"]["properties"]


class _Seeded:
    """The release with one class's docs replaced (a seeded defect or a clean copy)."""

    def __init__(self, release: Release, cls: str, docs: list[dict[str, Any]]) -> None:
        self._release, self._cls, self._docs = release, cls, docs

    def func_docs(self, class_name: str) -> list[dict[str, Any]]:
        if class_name == self._cls:
            return copy.deepcopy(self._docs)
        return self._release.func_docs(class_name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._release, name)


@pytest.mark.parametrize("seeded", [False, True])
def test_seeded_defect_and_clean_pair(release: Release, seeded: bool) -> None:
    cls, name = "TradingBot", "place_order"
    docs = copy.deepcopy(release.func_docs(cls))
    doc = next(d for d in docs if d["name"] == name)
    if seeded:
        props = doc["parameters"]["properties"]
        doc["parameters"]["properties"] = dict(reversed(list(props.items())))
        doc["parameters"]["properties"]["bogus"] = {"type": "string", "description": "x"}
    stub: Any = _Seeded(release, cls, docs)
    method = public_methods(default_episode(release, cls).instances[cls])[name]
    found = [f for f in check_signature(cls, doc, method) if f.check in SIGNATURE_CHECKS]
    assert bool(found) is seeded
    patched, changes = patch_docs(stub, found)
    if not seeded:
        assert patched == {} and changes == []
        return
    fixed = next(d for d in patched[cls] if d["name"] == name)
    assert [f for f in check_signature(cls, fixed, method) if f.check in SIGNATURE_CHECKS] == []
    assert "bogus" not in fixed["parameters"]["properties"]
    assert {c["status"] for c in changes} == {"repaired"} and len(changes) == len(found)


def test_infer_schema() -> None:
    assert infer_schema({"a": [1], "b": None}) == {
        "type": "dict",
        "properties": {
            "a": {"type": "array", "items": {"type": "integer"}},
            "b": {"type": "any", "description": "Null when nothing is returned."},
        },
    }
