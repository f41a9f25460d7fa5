"""TravelAPI tools: authentication, credit cards, flight fares and bookings, invoices, insurance,
budget, exchange rates and customer support, with the original's exact results and errors.

The original answers most refusals with an error dict (returned here the same way) and
crashes on some inputs (unknown routes, records missing fields, a token that was never
issued); those crashes are raised as `ToolError` with the original's exception text, and
since the original changes nothing before crashing, rolling the call back is faithful.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ParamSpec, TypeVar

from pydantic import Field

from eigencore.audit.code_fixes import is_repaired
from environments.bfcl.travel_booking import store
from environments.bfcl.travel_booking.store import BOOKINGS, CARDS
from environments.contract import Db, ToolError, tool

P = ParamSpec("P")
R = TypeVar("R")

AccessToken = Annotated[str, Field(description="Access token issued by authenticate_travel")]
Number = int | float  # ints stay ints: the original's results show the difference


def python_crashes(fn: Callable[P, R]) -> Callable[P, R]:
    """Report the Python errors the original would raise, with the original's message."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
            raise ToolError(str(exc), kind="original_error") from exc

    return wrapper


def _token_refusal(db: Db, access_token: str) -> str | None:
    """The original's token check: an expired token, or a wrong one (which uses up a try)."""
    expires_in = store.meta(db, "token_expires_in")
    if expires_in == 0:
        return "Token expired"
    if access_token != store.meta(db, "access_token"):
        expires_in -= 1  # crashes, as in the original, when no token was ever issued
        store.write_meta(db, {"token_expires_in": expires_in})
        return "Invalid access token"
    return None


# -- session ------------------------------------------------------------------------------------
@tool
def authenticate_travel(
    db: Db,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    grant_type: str,
    user_first_name: str,
    user_last_name: str,
) -> dict[str, Any]:
    """Log the traveller in and issue a new access token, valid for two failed attempts.

    Args:
        client_id: The client application's id.
        client_secret: The client application's secret.
        refresh_token: A refresh token from an earlier authentication.
        grant_type: The token's scope: read_write, read or write.
        user_first_name: The traveller's first name.
        user_last_name: The traveller's last name.
    """
    access_token = str(store.randint(db, 100000, 999999))
    store.write_meta(
        db,
        {
            "token_expires_in": 2,
            "access_token": access_token,
            "token_type": "Bearer",
            "token_scope": grant_type,
            "user_first_name": user_first_name,
            "user_last_name": user_last_name,
        },
    )
    return {"expires_in": 2, "access_token": access_token, "token_type": "Bearer",
            "scope": grant_type}


@tool(read_only=True)
def travel_get_login_status(db: Db) -> dict[str, bool]:
    """Tell whether a usable access token is currently held."""
    expires_in = store.meta(db, "token_expires_in")
    is_not_logged_in = expires_in is None or expires_in == 0
    return {"status": not is_not_logged_in}


@tool(read_only=True)
def get_budget_fiscal_year(
    db: Db,
    lastModifiedAfter: str | None = None,
    includeRemoved: str | None = None,
) -> dict[str, str]:
    """Return the budget's fiscal year.

    Args:
        lastModifiedAfter: Only fiscal years changed after this UTC time (YYYY-MM-DDTHH:MM:SS).
        includeRemoved: Whether removed fiscal years are included too.
    """
    return {"budget_fiscal_year": "2018"}


@tool
@python_crashes
def set_budget_limit(db: Db, access_token: AccessToken, budget_limit: Number) -> dict[str, Any]:
    """Set the traveller's budget limit in USD.

    Args:
        access_token: The access token from authentication or the initial session.
        budget_limit: The new limit in USD.
    """
    refusal = _token_refusal(db, access_token)
    if refusal:
        return {"error": refusal}
    limit = float(budget_limit)  # OverflowError for huge ints, as in the original
    store.write_meta(db, {"budget_limit": limit})
    return {"budget_limit": limit}


# -- credit cards -------------------------------------------------------------------------------
@tool
@python_crashes
def register_credit_card(
    db: Db,
    access_token: AccessToken,
    card_number: str,
    expiration_date: str,
    cardholder_name: str,
    card_verification_number: int,
) -> dict[str, Any]:
    """Register a credit card; it gets a new card id and a starting balance.

    Args:
        access_token: The access token from authentication.
        card_number: The card's number.
        expiration_date: The card's expiry, MM/YYYY.
        cardholder_name: The name on the card.
        card_verification_number: The card's verification code.
    """
    expires_in = store.meta(db, "token_expires_in")
    if expires_in is None:
        return {"error": "Token not initialized"}
    if expires_in == 0:
        return {"error": "Token expired"}
    if access_token != store.meta(db, "access_token"):
        expires_in -= 1
        store.write_meta(db, {"token_expires_in": expires_in})
        return {"error": "Invalid access token"}
    # The original looks the card *number* up among card *ids* (see findings.json).
    if CARDS.get(db, card_number) is not None:
        return {"error": "Card already registered"}
    card_id = str(store.randint(db, 100000000000, 999999999999))
    CARDS.put(
        db,
        card_id,
        {
            "card_number": card_number,
            "expiration_date": expiration_date,
            "cardholder_name": cardholder_name,
            "card_verification_number": card_verification_number,
            "balance": store.randint(db, 10000, 99999),
        },
    )
    return {"card_id": card_id}


@tool
@python_crashes
def get_credit_card_balance(db: Db, access_token: AccessToken, card_id: str) -> dict[str, Any]:
    """Return the balance of a registered credit card.

    Args:
        access_token: The access token from authentication.
        card_id: The card's id.
    """
    refusal = _token_refusal(db, access_token)
    if refusal:
        return {"error": refusal}
    card = CARDS.get(db, card_id)
    if card is None:
        return {
            "error": "Card not registered. Here are a list of card_id's: "
            + str(CARDS.ids(db))
        }
    return {"card_balance": card["balance"]}


@tool(read_only=True)
def get_all_credit_cards(db: Db) -> dict[str, Any]:
    """List every registered credit card with its details and balance, by card id."""
    return {"credit_card_list": CARDS.all(db)}


# -- flights ------------------------------------------------------------------------------------
@tool(read_only=True)
@python_crashes
def get_flight_cost(
    db: Db, travel_from: str, travel_to: str, travel_date: str, travel_class: str
) -> dict[str, Any]:
    """Price a flight in USD for a route, date and class.

    Args:
        travel_from: IATA code of the departure airport.
        travel_to: IATA code of the arrival airport.
        travel_date: The travel date, YYYY-MM-DD.
        travel_class: economy, business or first.
    """
    row = None
    if store.is_native(travel_from) and store.is_native(travel_to):
        row = db.execute(
            "SELECT base_cost FROM route WHERE origin = ? AND destination = ?",
            (travel_from, travel_to),
        ).fetchone()
    if row is None:
        raise ValueError("No available route for the given airports.")
    factors = {"economy": 1, "business": 2, "first": 5}
    if travel_class not in factors:
        raise ValueError("Invalid travel class. Options are: economy, business, first.")
    factor = factors[travel_class]
    # An even digit sum doubles the fare (int() also rejects exotic Unicode digits, as there).
    digit_sum = sum(int(char) for char in travel_date if char.isdigit())
    date_multiplier = 2 if digit_sum % 2 == 0 else 1
    travel_cost = float(row[0] * factor * date_multiplier)
    if not store.meta(db, "long_context"):
        return {"travel_cost_list": [travel_cost]}
    # Long context: every route is listed instead, in the catalogue's order.
    return {
        "travel_cost_list": [
            f"From: {origin} To: {destination} Cost: {float(base * factor * date_multiplier)}"
            f" USD. This is a domestica flight with a travel class of {travel_class}"
            f" and a travel date of {travel_date}."
            for origin, destination, base in db.execute(
                "SELECT origin, destination, base_cost FROM route ORDER BY position"
            )
        ]
    }


@tool(read_only=True)
def list_all_airports(db: Db) -> list[str]:
    """List the IATA codes of all airports the system knows."""
    return [r[0] for r in db.execute("SELECT code FROM airport ORDER BY position")]


@tool(read_only=True)
def get_nearest_airport_by_city(db: Db, location: str) -> dict[str, str]:
    """Return the IATA code of the airport nearest to a city ("Unknown" if none is known).

    Args:
        location: The city's name, e.g. Rivermist, San Francisco or Tokyo.
    """
    row = None
    if store.is_native(location):  # SQLite cannot even be asked about a lone surrogate
        row = db.execute("SELECT code FROM city_airport WHERE city = ?", (location,)).fetchone()
    return {"nearest_airport": "Unknown" if row is None else row[0]}


@tool
@python_crashes
def book_flight(
    db: Db,
    access_token: AccessToken,
    card_id: str,
    travel_date: str,
    travel_from: str,
    travel_to: str,
    travel_class: str,
    travel_cost: Number,
) -> dict[str, Any]:
    """Book a flight and charge it to a registered credit card.

    Args:
        access_token: The access token from authentication.
        card_id: Id of the card to charge.
        travel_date: The travel date, YYYY-MM-DD.
        travel_from: IATA code of the departure airport.
        travel_to: IATA code of the arrival airport.
        travel_class: The travel class.
        travel_cost: The fare in USD.
    """
    refusal = _token_refusal(db, access_token)
    if refusal:
        return {"booking_status": False, "error": refusal}
    card = CARDS.get(db, card_id)
    if card is None:
        return {"booking_status": False, "error": "Card not registered"}
    if "balance" not in card:
        return {"booking_status": False, "error": "Balance not found"}
    if card["balance"] < travel_cost:
        return {"booking_status": False, "error": "Insufficient funds"}
    budget_limit = store.meta(db, "budget_limit")
    if budget_limit is not None and card["balance"] < budget_limit:
        return {"booking_status": False, "error": "Balance is less than budget limit"}
    # Repaired mode (code_fixes travel.book_flight.budget): the budget caps the fare, as the
    # doc says; the original compares the card balance with it instead.
    if budget_limit is not None and _repaired(db) and travel_cost > budget_limit:
        return {"booking_status": False, "error": "Exceeded budget limit"}
    travel_cost = float(travel_cost)
    card["balance"] -= travel_cost
    CARDS.put(db, card_id, card)
    booking_id = str(store.randint(db, 1000000, 9999999))
    transaction_id = str(store.randint(db, 10000000, 99999999))
    BOOKINGS.put(
        db,
        booking_id,
        {
            "card_id": card_id,
            "travel_date": travel_date,
            "travel_from": travel_from,
            "travel_to": travel_to,
            "travel_class": travel_class,
            "travel_cost": travel_cost,
            "transaction_id": transaction_id,
        },
    )
    history = BOOKINGS.all(db) if store.meta(db, "long_context") else {}
    return {"booking_id": booking_id, "transaction_id": transaction_id,
            "booking_status": True, "booking_history": history}


@tool
@python_crashes
def retrieve_invoice(
    db: Db,
    access_token: AccessToken,
    booking_id: str | None = None,
    insurance_id: str | None = None,
) -> dict[str, Any]:
    """Return the invoice of a booking.

    Args:
        access_token: The access token from authentication.
        booking_id: The booking's id.
        insurance_id: An insurance id (accepted but not used for the invoice).
    """
    refusal = _token_refusal(db, access_token)
    if refusal:
        return {"error": refusal}
    booking = None if booking_id is None else BOOKINGS.get(db, booking_id)
    if booking is None:
        return {"error": "Booking not found"}
    invoice = {"booking_id": booking_id}
    for name in ("travel_date", "travel_from", "travel_to", "travel_class", "travel_cost",
                 "transaction_id"):
        invoice[name] = booking[name]  # KeyError on scenario bookings that lack the field
    return {"invoice": invoice}


@tool(destructive=True)
@python_crashes
def cancel_booking(db: Db, access_token: AccessToken, booking_id: str) -> dict[str, Any]:
    """Cancel a booking and refund its cost to the card it was charged to.

    Args:
        access_token: The access token from authentication.
        booking_id: The booking's id.
    """
    refusal = _token_refusal(db, access_token)
    if refusal:
        return {"cancel_status": False, "error": refusal}
    booking = BOOKINGS.get(db, booking_id)
    if booking is None:
        return {"cancel_status": False, "error": "Booking not found"}
    card_id = booking["card_id"]
    travel_cost = booking["travel_cost"]
    hash(card_id)  # an unhashable id fails the original's dict lookup with TypeError
    card = CARDS.get(db, card_id) if type(card_id) is str else None
    if card is None:
        raise KeyError(card_id)
    card["balance"] += travel_cost
    CARDS.put(db, card_id, card)
    BOOKINGS.delete(db, booking_id)
    return {"cancel_status": True}


def _repaired(db: Db) -> bool:
    """Whether the scenario asked for the repaired (non-faithful) behaviour."""
    return is_repaired(db, "meta")


@tool
@python_crashes
def purchase_insurance(
    db: Db,
    access_token: AccessToken,
    insurance_type: str,
    booking_id: str,
    insurance_cost: Number,
    card_id: str,
) -> dict[str, Any]:
    """Buy travel insurance for a booking, charged to a registered credit card.

    Args:
        access_token: The access token from authentication.
        insurance_type: The kind of insurance.
        booking_id: The insured booking's id.
        insurance_cost: The insurance's price in USD.
        card_id: Id of the card to charge.
    """
    refusal = _token_refusal(db, access_token)
    if refusal:
        return {"insurance_status": False, "error": refusal}
    budget_limit = store.meta(db, "budget_limit")
    if budget_limit is not None and budget_limit < insurance_cost:
        return {"insurance_status": False, "error": "Exceeded budget limit"}
    if BOOKINGS.get(db, booking_id) is None:
        return {"insurance_status": False, "error": "Booking not found"}
    card = CARDS.get(db, card_id)
    if card is None:
        return {"insurance_status": False, "error": "Credit card not registered"}
    # Repaired mode (code_fixes travel.purchase_insurance.funds): book_flight's funds check,
    # which the original skips here, so a card can go negative.
    if _repaired(db) and card.get("balance", 0) < insurance_cost:
        return {"insurance_status": False, "error": "Insufficient funds"}
    card["balance"] -= insurance_cost
    CARDS.put(db, card_id, card)
    return {"insurance_id": str(store.randint(db, 100000000, 999999999)),
            "insurance_status": True}


@tool(read_only=True)
def contact_customer_support(db: Db, booking_id: str, message: str) -> dict[str, str]:
    """Send a message about a booking to customer support and get its reply.

    Args:
        booking_id: The booking the message is about.
        message: The message for customer support.
    """
    if BOOKINGS.get(db, booking_id) is None:
        return {"error": "Booking not found"}
    return {
        "customer_support_message": "Thank you for contacting customer support. "
        "We will get back to you shortly. " + message
    }


# -- travellers and currencies -------------------------------------------------------------------
@tool(read_only=True)
def verify_traveler_information(
    db: Db, first_name: str, last_name: str, date_of_birth: str, passport_number: str
) -> dict[str, Any]:
    """Check that a traveller is the logged-in user, an adult, and holds a US passport.

    Args:
        first_name: The traveller's first name.
        last_name: The traveller's last name.
        date_of_birth: Date of birth, YYYY-MM-DD.
        passport_number: The passport number.
    """
    user = store.read_meta(db)
    expected_first, expected_last = user["user_first_name"], user["user_last_name"]
    if expected_first != first_name or expected_last != last_name:
        return {
            "verification_status": False,
            # No space after "user.": the original's text, kept verbatim.
            "verification_failure": "Cannot book flight information for another user."
            f"Expected {expected_first} {expected_last}, got {first_name} {last_name}",
        }
    try:
        birth = datetime.strptime(date_of_birth, "%Y-%m-%d")
        today = datetime.today()  # the original ages travellers by the real clock
        age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    except ValueError:
        return {
            "verification_status": False,
            "verification_failure": "Invalid date of birth format. Please use YYYY-MM-DD.",
        }
    if age < 18:
        return {"verification_status": False,
                "verification_failure": "Traveler must be at least 18 years old."}
    if not passport_number.startswith("US"):
        return {"verification_status": False,
                "verification_failure": "Passport must be issued by the United States."}
    return {"verification_status": True}


@tool(read_only=True)
@python_crashes
def compute_exchange_rate(
    db: Db, base_currency: str, target_currency: str, value: Number
) -> dict[str, Any]:
    """Convert an amount between two currencies (one of them must be USD).

    Args:
        base_currency: The currency of `value`: USD, RMB, EUR, JPY, GBP, CAD, AUD, INR, RUB,
            BRL or MXN.
        target_currency: The currency to convert to (same choices).
        value: The amount to convert.
    """
    rates = db.execute(
        "SELECT base_currency, target_currency, rate FROM exchange_rate ORDER BY position"
    )
    for base, target, rate in rates:
        if base_currency == base and target_currency == target:
            return {"exchanged_value": value * rate}
        if base_currency == target and target_currency == base:
            return {"exchanged_value": round(value / rate, 2)}
    raise ValueError("No available exchange rate for the given currencies.")
