"""BFCL TwitterAPI (`posting_api`) ported to SQLite: tweets, comments, retweets and follows."""

from environments.bfcl.common import BfclBundle, scenario
from environments.bfcl.posting_api import tools
from environments.bfcl.posting_api.store import load, project
from environments.contract import read_text, tools_in
from environments.rules import ComparisonRules, TableRule

BUNDLE = BfclBundle(
    name="bfcl/posting_api",
    description=(
        "A Twitter-like posting service for one account: sign in, post tweets with tags and "
        "mentions, retweet, comment, follow and unfollow users, search and read tweets."
    ),
    schema_sql=read_text(__file__, "schema.sql"),
    tools=tools_in(tools),
    rules=ComparisonRules(
        tables={
            "account": TableRule(ignore=frozenset({"default_mention_list"})),
            "tweets": TableRule(natural_key=("tweet_key",)),
            "mention_lists": TableRule(skip=True),  # identity of list objects only
            "mentions": TableRule(natural_key=("list_id", "mention_id")),
            "comment_threads": TableRule(natural_key=("thread_key",),
                                         ignore=frozenset({"position"})),
            "retweeters": TableRule(natural_key=("username",), ignore=frozenset({"position"})),
        }
    ),
    default_scenario=scenario(),
    loader=load,
    class_name="TwitterAPI",
    module="posting_api",
    project=project,
)
