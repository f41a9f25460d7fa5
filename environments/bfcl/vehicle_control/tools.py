"""VehicleControlAPI tools: engine, doors, fuel, climate, lights, brakes, cruise control,
navigation helpers and tyres, behaving exactly as BFCL's original class.

The original's quirks are kept on purpose, because BFCL's ground truth was recorded against
them (see findings.json): e.g. `startEngine("STOP")` stops the engine yet reports an error,
`setCruiseControl` stores the following distance even when it rejects the speed, and the
long-context variant pads results with large static texts from the release.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import StrictBool, StrictFloat, StrictInt

from eigencore.audit.code_fixes import is_repaired
from environments.bfcl.common import release_constant
from environments.bfcl.vehicle_control import vehicle
from environments.bfcl.vehicle_control.vehicle import get, put
from environments.contract import Db, ToolError, tool

# Strict: the original computes with whatever it is given; coercing "5" or True would make the
# port answer where the original answers differently.
Number = StrictInt | StrictFloat
Result = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])

MAX_FUEL_LEVEL = 50
MIN_FUEL_LEVEL = 0.0
MILE_PER_GALLON = 20.0
FULL_BRAKE_FORCE = 1000  # Newtons at pedal position 1


def raises_as_tool_error(fn: F) -> F:
    """Exceptions the original lets escape (unknown door, overflow, ...) become ToolErrors
    carrying the same message BFCL shows after "Error during execution: "."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ToolError, sqlite3.Error):
            raise
        except Exception as exc:
            raise ToolError(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def _long_text(name: str) -> Any:
    """A long-context extension of the release (fresh copy, so results never alias)."""
    return release_constant("long_context", name)


@tool(idempotent=True)
@raises_as_tool_error
def startEngine(db: Db, ignitionMode: str) -> Result:
    """Start the engine: all doors must be locked and the brake pedal fully pressed.

    Args:
        ignitionMode: "START" to start the engine. "STOP" stops it, but is always answered
            with an error, as in the original.
    """
    if ignitionMode == "STOP":
        put(db, engine_state="stopped")
    doors = vehicle.doors(db)
    if vehicle.remaining_unlocked_doors(db) > 0:
        return {
            "error": "All doors must be locked before starting the engine. "
            "Here are the unlocked doors: "
            + ", ".join(door for door, status in doors.items() if status == "unlocked")
        }
    pedal_status, pedal_force, fuel = get(db, "brakePedalStatus", "_brakePedalForce", "fuelLevel")
    if pedal_status != "pressed":
        return {"error": "Brake pedal needs to be pressed when starting the engine."}
    if pedal_force != 1000.0:
        return {"error": "Must press the brake fully before starting the engine."}
    if fuel < MIN_FUEL_LEVEL:
        return {"error": "Fuel tank is empty."}
    if ignitionMode != "START":
        return {"error": "Invalid ignition mode."}
    put(db, engine_state="running")
    return {
        "engineState": "running",
        "fuelLevel": fuel,
        "batteryVoltage": get(db, "batteryVoltage"),
    }


@tool
@raises_as_tool_error
def fillFuelTank(db: Db, fuelAmount: Number) -> Result:
    """Add fuel to the tank, which holds at most 50 gallons.

    Args:
        fuelAmount: Gallons of fuel to add to what is already in the tank.
    """
    fuel = get(db, "fuelLevel")
    if fuelAmount < 0:
        return {"error": "Fuel amount cannot be negative."}
    if fuel + fuelAmount > MAX_FUEL_LEVEL:
        return {"error": "Cannot fill gas above the tank capacity."}
    if fuel + fuelAmount < MIN_FUEL_LEVEL:
        return {"error": "Fuel tank is empty. Min fuel level is 0 gallons."}
    fuel += fuelAmount
    put(db, fuelLevel=fuel)
    return {"fuelLevel": fuel}


@tool(idempotent=True)
@raises_as_tool_error
def lockDoors(db: Db, unlock: StrictBool, door: list[str]) -> Result:
    """Lock or unlock some of the car's doors.

    Args:
        unlock: True to unlock the listed doors, False to lock them.
        door: The doors to act on: any of "driver", "passenger", "rear_left", "rear_right".
    """
    target = "unlocked" if unlock else "locked"
    known = vehicle.doors(db)
    for d in door:
        if d not in known:
            if is_repaired(db, "vehicle"):
                # Repaired mode (code_fixes vehicle.lockDoors.unknown_door): an answer the
                # model can act on, instead of a bare KeyError.
                return {"error": f"Unknown door {d!r}; valid doors: {', '.join(known)}."}
            # The original raises KeyError here (after changing the doors listed before it;
            # this port changes nothing, see finding vehicle_control-3).
            raise ToolError(repr(d))
    db.executemany("UPDATE doors SET status = ? WHERE door = ?", [(target, d) for d in door])
    return {"lockStatus": target, "remainingUnlockedDoors": vehicle.remaining_unlocked_doors(db)}


@tool(idempotent=True)
@raises_as_tool_error
def adjustClimateControl(
    db: Db,
    temperature: Number,
    unit: str = "celsius",
    fanSpeed: StrictInt = 50,
    mode: str = "auto",
) -> Result:
    """Set the air conditioning's temperature, fan speed and mode.

    Args:
        temperature: The temperature to set, in `unit`.
        unit: "celsius" (default) or "fahrenheit"; fahrenheit is converted to celsius.
        fanSpeed: Fan speed from 0 to 100. Defaults to 50.
        mode: Climate mode: "auto" (default), "cool", "heat" or "defrost".
    """
    if not (0 <= fanSpeed <= 100):
        return {"error": "Fan speed must be between 0 and 100."}
    ac_temperature = (temperature - 32) * 5 / 9 if unit == "fahrenheit" else temperature
    put(db, acTemperature=ac_temperature, fanSpeed=fanSpeed, acMode=mode)
    return {
        "currentACTemperature": temperature,
        "climateMode": mode,
        "humidityLevel": get(db, "humidityLevel"),
    }


@tool
@raises_as_tool_error
def get_outside_temperature_from_google(db: Db) -> Result:
    """Read the outside temperature (degrees Celsius) from the first weather source."""
    temperature = vehicle.uniform(db, -10.0, 40.0)
    if vehicle.long_context(db):
        # The original writes into its module-level weather history and returns all of it.
        weather = _long_text("LONG_WEATHER_EXTENSION")
        weather["outsideTemperature"] = temperature
        return weather
    return {"outsideTemperature": temperature}


@tool(read_only=True)
@raises_as_tool_error
def get_outside_temperature_from_weather_com(db: Db) -> Result:
    """Read the outside temperature from the second weather source (which is unavailable)."""
    return {"error": 404}


@tool(idempotent=True)
@raises_as_tool_error
def setHeadlights(db: Db, mode: str) -> Result:
    """Switch the headlights.

    Args:
        mode: "on", "off" or "auto" ("auto" leaves them off).
    """
    if mode not in ["on", "off", "auto"]:
        return {"error": "Invalid headlight mode."}
    status = "on" if mode == "on" else "off"
    put(db, headLightStatus=status)
    return {"headlightStatus": status}


@tool(read_only=True)
@raises_as_tool_error
def displayCarStatus(db: Db, option: str) -> Result:
    """Show one aspect of the car's status.

    Args:
        option: What to show: "fuel", "battery", "doors", "climate", "headlights",
            "parkingBrake", "brakePedal" or "engine".
    """
    status: Result = {}
    if vehicle.long_context(db):
        status["metadata"] = _long_text("CAR_STATUS_METADATA_EXTENSION")
    if option == "fuel":
        status["fuelLevel"] = get(db, "fuelLevel")
    elif option == "battery":
        status["batteryVoltage"] = get(db, "batteryVoltage")
    elif option == "doors":
        status["doorStatus"] = vehicle.doors(db)
    elif option == "climate":
        temperature, fan, mode, humidity = get(
            db, "acTemperature", "fanSpeed", "acMode", "humidityLevel"
        )
        status["currentACTemperature"] = temperature
        status["fanSpeed"] = fan
        status["climateMode"] = mode
        status["humidityLevel"] = humidity
    elif option == "headlights":
        status["headlightStatus"] = get(db, "headLightStatus")
    elif option == "parkingBrake":
        brake, force, slope = get(db, "parkingBrakeStatus", "_parkingBrakeForce", "_slopeAngle")
        status["parkingBrakeStatus"] = brake
        status["parkingBrakeForce"] = force
        status["slopeAngle"] = slope
    elif option == "brakePedal":
        pedal, force = get(db, "brakePedalStatus", "_brakePedalForce")
        status["brakePedalStatus"] = pedal
        status["brakePedalForce"] = force
    elif option == "engine":
        status["engineState"] = get(db, "engine_state")
    else:
        status["error"] = "Invalid option"
    return status


@tool(idempotent=True)
@raises_as_tool_error
def activateParkingBrake(db: Db, mode: str) -> Result:
    """Engage or release the parking brake.

    Args:
        mode: "engage" or "release".
    """
    if mode not in ["engage", "release"]:
        return {"error": "Invalid mode"}
    status, force = ("engaged", 500.0) if mode == "engage" else ("released", 0.0)
    # Releasing also reports (and stores) a 10 degree slope, as the original does.
    put(db, parkingBrakeStatus=status, _parkingBrakeForce=force, _slopeAngle=10.0)
    result: Result = {}
    if vehicle.long_context(db):
        result["parkingBrakeInstruction"] = _long_text("PARKING_BRAKE_INSTRUCTION")
    result.update({"parkingBrakeStatus": status, "_parkingBrakeForce": force,
                   "_slopeAngle": 10.0})
    return result


@tool(idempotent=True)
@raises_as_tool_error
def pressBrakePedal(db: Db, pedalPosition: Number) -> Result:
    """Press the brake pedal to a position; it stays there until released.

    Args:
        pedalPosition: From 0 (not pressed, i.e. released) to 1 (fully pressed).
    """
    if not (0 <= pedalPosition <= 1):
        return {"error": "Pedal position must be between 0 and 1."}
    if pedalPosition == 0:
        put(db, brakePedalStatus="released", _brakePedalForce=0.0)
        return {"brakePedalStatus": "released", "brakePedalForce": 0.0}
    force = pedalPosition * FULL_BRAKE_FORCE
    put(db, brakePedalStatus="pressed", _brakePedalForce=force)
    return {"brakePedalStatus": "pressed", "brakePedalForce": float(force)}


@tool(idempotent=True)
@raises_as_tool_error
def releaseBrakePedal(db: Db) -> Result:
    """Release the brake pedal completely."""
    put(db, brakePedalStatus="released", _brakePedalForce=0.0)
    return {"brakePedalStatus": "released", "brakePedalForce": 0.0}


@tool(idempotent=True)
@raises_as_tool_error
def setCruiseControl(
    db: Db, speed: Number, activate: StrictBool, distanceToNextVehicle: Number
) -> Result:
    """Turn cruise control on or off; the engine must be running.

    Args:
        speed: Cruising speed, from 0 to 120 in steps of 5 (checked only when activating).
        activate: True to turn cruise control on, False to turn it off.
        distanceToNextVehicle: Following distance to keep to the vehicle ahead, in meters.
    """
    if get(db, "engine_state") == "stopped":
        return {"error": "Start the engine before activating the cruise control."}
    # The distance is stored before the speed is checked, as in the original.
    put(db, distanceToNextVehicle=distanceToNextVehicle)
    if activate:
        if speed < 0 or speed > 120 or speed % 5 != 0:
            return {"error": "Invalid speed"}
        put(db, cruiseStatus="active")
        status = "active"
    else:
        put(db, cruiseStatus="inactive")
        status = "inactive"
    return {
        "cruiseStatus": status,
        "currentSpeed": speed,
        "distanceToNextVehicle": distanceToNextVehicle,
    }


@tool
@raises_as_tool_error
def get_current_speed(db: Db) -> Result:
    """Read the car's current speed in km/h."""
    return {"currentSpeed": vehicle.uniform(db, 0.0, 120.0)}


@tool(read_only=True)
@raises_as_tool_error
def display_log(db: Db, messages: list[str]) -> Result:
    """Show messages on the car's display.

    Args:
        messages: The messages to show, in order.
    """
    return {"log": messages}


@tool(read_only=True)
@raises_as_tool_error
def estimate_drive_feasibility_by_mileage(db: Db, distance: Number) -> Result:
    """Tell whether the fuel in the tank suffices for a distance, at 20 miles per gallon.

    Args:
        distance: The distance to drive, in miles.
    """
    return {"canDrive": not get(db, "fuelLevel") * MILE_PER_GALLON < distance}


@tool(read_only=True)
@raises_as_tool_error
def liter_to_gallon(db: Db, liter: Number) -> Result:
    """Convert liters to US gallons.

    Args:
        liter: The volume in liters.
    """
    return {"gallon": liter * 0.264172}


@tool(read_only=True)
@raises_as_tool_error
def gallon_to_liter(db: Db, gallon: Number) -> Result:
    """Convert US gallons to liters.

    Args:
        gallon: The volume in gallons.
    """
    return {"liter": gallon * 3.78541}


@tool(read_only=True)
@raises_as_tool_error
def estimate_distance(db: Db, cityA: str, cityB: str) -> Result:
    """Look up the road distance between two cities given by zip code.

    Args:
        cityA: Zip code of one city.
        cityB: Zip code of the other city.
    """
    row = db.execute(
        "SELECT distance FROM routes WHERE zip_a = min(?1, ?2) AND zip_b = max(?1, ?2)",
        (cityA, cityB),
    ).fetchone()
    result: Result = (
        {"distance": row["distance"]} if row else {"error": "distance not found in database."}
    )
    if vehicle.long_context(db):
        result["intermediaryCities"] = _long_text("INTERMEDIARY_CITIES")
    return result


@tool(read_only=True)
@raises_as_tool_error
def get_zipcode_based_on_city(db: Db, city: str) -> Result:
    """Look up a city's zip code ("00000" when the city is unknown).

    Args:
        city: The city's name, e.g. "Rivermist".
    """
    row = db.execute("SELECT zipcode FROM cities WHERE name = ?", (city,)).fetchone()
    return {"zipcode": row["zipcode"] if row else "00000"}


@tool(idempotent=True)
@raises_as_tool_error
def set_navigation(db: Db, destination: str) -> Result:
    """Start navigating to a destination.

    Args:
        destination: Where to go, as "street, city, state".
    """
    put(db, destination=destination)
    return {"status": "Navigating to " + destination}


@tool(read_only=True)
@raises_as_tool_error
def check_tire_pressure(db: Db) -> Result:
    """Report the four tyre pressures (psi) and whether their average is healthy (30-35)."""
    pressures = vehicle.tire_pressures(db)
    front_left, front_right, rear_left, rear_right = pressures.values()
    healthy = 30 <= (front_left + front_right + rear_left + rear_right) / 4 <= 35
    car_info: Any = _long_text("CAR_STATUS_METADATA_EXTENSION") if vehicle.long_context(db) else {}
    return {**pressures, "healthy_tire_pressure": healthy, "car_info": car_info}


@tool(read_only=True)
@raises_as_tool_error
def find_nearest_tire_shop(db: Db) -> Result:
    """Give the address of the nearest tyre shop."""
    return {"shopLocation": "456 Oakwood Avenue, Rivermist, 83214"}
