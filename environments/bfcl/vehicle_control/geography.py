"""The original's static road map (city zip codes and distances), read from the release.

The original hard-codes its map as `if`/`elif` chains inside two methods, not as module-level
literals, so `release_constant` cannot reach it. The chains are read here with `ast` from the
cached, hash-checked release source (literals only, nothing is executed), which keeps BFCL's
data out of this repository like every other port does.
"""

from __future__ import annotations

import ast
from functools import cache

from eigencore.bfcl.release import load_release

MODULE = "vehicle_control"
CLASS = "VehicleControlAPI"


def _method(name: str) -> ast.FunctionDef:
    tree = ast.parse(load_release().source(MODULE))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == CLASS:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == name:
                    return item
    raise LookupError(f"{MODULE}.{CLASS}.{name} is not in the BFCL release")


def _equals(test: ast.expr, variable: str) -> str | None:
    """`variable == "literal"` -> the literal."""
    if (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == variable
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and isinstance(test.comparators[0], ast.Constant)
    ):
        return str(test.comparators[0].value)
    return None


def _dict_value(node: ast.AST, key: str) -> object:
    """The literal under `key` of a dict display, e.g. `{"zipcode": "83214"}`."""
    if isinstance(node, ast.Dict):
        for k, v in zip(node.keys, node.values, strict=True):
            if isinstance(k, ast.Constant) and k.value == key:
                return ast.literal_eval(v)
    raise LookupError(f"no literal {key!r} in {ast.unparse(node)}")


def _chain(fn: ast.FunctionDef) -> list[ast.If]:
    """The branches of the method's `if`/`elif` chain, in order."""
    branches: list[ast.If] = []
    node = next(n for n in fn.body if isinstance(n, ast.If))
    while True:
        branches.append(node)
        if len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If):
            node = node.orelse[0]
        else:
            return branches


@cache
def cities() -> tuple[tuple[str, str], ...]:
    """(city, zipcode) pairs of `get_zipcode_based_on_city`, first match first."""
    out: list[tuple[str, str]] = []
    for branch in _chain(_method("get_zipcode_based_on_city")):
        city = _equals(branch.test, "city")
        (ret,) = branch.body
        if city is None or not isinstance(ret, ast.Return) or ret.value is None:
            raise LookupError(f"unexpected branch: {ast.unparse(branch.test)}")
        out.append((city, str(_dict_value(ret.value, "zipcode"))))
    return tuple(out)


@cache
def routes() -> tuple[tuple[str, str, float], ...]:
    """(zip, zip, km) of `estimate_distance`; every branch tests both orders of one pair."""
    out: list[tuple[str, str, float]] = []
    for branch in _chain(_method("estimate_distance")):
        test = branch.test
        if not (isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or)):
            raise LookupError(f"unexpected branch: {ast.unparse(test)}")
        pairs = set()
        for side in test.values:
            if not (isinstance(side, ast.BoolOp) and isinstance(side.op, ast.And)):
                raise LookupError(f"unexpected branch: {ast.unparse(test)}")
            a, b = (_equals(side.values[0], "cityA"), _equals(side.values[1], "cityB"))
            if a is None or b is None:
                raise LookupError(f"unexpected branch: {ast.unparse(test)}")
            pairs.add(frozenset((a, b)))
        (assign,) = branch.body
        if len(pairs) != 1 or not isinstance(assign, ast.Assign):
            raise LookupError(f"unexpected branch: {ast.unparse(test)}")
        zip_a, zip_b = sorted(next(iter(pairs)))
        distance = _dict_value(assign.value, "distance")
        if not isinstance(distance, (int, float)):
            raise LookupError(f"non-numeric distance in {ast.unparse(assign)}")
        out.append((zip_a, zip_b, distance))
    return tuple(out)
