"""The fixed travel catalogue of the original TravelAPI, read from the release's source.

Routes with base fares, the airport list, the city -> airport map and the exchange rates are
literals inside TravelAPI's methods, out of reach of `release_constant` (module level only).
They are read here from the cached, hash-checked release with `ast` (nothing is executed)
and loaded into the catalogue tables with every scenario.
"""

from __future__ import annotations

import ast
import copy
from functools import cache
from typing import Any

from environments.contract import Db

MODULE = "travel_booking"
CLASS_NAME = "TravelAPI"
RETURNED = "<return>"


@cache
def _method_literals(method: str) -> dict[str, Any]:
    """Literal-valued local assignments (and a returned literal) of one TravelAPI method."""
    from eigencore.bfcl.release import load_release

    tree = ast.parse(load_release().source(MODULE))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == CLASS_NAME)
    fn = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == method)
    out: dict[str, Any] = {}
    for node in ast.walk(fn):
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Return) and node.value is not None:
            value = node.value
        if value is None:
            continue
        try:
            literal = ast.literal_eval(value)
        except ValueError:
            continue  # computed, not data
        out[target.id if isinstance(target, ast.Name) else RETURNED] = literal
    return out


def method_literal(method: str, name: str) -> Any:
    literals = _method_literals(method)
    if name not in literals:
        raise KeyError(f"TravelAPI.{method} in the BFCL release has no literal {name}")
    return copy.deepcopy(literals[name])


def load_catalog(db: Db) -> None:
    airports: list[str] = method_literal("list_all_airports", RETURNED)
    db.executemany(
        "INSERT INTO airport (code, position) VALUES (?, ?)",
        [(code, i) for i, code in enumerate(airports)],
    )
    cities: dict[str, str] = method_literal("get_nearest_airport_by_city", "airport_map")
    db.executemany(
        "INSERT INTO city_airport (city, code, position) VALUES (?, ?, ?)",
        [(city, code, i) for i, (city, code) in enumerate(cities.items())],
    )
    fares: dict[tuple[str, str], int] = method_literal("get_flight_cost", "base_costs")
    db.executemany(
        "INSERT INTO route (origin, destination, base_cost, position) VALUES (?, ?, ?, ?)",
        [(a, b, cost, i) for i, ((a, b), cost) in enumerate(fares.items())],
    )
    rates: dict[tuple[str, str], int | float] = method_literal(
        "compute_exchange_rate", "exchange_rates"
    )
    db.executemany(
        "INSERT INTO exchange_rate (base_currency, target_currency, rate, position) "
        "VALUES (?, ?, ?, ?)",
        [(a, b, rate, i) for i, ((a, b), rate) in enumerate(rates.items())],
    )
