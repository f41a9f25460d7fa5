"""BFCL TicketAPI (`ticket_api`) ported to SQLite: a support-ticket queue with a login."""

from environments.bfcl.common import BfclBundle, scenario
from environments.bfcl.ticket_api import tools
from environments.bfcl.ticket_api.store import load, project
from environments.contract import read_text, tools_in
from environments.rules import ComparisonRules

BUNDLE = BfclBundle(
    name="bfcl/ticket_api",
    description=(
        "A company support-ticket system: log in, create tickets, look them up, edit, resolve "
        "and close them, and list the logged-in user's tickets by status."
    ),
    schema_sql=read_text(__file__, "schema.sql"),
    tools=tools_in(tools),
    # Tickets are matched by queue position (the primary key): ids need not be unique.
    rules=ComparisonRules(),
    default_scenario=scenario(),
    loader=load,
    class_name="TicketAPI",
    module="ticket_api",
    project=project,
)
