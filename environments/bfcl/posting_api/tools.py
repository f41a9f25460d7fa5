"""TwitterAPI tools: sign in, post, retweet, comment, mention, follow and read tweets.

Every tool returns exactly what BFCL's `TwitterAPI` method returns, errors included: the
original reports most failures as `{"error": ...}` dicts, and those are returned, not raised.
"""

from __future__ import annotations

from sqlite3 import Row
from typing import Annotated, Any

from pydantic import Field, GetCoreSchemaHandler
from pydantic_core import core_schema

from environments.bfcl.posting_api import store
from environments.contract import Db, ToolError, tool

TweetId = Annotated[int, Field(description="Numeric id of the tweet.")]


class _OmittedMentions(list[str]):
    """Marks `post_tweet(mentions=...)` as omitted.

    The original's default is one list object shared by every call that omits the argument, and
    `mention` extends that object in place, so an omitted list must be told apart from an
    explicit `[]`. Pydantic deep-copies a default, and a deep copy keeps this subclass.
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
        # Lets the JSON schema show the default as a plain `[]`.
        return core_schema.no_info_after_validator_function(cls, handler(list[str]))


_NO_MENTIONS: list[str] = _OmittedMentions()


def _not_authenticated(action: str) -> dict[str, str]:
    return {"error": f"User not authenticated. Please authenticate before {action}."}


def _tweet_missing(tweet_id: int) -> dict[str, str]:
    return {"error": f"Tweet with ID {tweet_id} not found."}


def _tweet_row(db: Db, tweet_id: int) -> Row | None:
    if not store.INT64_MIN <= tweet_id <= store.INT64_MAX:
        return None  # beyond SQLite's integers, so certainly no such key (Python has no limit)
    return db.execute("SELECT * FROM tweets WHERE tweet_key = ?", (tweet_id,)).fetchone()


@tool(idempotent=True)
def authenticate_twitter(db: Db, username: str, password: str) -> dict[str, bool]:
    """Sign in to the account; succeeds only with its exact username and password.

    Args:
        username: The account's username.
        password: The account's password.
    """
    acct = store.account(db)
    if username == acct["username"] and password == acct["password"]:
        db.execute("UPDATE account SET authenticated = 1")
        return {"authentication_status": True}
    return {"authentication_status": False}


@tool(read_only=True)
def posting_get_login_status(db: Db) -> dict[str, bool]:
    """Tell whether the account is currently signed in."""
    return {"login_status": store.is_authenticated(db)}


@tool
def post_tweet(
    db: Db,
    content: str,
    tags: list[str] = [],  # noqa: B006 - the original's default, never mutated here
    mentions: list[str] = _NO_MENTIONS,
) -> dict[str, Any]:
    """Publish a tweet as the signed-in account; it gets the next tweet id.

    Args:
        content: Text of the tweet.
        tags: Hashtags to attach, e.g. ["#travel"].
        mentions: Users mentioned in the tweet, e.g. ["@alice"].
    """
    acct = store.account(db)
    if not acct["authenticated"]:
        return {"error": "User not authenticated. Please authenticate before posting."}
    if isinstance(mentions, _OmittedMentions):
        list_id = acct["default_mention_list"]
        if list_id is None:
            list_id = store.new_mention_list(db, [])
            db.execute("UPDATE account SET default_mention_list = ?", (list_id,))
    else:
        list_id = store.new_mention_list(db, mentions)
    key = acct["tweet_counter"]
    store.put_tweet(db, key, key, acct["username"], content, list(tags), list_id)
    db.execute("UPDATE account SET tweet_counter = tweet_counter + 1")
    return store.tweet_value(db, _tweet_row(db, key))


@tool(idempotent=True)
def retweet(db: Db, tweet_id: TweetId) -> dict[str, str]:
    """Retweet a tweet as the signed-in account (once per tweet).

    Args:
        tweet_id: Id of the tweet to retweet.
    """
    acct = store.account(db)
    if not acct["authenticated"]:
        return {"error": "User not authenticated. Please authenticate before retweeting."}
    if _tweet_row(db, tweet_id) is None:
        return _tweet_missing(tweet_id)
    retweeter = store.retweeter_position(db, acct["username"], create=True)
    assert retweeter is not None
    if tweet_id in store.retweeted_ids(db, retweeter):
        return {"retweet_status": "Already retweeted"}
    db.execute("INSERT INTO retweets (retweeter, tweet_id) VALUES (?, ?)", (retweeter, tweet_id))
    return {"retweet_status": "Successfully retweeted"}


@tool
def comment(db: Db, tweet_id: TweetId, comment_content: str) -> dict[str, str]:
    """Add a comment to a tweet as the signed-in account.

    Args:
        tweet_id: Id of the tweet to comment on.
        comment_content: Text of the comment.
    """
    acct = store.account(db)
    if not acct["authenticated"]:
        # The original `raise`s its error dict, which Python rejects with this TypeError.
        raise ToolError("exceptions must derive from BaseException")
    if _tweet_row(db, tweet_id) is None:
        return _tweet_missing(tweet_id)
    thread = store.thread_position(db, tweet_id, create=True)
    assert thread is not None
    store.add_comment(db, thread, {"username": acct["username"], "content": comment_content})
    return {"comment_status": "Comment added successfully"}


@tool
def mention(db: Db, tweet_id: TweetId, mentioned_usernames: list[str]) -> dict[str, str]:
    """Append usernames to a tweet's mentions (no sign-in needed).

    Args:
        tweet_id: Id of the tweet.
        mentioned_usernames: Usernames to add to the tweet's mentions, in order.
    """
    row = _tweet_row(db, tweet_id)
    if row is None:
        return _tweet_missing(tweet_id)
    if row["mention_list"] is None:
        raise ToolError("'mentions'")  # the original's KeyError on a tweet without mentions
    store.extend_mention_list(db, row["mention_list"], mentioned_usernames)
    return {"mention_status": "Users mentioned successfully"}


@tool(idempotent=True)
def follow_user(db: Db, username_to_follow: str) -> dict[str, Any]:
    """Follow another user as the signed-in account.

    Args:
        username_to_follow: Username to follow.
    """
    if not store.is_authenticated(db):
        return _not_authenticated("following")
    if username_to_follow in store.following(db):
        return {"follow_status": False}
    db.execute("INSERT INTO following (username) VALUES (?)", (username_to_follow,))
    return {"follow_status": True}


@tool(read_only=True)
def list_all_following(db: Db) -> list[str] | dict[str, str]:
    """List the usernames the signed-in account follows, in the order they were followed."""
    if not store.is_authenticated(db):
        return _not_authenticated("listing following")
    return store.following(db)


@tool(destructive=True, idempotent=True)
def unfollow_user(db: Db, username_to_unfollow: str) -> dict[str, Any]:
    """Stop following a user as the signed-in account.

    Args:
        username_to_unfollow: Username to stop following.
    """
    if not store.is_authenticated(db):
        return _not_authenticated("unfollowing")
    row = db.execute("SELECT MIN(position) FROM following WHERE username = ?",
                     (username_to_unfollow,)).fetchone()
    if row[0] is None:
        return {"unfollow_status": False}
    db.execute("DELETE FROM following WHERE position = ?", (row[0],))
    return {"unfollow_status": True}


@tool(read_only=True)
def get_tweet(db: Db, tweet_id: TweetId) -> dict[str, Any]:
    """Fetch one tweet by id.

    Args:
        tweet_id: Id of the tweet.
    """
    row = _tweet_row(db, tweet_id)
    if row is None:
        return _tweet_missing(tweet_id)
    return store.tweet_value(db, row)


@tool(read_only=True)
def get_user_tweets(db: Db, username: str) -> list[dict[str, Any]]:
    """List every tweet written by a user, oldest first.

    Args:
        username: Author whose tweets to list (exact, case-sensitive).
    """
    return [store.tweet_value(db, r) for r in store.tweet_rows(db, "username = ?", (username,))]


@tool(read_only=True)
def search_tweets(db: Db, keyword: str) -> list[dict[str, Any]]:
    """Find tweets whose text contains a keyword, or with a tag equal to it (case-insensitive).

    Args:
        keyword: Text to look for.
    """
    needle = keyword.lower()
    found = []
    for row in store.tweet_rows(db):
        tweet = store.tweet_value(db, row)
        if needle in tweet["content"].lower() or needle in [t.lower() for t in tweet["tags"]]:
            found.append(tweet)
    return found


@tool(read_only=True)
def get_tweet_comments(db: Db, tweet_id: TweetId) -> list[dict[str, Any]] | dict[str, str]:
    """List the comments on a tweet, oldest first.

    Args:
        tweet_id: Id of the tweet.
    """
    if _tweet_row(db, tweet_id) is None:
        return _tweet_missing(tweet_id)
    thread = store.thread_position(db, tweet_id)
    return [] if thread is None else store.thread_comments(db, thread)


@tool(read_only=True)
def get_user_stats(db: Db, username: str) -> dict[str, int]:
    """Count a user's tweets, followed accounts and retweets.

    Only the signed-in account's own follows are known; any other user follows 0 accounts.

    Args:
        username: The user to count for.
    """
    acct = store.account(db)
    tweet_count = db.execute("SELECT COUNT(*) FROM tweets WHERE username = ?",
                             (username,)).fetchone()[0]
    following_count = (
        db.execute("SELECT COUNT(*) FROM following").fetchone()[0]
        if username == acct["username"] else 0
    )
    retweeter = store.retweeter_position(db, username)
    retweet_count = 0 if retweeter is None else len(store.retweeted_ids(db, retweeter))
    return {
        "tweet_count": tweet_count,
        "following_count": following_count,
        "retweet_count": retweet_count,
    }
