-- BFCL MessageAPI: a workspace's users, one shared inbox of sent messages, and the ids handed
-- out to sent messages. Columns are declared without a type (no affinity) so values are stored
-- exactly as given and a CHECK on typeof() guards the type: the original is Python and results
-- are compared as their string forms, so 1 and "1" must never be conflated.

-- Scalar attributes of the instance (exactly one row).
CREATE TABLE workspace (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    user_count NOT NULL CHECK (typeof(user_count) = 'integer'),
    message_count NOT NULL CHECK (typeof(message_count) = 'integer'),
    -- NULL: nobody logged in. Scenarios may name a user id that is not in `users`.
    current_user CHECK (current_user IS NULL OR typeof(current_user) = 'text'),
    -- Message ids come from random.Random(random_seed).randint(10000, 99999); the generator's
    -- position is the number of draws made so far, so it can be recreated exactly.
    random_seed NOT NULL CHECK (typeof(random_seed) IN ('integer', 'real', 'text')),
    rng_draws INTEGER NOT NULL DEFAULT 0 CHECK (rng_draws >= 0)
);

-- `user_map`: user name -> user id, in insertion order (list_users returns the names so).
-- Ids are not unique in principle (the original never checks scenario data).
CREATE TABLE users (
    position INTEGER PRIMARY KEY,
    name NOT NULL UNIQUE CHECK (typeof(name) = 'text'),
    user_id NOT NULL CHECK (typeof(user_id) = 'text')
);
CREATE INDEX users_by_id ON users (user_id);

-- `generated_ids`: every message id drawn so far (a set).
CREATE TABLE generated_ids (
    message_id INTEGER PRIMARY KEY CHECK (message_id BETWEEN 10000 AND 99999)
);

-- `inbox`: the list of sent messages, each a dict {receiver_id: message}. Every method reads only
-- a message's first item; scenarios also hold messages whose value is a list or a nested dict,
-- dicts with several items, and empty dicts. Receivers need not be users (scenarios name
-- unknown ids), so there is no foreign key.
CREATE TABLE inbox (
    position INTEGER PRIMARY KEY,
    receiver_id CHECK (receiver_id IS NULL OR typeof(receiver_id) = 'text'),  -- NULL: {}
    message CHECK (message IS NULL OR typeof(message) = 'text'),      -- the value, if a str
    message_json CHECK (message_json IS NULL OR json_valid(message_json)),  -- any other value
    -- Items after the first, as a JSON object (NULL when there are none).
    more_items CHECK (more_items IS NULL OR json_type(more_items) = 'object'),
    CHECK (receiver_id IS NOT NULL OR (message IS NULL AND message_json IS NULL
                                       AND more_items IS NULL)),
    CHECK (receiver_id IS NULL OR ((message IS NULL) <> (message_json IS NULL)))
);
