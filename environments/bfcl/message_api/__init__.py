"""BFCL MessageAPI (`message_api`) ported to SQLite: workspace users and a shared inbox."""

from environments.bfcl.common import BfclBundle, scenario
from environments.bfcl.message_api import tools
from environments.bfcl.message_api.store import load, project
from environments.contract import read_text, tools_in
from environments.rules import ComparisonRules, TableRule

BUNDLE = BfclBundle(
    name="bfcl/message_api",
    description=(
        "A workspace messaging service: list users and look up their ids, log in, add "
        "contacts, send messages, delete the latest message to a receiver, view, search and "
        "count the messages in the inbox."
    ),
    schema_sql=read_text(__file__, "schema.sql"),
    tools=tools_in(tools),
    rules=ComparisonRules(
        tables={
            "users": TableRule(natural_key=("name",), ignore=frozenset({"position"})),
        }
    ),
    default_scenario=scenario(),
    loader=load,
    class_name="MessageAPI",
    module="message_api",
    project=project,
)
