"""BFCL-V3 TravelAPI on SQLite: a traveller's session, credit cards, bookings and fares."""

from environments.bfcl.common import BfclBundle, scenario
from environments.bfcl.travel_booking import tools
from environments.bfcl.travel_booking.loading import load, project
from environments.contract import read_text, tools_in
from environments.rules import ComparisonRules, TableRule

_ORDER = frozenset({"position", "key_order"})  # dict order: BFCL's state check ignores it

BUNDLE = BfclBundle(
    name="bfcl/travel_booking",
    description=(
        "Travel booking (BFCL TravelAPI): authenticate, register credit cards, price and book "
        "flights, retrieve invoices, cancel bookings, buy insurance, set a budget limit, "
        "convert currencies and contact customer support."
    ),
    schema_sql=read_text(__file__, "schema.sql"),
    tools=tools_in(tools),
    rules=ComparisonRules(
        tables={
            "meta": TableRule(natural_key=("id",)),
            "rng": TableRule(skip=True),
            "credit_card": TableRule(natural_key=("card_id",), ignore=_ORDER),
            "booking": TableRule(natural_key=("booking_id",), ignore=_ORDER),
            "airport": TableRule(natural_key=("code",), ignore=frozenset({"position"})),
            "city_airport": TableRule(natural_key=("city",), ignore=frozenset({"position"})),
            "route": TableRule(
                natural_key=("origin", "destination"), ignore=frozenset({"position"})
            ),
            "exchange_rate": TableRule(
                natural_key=("base_currency", "target_currency"),
                ignore=frozenset({"position"}),
            ),
        }
    ),
    default_scenario=scenario(),
    loader=load,
    class_name="TravelAPI",
    module="travel_booking",
    project=project,
)
