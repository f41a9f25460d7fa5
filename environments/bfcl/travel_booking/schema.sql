-- BFCL TravelAPI: the user's session, credit cards, flight bookings, and the fixed catalogue
-- (routes with base fares, airports, cities, exchange rates) the original keeps in code.
--
-- Columns holding values the original takes verbatim from its scenario or from the caller
-- are declared WITHOUT a type: SQLite then stores 100 as an integer and 100.0 as a real, so
-- results keep Python's int/float distinction. Records the original keeps as free-form
-- dicts (cards and bookings from scenarios have irregular keys) store the usual fields as
-- columns; any other key, and any value SQLite cannot hold exactly (NaN, integers beyond 64
-- bits, booleans, nested objects), lives in `extra` (a JSON object), and `key_order` keeps
-- the dict's key order, which the original's JSON results expose.

-- The session and budget: TravelAPI's scalar attributes (exactly one row).
CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    access_token,
    token_type,
    token_expires_in,
    token_scope,
    user_first_name,
    user_last_name,
    budget_limit,
    long_context INTEGER NOT NULL CHECK (long_context IN (0, 1)),
    -- Attributes whose value SQLite cannot hold natively, as {name: value} JSON.
    extra TEXT NOT NULL DEFAULT '{}'
);

-- The private random.Random the original draws tokens and ids from: its seed and its full
-- state after the draws made so far (random.getstate() as JSON), so ids continue exactly.
CREATE TABLE rng (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seed TEXT NOT NULL CHECK (json_valid(seed)),
    draws INTEGER NOT NULL DEFAULT 0 CHECK (draws >= 0),
    state TEXT NOT NULL CHECK (json_valid(state) AND json_type(state) = 'array')
);

CREATE TABLE credit_card (
    card_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL UNIQUE,  -- insertion order of the original's dict
    card_number,
    expiration_date,
    cardholder_name,
    card_verification_number,
    balance,
    -- Not checked with json_valid: Python writes NaN as a bare token SQLite 3.40 rejects.
    extra TEXT NOT NULL DEFAULT '{}',
    key_order TEXT NOT NULL CHECK (json_valid(key_order) AND json_type(key_order) = 'array')
);

-- card_id is not a foreign key: scenario bookings may name cards that were never registered
-- (the original then fails only when such a booking is cancelled).
CREATE TABLE booking (
    booking_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL UNIQUE,
    card_id,
    travel_date,
    travel_from,
    travel_to,
    travel_class,
    travel_cost,
    transaction_id,
    extra TEXT NOT NULL DEFAULT '{}',
    key_order TEXT NOT NULL CHECK (json_valid(key_order) AND json_type(key_order) = 'array')
);

-- The catalogue. `position` keeps the original's listing order (long-context fare lists
-- and the airport list are returned in it; exchange rates are searched in it).
CREATE TABLE airport (
    code TEXT PRIMARY KEY,
    position INTEGER NOT NULL UNIQUE
);

CREATE TABLE city_airport (
    city TEXT PRIMARY KEY,
    code TEXT NOT NULL REFERENCES airport (code),
    position INTEGER NOT NULL UNIQUE
);

-- Not referencing airport: the original prices a route to PVG, which it does not list.
CREATE TABLE route (
    origin TEXT NOT NULL,
    destination TEXT NOT NULL,
    base_cost INTEGER NOT NULL CHECK (base_cost > 0),
    position INTEGER NOT NULL UNIQUE,
    PRIMARY KEY (origin, destination)
);

CREATE TABLE exchange_rate (
    base_currency TEXT NOT NULL,
    target_currency TEXT NOT NULL,
    rate NOT NULL CHECK (typeof(rate) IN ('integer', 'real') AND rate > 0),
    position INTEGER NOT NULL UNIQUE,
    PRIMARY KEY (base_currency, target_currency)
);
