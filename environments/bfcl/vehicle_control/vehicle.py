"""Row access for the vehicle port: the car's scalar state, doors, tyres and random draws.

Numbers are stored as the Python value the original holds (int stays int, float stays float).
SQLite cannot hold integers beyond 64 bits nor NaN (it turns NaN into NULL), so those two are
written as text and read back as the same number.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

from environments.contract import Db

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# Attribute of the original (vars(instance)) -> column of the `vehicle` row, in the order the
# original assigns them. Private attributes (`_x`) are not part of BFCL's state check.
SCALARS: dict[str, str] = {
    "fuelLevel": "fuel_level",
    "batteryVoltage": "battery_voltage",
    "engine_state": "engine_state",
    "acTemperature": "ac_temperature",
    "fanSpeed": "fan_speed",
    "acMode": "ac_mode",
    "humidityLevel": "humidity_level",
    "headLightStatus": "headlight_status",
    "parkingBrakeStatus": "parking_brake_status",
    "_parkingBrakeForce": "parking_brake_force",
    "_slopeAngle": "slope_angle",
    "brakePedalStatus": "brake_pedal_status",
    "_brakePedalForce": "brake_pedal_force",
    "distanceToNextVehicle": "distance_to_next_vehicle",
    "cruiseStatus": "cruise_status",
    "destination": "destination",
}

# String attributes; every other scalar is a number.
TEXTS = frozenset({
    "engine_state", "acMode", "headLightStatus", "parkingBrakeStatus", "brakePedalStatus",
    "cruiseStatus", "destination",
})

# Tyre row -> attribute of the original, in the original's order.
TIRES: dict[str, str] = {
    "front_left": "frontLeftTirePressure",
    "front_right": "frontRightTirePressure",
    "rear_left": "rearLeftTirePressure",
    "rear_right": "rearRightTirePressure",
}

# The original counts unlocked doors as 4 minus the locked ones, whatever doors it has.
DOOR_COUNT = 4


def to_sql(value: Any) -> Any:
    """A number as stored: unchanged unless SQLite cannot hold it exactly."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def from_sql(value: Any) -> Any:
    """The number `to_sql` stored (text only ever holds an encoded number)."""
    if isinstance(value, str):
        return math.nan if value == "NaN" else int(value)
    return value


def get(db: Db, *attrs: str) -> Any:
    """Values of the car's scalar attributes, by the original's attribute names."""
    cols = ", ".join(SCALARS[a] for a in attrs)
    row = db.execute(f"SELECT {cols} FROM vehicle WHERE id = 1").fetchone()
    values = [v if a in TEXTS else from_sql(v) for a, v in zip(attrs, row, strict=True)]
    return values[0] if len(values) == 1 else tuple(values)


def put(db: Db, **attrs: Any) -> None:
    """Set scalar attributes, by the original's attribute names (e.g. `_slopeAngle=10.0`)."""
    cols = ", ".join(f"{SCALARS[a]} = ?" for a in attrs)
    values = [v if a in TEXTS else to_sql(v) for a, v in attrs.items()]
    db.execute(f"UPDATE vehicle SET {cols} WHERE id = 1", values)


def long_context(db: Db) -> bool:
    return bool(db.execute("SELECT long_context FROM vehicle WHERE id = 1").fetchone()[0])


def doors(db: Db) -> dict[str, str]:
    """The original's `doorStatus` dict, in its insertion order."""
    return {r["door"]: r["status"]
            for r in db.execute("SELECT door, status FROM doors ORDER BY position")}


def remaining_unlocked_doors(db: Db) -> int:
    locked = db.execute("SELECT count(*) FROM doors WHERE status = 'locked'").fetchone()[0]
    return DOOR_COUNT - locked


def tire_pressures(db: Db) -> dict[str, Any]:
    """Tyre pressures keyed by the original's attribute names, in the original's order."""
    rows = {r["tire"]: from_sql(r["pressure"])
            for r in db.execute("SELECT tire, pressure FROM tires")}
    return {attr: rows[tire] for tire, attr in TIRES.items()}


def uniform(db: Db, low: float, high: float) -> float:
    """The original's `self._random.uniform(low, high)`: replay the draws made so far, draw
    once more and count it, so every episode yields the original's sequence."""
    seed, draws = db.execute(
        "SELECT random_seed, random_draws FROM vehicle WHERE id = 1").fetchone()
    rng = random.Random(json.loads(seed))
    for _ in range(draws):
        rng.random()  # uniform() consumes exactly one random() per call
    value = rng.uniform(low, high)
    db.execute("UPDATE vehicle SET random_draws = random_draws + 1 WHERE id = 1")
    return value
