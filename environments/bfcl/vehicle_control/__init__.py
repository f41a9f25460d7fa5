"""BFCL-V3 VehicleControlAPI ported to SQLite: one car, its doors and tyres, a static road map."""

from environments.bfcl.common import BfclBundle, scenario
from environments.bfcl.vehicle_control import tools
from environments.bfcl.vehicle_control.loading import load, project
from environments.contract import read_text, tools_in
from environments.rules import ComparisonRules, TableRule

BUNDLE = BfclBundle(
    name="bfcl/vehicle_control",
    description=(
        "A car's control unit (BFCL's VehicleControlAPI): engine, door locks, fuel, climate, "
        "headlights, parking brake and brake pedal, cruise control, tyre pressure, and "
        "navigation helpers over a small static road map."
    ),
    schema_sql=read_text(__file__, "schema.sql"),
    tools=tools_in(tools),
    rules=ComparisonRules(
        tables={
            # The draw counter only replays the seeded generator; it is not the car's state.
            "vehicle": TableRule(ignore=frozenset({"random_draws"})),
            "doors": TableRule(natural_key=("door",), ignore=frozenset({"position"})),
            "tires": TableRule(natural_key=("tire",)),
            "cities": TableRule(natural_key=("name",)),
            "routes": TableRule(natural_key=("zip_a", "zip_b")),
        }
    ),
    default_scenario=scenario(),
    loader=load,
    class_name="VehicleControlAPI",
    module="vehicle_control",
    project=project,
)
