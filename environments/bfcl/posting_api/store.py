"""TwitterAPI state in SQLite: loading a scenario, reading rows back as the original's values.

The original keeps plain dicts and lists; this module is the one place that maps them to rows
and back, so tools and the state projection see exactly the same Python values.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from sqlite3 import Row
from typing import Any

from environments.bfcl.common import release_constant
from environments.contract import Db

MODULE = "posting_api"
TWEET_KEYS = ("id", "username", "content", "tags", "mentions")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _unsupported(what: str, value: Any) -> ValueError:
    return ValueError(f"TwitterAPI scenario: unsupported {what}: {value!r:.200}")


def _check(ok: bool, what: str, value: Any) -> None:
    if not ok:
        raise _unsupported(what, value)


def _str_list(value: Any, what: str) -> list[str]:
    _check(type(value) is list and all(type(v) is str for v in value), what, value)
    return value


# -- writes ------------------------------------------------------------------------------------
def new_mention_list(db: Db, usernames: list[str]) -> int:
    list_id = db.execute("INSERT INTO mention_lists DEFAULT VALUES").lastrowid
    extend_mention_list(db, list_id, usernames)
    return list_id


def extend_mention_list(db: Db, list_id: int, usernames: list[str]) -> None:
    db.executemany(
        "INSERT INTO mentions (list_id, username) VALUES (?, ?)",
        [(list_id, u) for u in usernames],
    )


def put_tweet(db: Db, key: int, tweet_id: int, username: str, content: str,
              tags: list[str], mention_list: int | None) -> None:
    """`tweets[key] = {...}`: a new key goes last, an existing key keeps its place."""
    old = db.execute("SELECT mention_list FROM tweets WHERE tweet_key = ?", (key,)).fetchone()
    if old is None:
        db.execute(
            "INSERT INTO tweets (tweet_key, position, id, username, content, mention_list) "
            "VALUES (?, (SELECT COALESCE(MAX(position), 0) + 1 FROM tweets), ?, ?, ?, ?)",
            (key, tweet_id, username, content, mention_list),
        )
    else:
        db.execute(
            "UPDATE tweets SET id = ?, username = ?, content = ?, mention_list = ? "
            "WHERE tweet_key = ?",
            (tweet_id, username, content, mention_list, key),
        )
        db.execute("DELETE FROM tags WHERE tweet_key = ?", (key,))
        _drop_if_orphaned(db, old["mention_list"])
    db.executemany("INSERT INTO tags (tweet_key, tag) VALUES (?, ?)", [(key, t) for t in tags])


def _drop_if_orphaned(db: Db, list_id: int | None) -> None:
    # The replaced tweet's list is unreachable unless another tweet (or the shared default) uses
    # it; dropping it keeps the tables free of garbage without changing any visible value.
    if list_id is not None:
        db.execute(
            "DELETE FROM mention_lists WHERE list_id = ? "
            "AND NOT EXISTS (SELECT 1 FROM tweets WHERE mention_list = ?) "
            "AND NOT EXISTS (SELECT 1 FROM account WHERE default_mention_list = ?)",
            (list_id, list_id, list_id),
        )


def thread_position(db: Db, key: int | str, create: bool = False) -> int | None:
    row = db.execute("SELECT position FROM comment_threads WHERE thread_key = ?", (key,)).fetchone()
    if row is not None:
        return row[0]
    if not create:
        return None
    return db.execute("INSERT INTO comment_threads (thread_key) VALUES (?)", (key,)).lastrowid


def add_comment(db: Db, thread: int, fields: Mapping[str, Any]) -> None:
    db.execute("INSERT INTO comments (thread, fields) VALUES (?, ?)", (thread, json.dumps(fields)))


def retweeter_position(db: Db, username: str, create: bool = False) -> int | None:
    row = db.execute("SELECT position FROM retweeters WHERE username = ?", (username,)).fetchone()
    if row is not None:
        return row[0]
    if not create:
        return None
    return db.execute("INSERT INTO retweeters (username) VALUES (?)", (username,)).lastrowid


# -- reads -------------------------------------------------------------------------------------
def account(db: Db) -> Row:
    return db.execute("SELECT * FROM account").fetchone()


def is_authenticated(db: Db) -> bool:
    return bool(account(db)["authenticated"])


def _mentions(db: Db, list_id: int) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT username FROM mentions WHERE list_id = ? ORDER BY mention_id", (list_id,))]


def tweet_value(db: Db, row: Row) -> dict[str, Any]:
    """The tweet dict exactly as the original stores it (key order included)."""
    tweet: dict[str, Any] = {
        "id": row["id"],
        "username": row["username"],
        "content": row["content"],
        "tags": [r[0] for r in db.execute(
            "SELECT tag FROM tags WHERE tweet_key = ? ORDER BY tag_id", (row["tweet_key"],))],
    }
    if row["mention_list"] is not None:
        tweet["mentions"] = _mentions(db, row["mention_list"])
    return tweet


def tweet_rows(db: Db, where: str = "1", args: tuple[Any, ...] = ()) -> list[Row]:
    return db.execute(f"SELECT * FROM tweets WHERE {where} ORDER BY position", args).fetchall()


def all_tweets(db: Db) -> dict[int, dict[str, Any]]:
    return {r["tweet_key"]: tweet_value(db, r) for r in tweet_rows(db)}


def thread_comments(db: Db, thread: int) -> list[dict[str, Any]]:
    return [json.loads(r[0]) for r in db.execute(
        "SELECT fields FROM comments WHERE thread = ? ORDER BY comment_id", (thread,))]


def following(db: Db) -> list[str]:
    return [r[0] for r in db.execute("SELECT username FROM following ORDER BY position")]


def retweeted_ids(db: Db, retweeter: int) -> list[int]:
    return [r[0] for r in db.execute(
        "SELECT tweet_id FROM retweets WHERE retweeter = ? ORDER BY retweet_id", (retweeter,))]


# -- scenario and projection -------------------------------------------------------------------
def load(db: Db, scenario: Mapping[str, Any]) -> None:
    """Mirror `TwitterAPI._load_scenario`: config values win, DEFAULT_STATE fills the gaps."""
    config = copy.deepcopy(dict(scenario.get("config") or {}))
    default = release_constant(MODULE, "DEFAULT_STATE")

    def pick(key: str) -> Any:
        return config[key] if key in config else default[key]

    username, password = pick("username"), pick("password")
    authenticated, counter = pick("authenticated"), pick("tweet_counter")
    _check(type(username) is str and type(password) is str, "credentials", (username, password))
    _check(authenticated is None or type(authenticated) is bool, "authenticated", authenticated)
    _check(type(counter) is int, "tweet_counter", counter)
    db.execute(
        "INSERT INTO account (singleton, username, password, authenticated, tweet_counter) "
        "VALUES (1, ?, ?, ?, ?)",
        (username, password, authenticated, counter),
    )

    tweets = pick("tweets")
    _check(isinstance(tweets, dict), "tweets", tweets)
    for raw_key, tweet in tweets.items():
        # The original converts every key with int(); a failing conversion fails the load.
        _check(isinstance(tweet, dict) and tuple(tweet) in (TWEET_KEYS, TWEET_KEYS[:4]),
               "tweet", tweet)
        _check(type(tweet["id"]) is int and type(tweet["username"]) is str
               and type(tweet["content"]) is str, "tweet", tweet)
        tags = _str_list(tweet["tags"], "tags")
        mention_list = (new_mention_list(db, _str_list(tweet["mentions"], "mentions"))
                        if "mentions" in tweet else None)
        put_tweet(db, int(raw_key), tweet["id"], tweet["username"], tweet["content"], tags,
                  mention_list)

    comments = pick("comments")
    _check(isinstance(comments, dict), "comments", comments)
    for key, thread in comments.items():
        _check(type(key) in (str, int) and type(thread) is list
               and all(isinstance(c, dict) and all(type(k) is str for k in c) for c in thread),
               "comment thread", thread)
        position = thread_position(db, key, create=True)
        assert position is not None
        for c in thread:
            add_comment(db, position, c)

    retweets = pick("retweets")
    _check(isinstance(retweets, dict), "retweets", retweets)
    for user, ids in retweets.items():
        _check(type(user) is str and type(ids) is list and all(type(i) is int for i in ids),
               "retweets", {user: ids})
        position = retweeter_position(db, user, create=True)
        db.executemany("INSERT INTO retweets (retweeter, tweet_id) VALUES (?, ?)",
                       [(position, i) for i in ids])

    db.executemany("INSERT INTO following (username) VALUES (?)",
                   [(u,) for u in _str_list(pick("following_list"), "following_list")])


def project(db: Db) -> dict[str, Any]:
    """The instance's public attributes, as `ReferenceEpisode.state()` projects the original."""
    acct = account(db)
    authenticated = acct["authenticated"]
    comments = {
        r["thread_key"]: thread_comments(db, r["position"])
        for r in db.execute("SELECT * FROM comment_threads ORDER BY position")
    }
    retweets = {
        r["username"]: retweeted_ids(db, r["position"])
        for r in db.execute("SELECT * FROM retweeters ORDER BY position")
    }
    return {
        "username": acct["username"],
        "password": acct["password"],
        "authenticated": None if authenticated is None else bool(authenticated),
        "tweets": all_tweets(db),
        "comments": comments,
        "retweets": retweets,
        "following_list": following(db),
        "tweet_counter": acct["tweet_counter"],
    }
