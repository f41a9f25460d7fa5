"""Scenario loading and state projection of the vehicle port.

`load` mirrors `VehicleControlAPI._load_scenario`: every attribute comes from the scenario
config when present, else from the release's DEFAULT_STATE (read, never copied here). Note
that some config keys differ from the attribute names (`engineState` -> `engine_state`,
`parkingBrakeForce` -> `_parkingBrakeForce`, ...) and that the original ignores a configured
`remainingUnlockedDoors`, recomputing it from the doors.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from eigencore.audit.code_fixes import mark_repaired
from environments.bfcl.common import release_constant
from environments.bfcl.vehicle_control import geography
from environments.bfcl.vehicle_control.vehicle import (
    SCALARS,
    TEXTS,
    TIRES,
    doors,
    get,
    long_context,
    remaining_unlocked_doors,
    tire_pressures,
    to_sql,
)
from environments.contract import Db

MODULE = "vehicle_control"

# Attribute -> (config key, DEFAULT_STATE key) where they differ from the attribute name.
_KEYS: dict[str, tuple[str, str]] = {
    "engine_state": ("engineState", "engine_state"),
    "_parkingBrakeForce": ("parkingBrakeForce", "_parkingBrakeForce"),
    "_slopeAngle": ("slopeAngle", "_slopeAngle"),
    "_brakePedalForce": ("brakePedalForce", "brakePedalForce"),
}


def load(db: Db, scenario: Mapping[str, Any]) -> None:
    config: Mapping[str, Any] = copy.deepcopy(dict(scenario.get("config") or {}))
    defaults: dict[str, Any] = release_constant(MODULE, "DEFAULT_STATE")

    def value(attr: str) -> Any:
        config_key, default_key = _KEYS.get(attr, (attr, attr))
        return config.get(config_key, defaults[default_key])

    row = {col: value(a) if a in TEXTS else to_sql(value(a)) for a, col in SCALARS.items()}
    row["long_context"] = int(bool(scenario.get("long_context", False)))
    row["random_seed"] = json.dumps(config.get("random_seed", defaults["random_seed"]))
    cols = ["id", *row]
    db.execute(
        f"INSERT INTO vehicle ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
        [1, *row.values()],
    )
    mark_repaired(db, "vehicle", scenario)  # repaired mode: eigencore.audit.code_fixes
    door_status: Mapping[str, str] = config.get("doorStatus", defaults["doorStatus"])
    db.executemany(
        "INSERT INTO doors (position, door, status) VALUES (?, ?, ?)",
        [(i, door, status) for i, (door, status) in enumerate(door_status.items())],
    )
    db.executemany(
        "INSERT INTO tires (tire, pressure) VALUES (?, ?)",
        [(tire, to_sql(config.get(attr, defaults[attr]))) for tire, attr in TIRES.items()],
    )
    # First branch wins in the original's if/elif chains, as INSERT OR IGNORE keeps the first.
    db.executemany("INSERT OR IGNORE INTO cities (name, zipcode) VALUES (?, ?)",
                   geography.cities())
    db.executemany("INSERT OR IGNORE INTO routes (zip_a, zip_b, distance) VALUES (?, ?, ?)",
                   geography.routes())


def project(db: Db) -> dict[str, Any]:
    """The original's public attributes (`vars(instance)` without `_` names), as BFCL sees them."""
    public = [a for a in SCALARS if not a.startswith("_")]
    values = dict(zip(public, get(db, *public), strict=True))
    state: dict[str, Any] = {
        "fuelLevel": values["fuelLevel"],
        "batteryVoltage": values["batteryVoltage"],
        "engine_state": values["engine_state"],
        "remainingUnlockedDoors": remaining_unlocked_doors(db),
        "doorStatus": doors(db),
    }
    state.update((a, v) for a, v in values.items() if a not in state)
    state.update(tire_pressures(db))
    state["long_context"] = long_context(db)
    return state
