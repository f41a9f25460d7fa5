-- TradingBot (BFCL-V3 multi-turn): orders, stocks, one trading account with its transaction
-- history, a watch list, and the bot's scalar state.
--
-- Numeric value columns are declared WITHOUT a type so SQLite keeps each value as given: the
-- original is Python and shows 10 and 10.0 differently in its results.
--
-- Orders, stocks, the account and transactions are dicts in the original. Their usual fields
-- have columns; a dict that deviates from the usual shape (BFCL configs contain some, e.g. an
-- order with "num_shares" instead of "amount") additionally records its key order in `layout`
-- (JSON list; NULL = the usual fields in the usual order), the fields that have no column or
-- whose value a column cannot hold exactly (bools, NaN, nested data, huge ints) in `extra`
-- (JSON object), and a value that is not a dict at all in `raw` (JSON). See records.py.
--
-- No foreign keys between orders / watch list and stocks: the original never checks a
-- config's orders or watch list against its stocks, so a port may not refuse such a config.

-- The instance's scalar attributes (exactly one row).
CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    authenticated INTEGER NOT NULL CHECK (authenticated IN (0, 1)),
    market_status TEXT NOT NULL,
    order_counter INTEGER NOT NULL,
    long_context INTEGER NOT NULL CHECK (long_context IN (0, 1)),
    -- Transaction timestamps come from random.Random(random_seed); random_draws is how many
    -- timestamps were drawn so far, so the generator can be re-created and advanced.
    random_seed NOT NULL CHECK (typeof(random_seed) IN ('integer', 'real', 'text')),
    random_draws INTEGER NOT NULL DEFAULT 0 CHECK (random_draws >= 0)
);

-- `account_info`: the single trading account.
CREATE TABLE account (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    account_id,
    balance,
    binding_card,
    layout TEXT,
    extra TEXT
);

-- `stocks`: market data per symbol, in the config's order.
CREATE TABLE stocks (
    symbol TEXT PRIMARY KEY,
    position INTEGER NOT NULL UNIQUE CHECK (position >= 0),
    price,
    percent_change,
    volume,
    ma_5,   -- "MA(5)": 5-day moving average
    ma_20,  -- "MA(20)": 20-day moving average
    layout TEXT,
    extra TEXT,
    raw TEXT,
    CHECK (raw IS NULL OR (layout IS NULL AND extra IS NULL))
);

-- `orders`: keyed by order id, in insertion order (placing an order under an existing id
-- replaces that order in its place, as a dict assignment does).
CREATE TABLE orders (
    -- The dict key: an integer order id, or (malformed configs only) a non-numeric string.
    order_key PRIMARY KEY NOT NULL CHECK (typeof(order_key) IN ('integer', 'text')),
    position INTEGER NOT NULL UNIQUE CHECK (position >= 0),
    id,
    order_type,
    symbol,
    price,
    amount,
    status CHECK (status IS NULL OR status IN ('Open', 'Pending', 'Completed', 'Cancelled')),
    layout TEXT,
    extra TEXT,
    raw TEXT,
    CHECK (raw IS NULL OR (layout IS NULL AND extra IS NULL))
);

-- `transaction_history`: deposits and withdrawals, oldest first.
CREATE TABLE transactions (
    position INTEGER PRIMARY KEY CHECK (position >= 0),
    type CHECK (type IS NULL OR type IN ('deposit', 'withdrawal')),
    amount,
    timestamp,
    layout TEXT,
    extra TEXT,
    raw TEXT,
    CHECK (raw IS NULL OR (layout IS NULL AND extra IS NULL))
);

-- `watch_list`: watched symbols in list order (positions 0..n-1; duplicates are possible).
CREATE TABLE watch_list (
    position INTEGER PRIMARY KEY CHECK (position >= 0),
    symbol TEXT NOT NULL
);
