"""The TravelAPI port against the original: ground-truth replay, random calls, edge cases."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eigencore.bfcl.calls import Call
from eigencore.bfcl.differential import compare_turns, differential, restrict
from eigencore.bfcl.release import Entry
from environments.bfcl.common import release_constant, scenario
from environments.bfcl.travel_booking import BUNDLE
from environments.bfcl.travel_booking.catalog import RETURNED, method_literal
from environments.envdb import EnvDb

CLASS = "TravelAPI"
NAMES = {spec.name for spec in BUNDLE.tools}
AUTH = {
    "client_id": "client",
    "client_secret": "secret",
    "refresh_token": "refresh",
    "grant_type": "read_write",
    "user_first_name": "Ada",
    "user_last_name": "Lovelace",
}


@pytest.fixture(scope="module")
def entries(all_entries: list[Entry]) -> list[Entry]:
    return [restrict(e, CLASS, NAMES) for e in all_entries if CLASS in e.involved_classes]


def test_ground_truth_replays_identically(entries: list[Entry]) -> None:
    assert len(entries) == 200
    deviations = [str(d) for entry in entries for d in differential(entry)]
    assert deviations == []


# -- random calls off the reference path ----------------------------------------------------------
EDGE_TEXT = ["", " ", "Ünïcødé 旅行", "x" * 300, "None", "0"]
EDGE_NUMBERS: list[int | float] = [
    0, 0.0, -0.0, -1, -1000.5, 1, 2.5, 99999, 10**30, -(10**30), 1e308, float("inf"),
]
DATES = ["2024-11-15", "2024-12-24", "2025-01-01", "1990-02-29", "2024-13-01", "²⁰²⁴", "２０２４"]
BIRTHS = ["1990-01-01", "2015-06-30", "2007-01-01", "01/01/1990", "1990-02-30", ""]
CLASSES = ["economy", "business", "first", "Economy", "premium", ""]
DEFAULT_SEED = release_constant("travel_booking", "DEFAULT_STATE")["random_seed"]
CURRENCIES = ["USD", "RMB", "EUR", "JPY", "GBP", "CAD", "AUD", "INR", "RUB", "BRL", "MXN", "XYZ"]


# Draw sequences the original's generator may have made before a booking: nothing, one
# authentication, one card registration, one earlier booking.
_DRAWS_BEFORE_BOOKING: list[list[tuple[int, int]]] = [
    [],
    [(100000, 999999)],
    [(100000000000, 999999999999), (10000, 99999)],
    [(1000000, 9999999), (10000000, 99999999)],
]


AIRPORTS = method_literal("list_all_airports", RETURNED)
CITIES = list(method_literal("get_nearest_airport_by_city", "airport_map"))
ROUTES = list(method_literal("get_flight_cost", "base_costs"))
RATES = list(method_literal("compute_exchange_rate", "exchange_rates"))
CARD_EXTENSION = list(release_constant("long_context", "CREDIT_CARD_EXTENSION"))
BOOKING_EXTENSION = list(release_constant("long_context", "BOOKING_RECORD_EXTENSION"))


def _pools(entry: Entry, booked: bool = False) -> dict[str, list[Any]]:
    """Argument values for one scenario: its own entities, the ids the seeded generator is
    likely to issue, and values that exist nowhere."""
    config = entry.initial_config.get(CLASS, {})
    cards = list(config.get("credit_card_list", {}))
    bookings = list(config.get("booking_record", {}))
    if entry.long_context:
        cards += CARD_EXTENSION[:3]
        bookings += BOOKING_EXTENSION[:3]
    seed = config.get("random_seed", DEFAULT_SEED)
    first_token = str(random.Random(seed).randint(100000, 999999))
    predicted: list[str] = []
    for draws in _DRAWS_BEFORE_BOOKING:
        rng = random.Random(seed)
        for a, b in draws:
            rng.randint(a, b)
        predicted.append(str(rng.randint(1000000, 9999999)))
    # Likeliest first: `Known` indices lean towards 0.
    bookings = list(dict.fromkeys([*predicted, *bookings]))
    if booked:  # after _booking_prefix: mostly its booking, which was the first draw
        bookings = [predicted[0]] * 4 + bookings
    token = config.get("access_token") or "none"
    names = [config.get("user_first_name"), config.get("user_last_name")]
    return {
        # Mostly a valid token, or every call would only use up the token's tries.
        "token": [token] * 6 + ["wrong-token"] if booked
        else [token] * 4 + [first_token] * 2 + ["wrong-token", ""],
        "card": [*cards, "000000000000", ""] if cards else ["000000000000", ""],
        "card_number": [*cards[:3], "4111111111111111", ""],
        "booking": [*bookings, "no-such-booking", ""],
        "name": [n for n in names if isinstance(n, str)] + ["Ada", "Lovelace", ""],
        "airport": [*AIRPORTS, "PVG", "XXX", ""],
        "city": [*CITIES, "Atlantis", ""],
    }


@dataclass(frozen=True)
class Known:
    """The `index`-th value of a scenario's pool, resolved once the scenario is drawn (so the
    call strategies are built once, not per scenario)."""

    pool: str
    index: int


def _resolve(value: Any, pools: dict[str, list[Any]]) -> Any:
    if isinstance(value, Known):
        pool = pools[value.pool]
        return pool[value.index % len(pool)]
    if isinstance(value, tuple):
        return tuple(_resolve(v, pools) for v in value)
    return value


Drawn = tuple[str, tuple[tuple[str, Any], ...]]  # (function, keyword items with Known values)


def _calls(names: set[str]) -> st.SearchStrategy[Drawn]:
    """Schema-valid calls to `names`, with scenario values left as `Known` placeholders."""

    def pick(pool: str, *rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        # Small indices are likeliest: the pools put their most useful values first.
        known = st.integers(0, 31).map(lambda i: Known(pool, i))
        if not rare:
            return known
        others = st.one_of(*rare)
        # Real entities 3 times out of 4 (one_of alone leans towards the rare values).
        return st.sampled_from([True, True, True, False]).flatmap(
            lambda real: known if real else others)

    text = st.one_of(st.sampled_from(EDGE_TEXT), st.text(max_size=12))
    number = st.one_of(
        st.integers(1, 3000),
        st.floats(0, 5000, allow_nan=False),
        st.sampled_from(EDGE_NUMBERS),
        st.integers(-50_000, 50_000),
        st.floats(-1e6, 1e6, allow_nan=False),
    )
    token, card, booking = pick("token"), pick("card", text), pick("booking", text)
    date, airport = st.sampled_from(DATES), pick("airport")
    route = st.one_of(st.sampled_from(ROUTES), st.tuples(airport, airport))
    currencies = st.one_of(
        st.sampled_from(RATES), st.sampled_from(RATES).map(lambda r: r[::-1]),
        st.tuples(st.sampled_from(CURRENCIES), st.sampled_from(CURRENCIES)),
    )
    booking_or_none = st.sampled_from([True, True, True, False]).flatmap(
        lambda real: booking if real else st.none())
    kwargs: dict[str, st.SearchStrategy[dict[str, Any]]] = {
        "authenticate_travel": st.fixed_dictionaries(
            {**{k: st.just(v) for k, v in AUTH.items()},
             "grant_type": st.sampled_from(["read_write", "read", ""]),
             "user_first_name": pick("name"), "user_last_name": pick("name")}),
        "travel_get_login_status": st.just({}),
        "get_budget_fiscal_year": st.fixed_dictionaries(
            {}, optional={"lastModifiedAfter": text, "includeRemoved": text}),
        "register_credit_card": st.fixed_dictionaries({
            "access_token": token, "card_number": pick("card_number", text),
            "expiration_date": st.sampled_from(["12/2030", "", "13/99"]),
            "cardholder_name": pick("name", text),
            "card_verification_number": st.one_of(
                st.sampled_from([0, -1, 123, 10**30]), st.integers())}),
        "get_flight_cost": st.tuples(route, date, st.sampled_from(CLASSES)).map(
            lambda t: {"travel_from": t[0][0], "travel_to": t[0][1], "travel_date": t[1],
                       "travel_class": t[2]}),
        "get_credit_card_balance": st.fixed_dictionaries({"access_token": token, "card_id": card}),
        "book_flight": st.tuples(
            st.fixed_dictionaries({
                "access_token": token, "card_id": card, "travel_date": date,
                "travel_class": st.sampled_from(CLASSES), "travel_cost": number}),
            route,
        ).map(lambda t: {**t[0], "travel_from": t[1][0], "travel_to": t[1][1]}),
        "retrieve_invoice": st.fixed_dictionaries(
            {"access_token": token, "booking_id": booking_or_none},
            optional={"insurance_id": st.one_of(st.none(), text)}),
        "list_all_airports": st.just({}),
        "cancel_booking": st.fixed_dictionaries({"access_token": token, "booking_id": booking}),
        "compute_exchange_rate": st.tuples(currencies, number).map(
            lambda t: {"base_currency": t[0][0], "target_currency": t[0][1], "value": t[1]}),
        "verify_traveler_information": st.fixed_dictionaries({
            "first_name": pick("name"), "last_name": pick("name"),
            "date_of_birth": st.sampled_from(BIRTHS),
            "passport_number": st.sampled_from(["US1234567", "UK123", "us1", ""])}),
        "set_budget_limit": st.fixed_dictionaries({"access_token": token, "budget_limit": number}),
        "get_nearest_airport_by_city": st.fixed_dictionaries({"location": pick("city", text)}),
        "purchase_insurance": st.fixed_dictionaries({
            "access_token": token, "insurance_type": st.sampled_from(["comprehensive", ""]),
            "booking_id": booking, "insurance_cost": number, "card_id": card}),
        "contact_customer_support": st.fixed_dictionaries(
            {"booking_id": booking, "message": text}),
        "get_all_credit_cards": st.just({}),
    }
    assert set(kwargs) == NAMES
    return st.one_of(*(
        args.map(lambda a, name=name: (name, tuple(a.items())))
        for name, args in kwargs.items()
        if name in names
    ))


AFTER_BOOKING = {
    "retrieve_invoice", "cancel_booking", "purchase_insurance", "contact_customer_support",
    "book_flight", "get_credit_card_balance", "get_all_credit_cards", "set_budget_limit",
}


def _booking_prefix(entry: Entry) -> list[Call]:
    """A budget limit the card can meet and a booking on the scenario's first card: the paths
    behind a successful booking (invoices, cancellations, insurance, long-context histories)."""
    config = entry.initial_config.get(CLASS, {})
    token = config.get("access_token") or "none"
    card = next(iter(_pools(entry)["card"]))
    return [
        Call("set_budget_limit", (), {"access_token": token, "budget_limit": 1000}),
        Call("book_flight", (), {
            "access_token": token, "card_id": card, "travel_date": "2024-11-15",
            "travel_from": "SFO", "travel_to": "LAX", "travel_class": "economy",
            "travel_cost": 150.0}),
    ]


ALL_CALLS = st.lists(_calls(NAMES), min_size=1, max_size=8)
CALLS_AFTER_BOOKING = st.lists(_calls(AFTER_BOOKING), min_size=1, max_size=6)
_POOLS: dict[tuple[str, bool, bool], dict[str, list[Any]]] = {}
_BLANK: dict[str, Entry] = {}


@st.composite
def episodes(draw: st.DrawFn, entries: list[Entry]) -> tuple[Entry, list[Call]]:
    entry = draw(st.sampled_from(entries))
    booked = draw(st.booleans())
    if not booked and draw(st.integers(0, 9)) == 0:
        # The default state: no token was ever issued (the original's None-token crashes).
        if entry.id not in _BLANK:
            _BLANK[entry.id] = entry.model_copy(update={"initial_config": {}})
        entry = _BLANK[entry.id]
    key = (entry.id, bool(entry.initial_config), booked)
    if key not in _POOLS:
        _POOLS[key] = _pools(entry, booked)
    drawn = draw(CALLS_AFTER_BOOKING if booked else ALL_CALLS)
    calls = [Call(name, (), dict(_resolve(kwargs, _POOLS[key]))) for name, kwargs in drawn]
    return entry, (_booking_prefix(entry) if booked else []) + calls


def test_random_calls_match_the_original(entries: list[Entry]) -> None:
    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(episodes(entries))
    def check(episode: tuple[Entry, list[Call]]) -> None:
        entry, calls = episode
        deviations = compare_turns(entry, [calls])
        assert [str(d) for d in deviations] == []

    check()


# -- the port on its own ---------------------------------------------------------------------------
def _open(entries: list[Entry], entry_id: str) -> EnvDb:
    entry = next(e for e in entries if e.id == entry_id)
    return EnvDb.open(BUNDLE, scenario(entry.initial_config[CLASS], entry.long_context))


def test_default_scenario_ids_follow_the_seeded_generator() -> None:
    db = EnvDb.open(BUNDLE, scenario())
    rng = random.Random(release_constant("travel_booking", "DEFAULT_STATE")["random_seed"])
    token = db.call("authenticate_travel", AUTH).value["access_token"]
    assert token == str(rng.randint(100000, 999999))
    card = db.call("register_credit_card", {
        "access_token": token, "card_number": "4111", "expiration_date": "12/2030",
        "cardholder_name": "Ada Lovelace", "card_verification_number": 123}).value
    assert card == {"card_id": str(rng.randint(100000000000, 999999999999))}
    balance = rng.randint(10000, 99999)
    assert db.call("get_credit_card_balance", {"access_token": token, **card}).value == {
        "card_balance": balance}


def test_crashes_change_nothing(entries: list[Entry]) -> None:
    db = EnvDb.open(BUNDLE, scenario())
    # No token was ever issued: the original's `None -= 1` crash, not a refusal.
    out = db.call("book_flight", {
        "access_token": "x", "card_id": "c", "travel_date": "2024-11-15", "travel_from": "SFO",
        "travel_to": "LAX", "travel_class": "economy", "travel_cost": 1.0})
    assert not out.ok and "NoneType" in out.error["message"]
    assert db.diff().empty

    db = _open(entries, "multi_turn_base_185")
    token = BUNDLE.project(db.db)["access_token"]
    booking = "d184e2c0-2ebb-4f39-a525-d5e01b67dc6c"  # a scenario booking without a card_id
    out = db.call("cancel_booking", {"access_token": token, "booking_id": booking})
    assert (out.ok, out.error["message"]) == (False, "'card_id'")
    out = db.call("get_flight_cost", {"travel_from": "HKG", "travel_to": "SFO",
                                      "travel_date": "2024-11-15", "travel_class": "economy"})
    assert (out.ok, out.error["message"]) == (False, "No available route for the given airports.")
    assert db.diff().empty


def test_invalid_argument_types_are_structured_errors() -> None:
    db = EnvDb.open(BUNDLE, scenario())
    out = db.call("compute_exchange_rate", {"base_currency": "USD", "target_currency": "EUR",
                                            "value": "lots"})
    assert out.ok is False and out.error["kind"] == "invalid_arguments"
    out = db.call("get_nearest_airport_by_city", {"location": ["Rome"]})
    assert out.ok is False and out.error["kind"] == "invalid_arguments"
    assert db.diff().empty


def test_numbers_keep_their_python_type(entries: list[Entry]) -> None:
    db = EnvDb.open(BUNDLE, scenario())
    rate = db.call("compute_exchange_rate", {"base_currency": "USD", "target_currency": "RMB",
                                             "value": 100})
    assert rate.value == {"exchanged_value": 700} and type(rate.value["exchanged_value"]) is int
    # A card balance beyond 64 bits, and booleans, survive the round trip through SQLite.
    db = EnvDb.open(BUNDLE, scenario({"credit_card_list": {"c": {
        "balance": 10**30, "active": True, "limits": {"daily": 1.5}}}}))
    assert BUNDLE.project(db.db)["credit_card_list"] == {
        "c": {"balance": 10**30, "active": True, "limits": {"daily": 1.5}}}


def test_lone_surrogates_are_just_unknown_names() -> None:
    # SQLite cannot bind them; the original merely finds nothing under such a name.
    db = EnvDb.open(BUNDLE, scenario())
    out = db.call("get_nearest_airport_by_city", {"location": "\ud800"})
    assert out.value == {"nearest_airport": "Unknown"}
    out = db.call("contact_customer_support", {"booking_id": "\ud800", "message": "hi"})
    assert out.value == {"error": "Booking not found"}
    auth = db.call("authenticate_travel", {**AUTH, "user_first_name": "\udfff"}).value
    assert BUNDLE.project(db.db)["user_first_name"] == "\udfff"
    out = db.call("verify_traveler_information", {
        "first_name": "\udfff", "last_name": "Lovelace", "date_of_birth": "1990-01-01",
        "passport_number": "US1"})
    assert out.value == {"verification_status": True} and auth["access_token"]


def test_long_context_appends_extensions_without_overwriting() -> None:
    extension = release_constant("long_context", "CREDIT_CARD_EXTENSION")
    first = next(iter(extension))
    config = {"credit_card_list": {"mine": {"balance": 1}, first: {"balance": 2}}}
    db = EnvDb.open(BUNDLE, scenario(config, long_context=True))
    cards = BUNDLE.project(db.db)["credit_card_list"]
    assert list(cards)[:2] == ["mine", first] and cards[first] == {"balance": 2}
    assert len(cards) == len(extension) + 1
    assert len(BUNDLE.project(db.db)["booking_record"]) == len(
        release_constant("long_context", "BOOKING_RECORD_EXTENSION"))
