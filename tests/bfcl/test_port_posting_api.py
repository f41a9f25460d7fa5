"""TwitterAPI port (`environments/bfcl/posting_api`) against the original BFCL class."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from eigencore.bfcl.calls import Call
from eigencore.bfcl.differential import compare_turns
from eigencore.bfcl.release import Entry
from environments.bfcl.common import scenario
from environments.bfcl.posting_api import BUNDLE
from environments.envdb import EnvDb
from tests.bfcl.helpers import port_checks

CLASS = "TwitterAPI"
NAMES = {t.name for t in BUNDLE.tools}


# -- off the reference path -------------------------------------------------------------------
EDGE_TEXT = ["", " ", "nobody", "ünïcødé ✓", "名前", "a\x00b", "x" * 300, "#", "@"]
EDGE_INTS = [0, 1, -1, 2, 10, 2**31, 2**63 - 1, 2**63, -(2**63) - 1, 10**30]


def _pools(config: dict[str, Any]) -> dict[str, list[Any]]:
    tweets = config.get("tweets", {})
    users = [config.get("username", "john"), *config.get("following_list", ["alice", "bob"])]
    users += [t["username"] for t in tweets.values()] + list(config.get("retweets", {}))
    words = [w for t in tweets.values() for w in t["content"].split()[:3]]
    words += [tag for t in tweets.values() for tag in t["tags"]]
    ids = [int(k) for k in tweets] + [config.get("tweet_counter", 0)]
    return {"users": users, "words": words or ["x"], "ids": ids}


def _calls(draw: Any, config: dict[str, Any]) -> list[Call]:
    pools = _pools(config)
    text = st.sampled_from(EDGE_TEXT) | st.text(max_size=12)
    user = st.sampled_from(pools["users"]) | text
    tweet_id = st.sampled_from(pools["ids"]) | st.sampled_from(EDGE_INTS)
    word = st.sampled_from(pools["words"]) | text
    names = st.lists(user, max_size=3)
    login = st.just({"username": config.get("username", "john"),
                     "password": config.get("password", "john123")})
    post = st.fixed_dictionaries(
        {"content": word}, optional={"tags": st.lists(word, max_size=3), "mentions": names})
    kwargs_for = {
        "authenticate_twitter": login | st.fixed_dictionaries({"username": user,
                                                               "password": text}),
        "posting_get_login_status": st.just({}),
        "post_tweet": post,
        "retweet": st.fixed_dictionaries({"tweet_id": tweet_id}),
        "comment": st.fixed_dictionaries({"tweet_id": tweet_id, "comment_content": word}),
        "mention": st.fixed_dictionaries({"tweet_id": tweet_id, "mentioned_usernames": names}),
        "follow_user": st.fixed_dictionaries({"username_to_follow": user}),
        "list_all_following": st.just({}),
        "unfollow_user": st.fixed_dictionaries({"username_to_unfollow": user}),
        "get_tweet": st.fixed_dictionaries({"tweet_id": tweet_id}),
        "get_user_tweets": st.fixed_dictionaries({"username": user}),
        "search_tweets": st.fixed_dictionaries({"keyword": word}),
        "get_tweet_comments": st.fixed_dictionaries({"tweet_id": tweet_id}),
        "get_user_stats": st.fixed_dictionaries({"username": user}),
    }
    n = draw(st.integers(1, 8))
    calls = []
    for _ in range(n):
        name = draw(st.sampled_from(sorted(kwargs_for)))
        calls.append(Call(name, (), draw(kwargs_for[name])))
    return calls


(entries, distinct_configs, test_tools_match_the_original_methods,
 test_ground_truth_replays_identically, test_random_calls_match_the_original) = port_checks(
    CLASS, NAMES, entry_count=156, calls_for=_calls, max_examples=250)


# -- the port directly ------------------------------------------------------------------------
def _open(config: dict[str, Any] | None = None) -> EnvDb:
    return EnvDb.open(BUNDLE, scenario(config))


def test_default_scenario_state() -> None:
    db = _open()
    assert BUNDLE.project(db.db) == {
        "username": "john", "password": "john123", "authenticated": False, "tweets": {},
        "comments": {}, "retweets": {}, "following_list": ["alice", "bob"], "tweet_counter": 0,
    }


def test_failing_call_changes_nothing() -> None:
    db = _open({"tweets": {"0": {"id": 0, "username": "john", "content": "hi", "tags": [],
                                 "mentions": []}}, "tweet_counter": 1})
    out = db.call("comment", {"tweet_id": 0, "comment_content": "x"})
    assert not out.ok and out.error["message"] == "exceptions must derive from BaseException"
    assert db.diff().empty


def test_invalid_argument_types_are_refused() -> None:
    db = _open()
    out = db.call("retweet", {"tweet_id": "zero"})
    assert not out.ok and out.error["kind"] == "invalid_arguments"
    out = db.call("post_tweet", {"content": "x", "tags": "#notalist"})
    assert not out.ok and out.error["kind"] == "invalid_arguments"
    assert db.diff().empty


def test_omitted_mentions_share_one_list_like_the_original() -> None:
    db = _open({"authenticated": True})
    db.call("post_tweet", {"content": "a"})
    db.call("post_tweet", {"content": "b", "mentions": []})
    assert db.call("mention", {"tweet_id": 1, "mentioned_usernames": ["@z"]}).ok
    db.call("post_tweet", {"content": "c"})
    tweets = BUNDLE.project(db.db)["tweets"]
    assert [tweets[i]["mentions"] for i in (0, 1, 2)] == [[], ["@z"], []]
    db.call("mention", {"tweet_id": 2, "mentioned_usernames": ["@y"]})
    tweets = BUNDLE.project(db.db)["tweets"]
    assert [tweets[i]["mentions"] for i in (0, 1, 2)] == [["@y"], ["@z"], ["@y"]]


def test_huge_tweet_ids_are_simply_not_found() -> None:
    db = _open({"authenticated": True})
    out = db.call("get_tweet", {"tweet_id": 10**30})
    assert out.ok and out.value == {"error": f"Tweet with ID {10**30} not found."}


def test_comment_keys_keep_their_type() -> None:
    config = {"authenticated": True, "tweet_counter": 2, "comments": {"1": [{"user": "a"}]},
              "tweets": {"1": {"id": 1, "username": "j", "content": "c", "tags": []}}}
    db = _open(config)
    assert db.call("get_tweet_comments", {"tweet_id": 1}).value == []
    db.call("comment", {"tweet_id": 1, "comment_content": "x"})
    assert BUNDLE.project(db.db)["comments"] == {
        "1": [{"user": "a"}], 1: [{"username": "john", "content": "x"}]}
    assert not db.call("mention", {"tweet_id": 1, "mentioned_usernames": ["@a"]}).ok


def _synthetic(config: dict[str, Any]) -> Entry:
    return Entry(id="multi_turn_base_9999", category="base", question=[[]],
                 initial_config={CLASS: config}, involved_classes=[CLASS], ground_truth=[[]])


def test_unusual_scenarios_match_the_original() -> None:
    tweet = {"id": 0, "username": "john", "content": "old", "tags": ["#a"], "mentions": ["@b"]}
    config = {"authenticated": True, "tweet_counter": 0, "tweets": {"0": tweet, "00": tweet},
              "following_list": ["bob", "bob", "amy"], "retweets": {"amy": []}}
    calls = ["post_tweet(content='new')", "get_tweet(tweet_id=0)", "unfollow_user('bob')",
             "list_all_following()", "follow_user(username_to_follow='bob')",
             "get_user_stats(username='amy')", "retweet(tweet_id=0)", "retweet(0)",
             "mention(tweet_id=0, mentioned_usernames=['@c'])", "post_tweet('x', ['#y'])",
             "search_tweets(keyword='#Y')", "get_user_tweets('john')"]
    assert compare_turns(_synthetic(config), [calls]) == []
