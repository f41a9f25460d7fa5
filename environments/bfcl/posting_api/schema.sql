-- BFCL TwitterAPI: one account's session, the tweets it can see, comments, retweets and the
-- accounts it follows. Columns are declared without a type (no affinity) so values are stored
-- exactly as given and a CHECK on typeof() guards the type: the original is Python and results
-- are compared as their string forms, so 1 and "1" must never be conflated.

-- Scalar attributes of the instance (exactly one row).
CREATE TABLE account (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    username NOT NULL CHECK (typeof(username) = 'text'),
    password NOT NULL CHECK (typeof(password) = 'text'),
    -- NULL is Python None (some scenarios set it); otherwise a bool stored as 0/1.
    authenticated INTEGER CHECK (authenticated IN (0, 1)),
    tweet_counter NOT NULL CHECK (typeof(tweet_counter) = 'integer'),
    -- post_tweet's `mentions` default is one list object shared by every call that omits it
    -- (and `mention` extends it in place); NULL until the first such call creates it.
    default_mention_list INTEGER REFERENCES mention_lists (list_id)
);

-- A list of mentioned usernames. A list is an object that several tweets may share.
CREATE TABLE mention_lists (
    list_id INTEGER PRIMARY KEY
);

CREATE TABLE mentions (
    mention_id INTEGER PRIMARY KEY,  -- list order
    list_id INTEGER NOT NULL REFERENCES mention_lists (list_id) ON DELETE CASCADE,
    username NOT NULL CHECK (typeof(username) = 'text')
);
CREATE INDEX mentions_by_list ON mentions (list_id, mention_id);

-- `tweets` is a dict keyed by int tweet id; `position` keeps its insertion order (a post that
-- reuses an existing key replaces the value in place, keeping the position).
CREATE TABLE tweets (
    tweet_key INTEGER PRIMARY KEY,
    position INTEGER NOT NULL UNIQUE,
    id NOT NULL CHECK (typeof(id) = 'integer'),
    username NOT NULL CHECK (typeof(username) = 'text'),
    content NOT NULL CHECK (typeof(content) = 'text'),
    -- NULL: the tweet dict has no "mentions" key at all (one scenario tweet lacks it).
    mention_list INTEGER REFERENCES mention_lists (list_id)
);

CREATE TABLE tags (
    tag_id INTEGER PRIMARY KEY,  -- list order
    tweet_key INTEGER NOT NULL REFERENCES tweets (tweet_key) ON DELETE CASCADE,
    tag NOT NULL CHECK (typeof(tag) = 'text')
);
CREATE INDEX tags_by_tweet ON tags (tweet_key, tag_id);

-- `comments` is a dict keyed by tweet id. Keys loaded from a scenario are JSON strings ("1")
-- while `comment` writes int keys, and the original treats them as different keys, so the key
-- keeps its type. Scenario keys need not name an existing tweet.
CREATE TABLE comment_threads (
    position INTEGER PRIMARY KEY,
    thread_key NOT NULL UNIQUE CHECK (typeof(thread_key) IN ('integer', 'text'))
);

CREATE TABLE comments (
    comment_id INTEGER PRIMARY KEY,  -- list order within the thread
    thread INTEGER NOT NULL REFERENCES comment_threads (position) ON DELETE CASCADE,
    -- The comment dict. Its keys vary: `comment` writes {"username", "content"}; scenarios
    -- use {"username", "comment"} or {"user", "comment"}.
    fields TEXT NOT NULL CHECK (json_valid(fields) AND json_type(fields) = 'object')
);
CREATE INDEX comments_by_thread ON comments (thread, comment_id);

-- `retweets`: username -> list of retweeted tweet ids (scenario ids need not exist).
CREATE TABLE retweeters (
    position INTEGER PRIMARY KEY,
    username NOT NULL UNIQUE CHECK (typeof(username) = 'text')
);

CREATE TABLE retweets (
    retweet_id INTEGER PRIMARY KEY,  -- list order
    retweeter INTEGER NOT NULL REFERENCES retweeters (position) ON DELETE CASCADE,
    tweet_id NOT NULL CHECK (typeof(tweet_id) = 'integer')
);
CREATE INDEX retweets_by_retweeter ON retweets (retweeter, retweet_id);

-- `following_list`, in order; duplicates are possible in principle (it is a plain list).
CREATE TABLE following (
    position INTEGER PRIMARY KEY,
    username NOT NULL CHECK (typeof(username) = 'text')
);
