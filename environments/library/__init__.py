"""Showcase domain: a public library's circulation desk (members, catalogue, loans, holds)."""

from environments.contract import DomainBundle, read_json, read_text, tools_in
from environments.library import tools
from environments.rules import ComparisonRules, TableRule

BUNDLE = DomainBundle(
    name="library",
    description=(
        "Circulation desk of a three-branch public library: search the catalogue, look up "
        "members, lend, return and renew copies, manage holds and fines."
    ),
    schema_sql=read_text(__file__, "schema.sql"),
    tools=tools_in(tools),
    rules=ComparisonRules(
        tables={
            "settings": TableRule(natural_key=("key",)),
            "branches": TableRule(natural_key=("code",), ignore=frozenset({"branch_id"})),
            "members": TableRule(natural_key=("card_number",),
                                 ignore=frozenset({"member_id"}), free_text=frozenset({"name"})),
            "books": TableRule(natural_key=("isbn",), ignore=frozenset({"book_id"})),
            "copies": TableRule(natural_key=("barcode",), ignore=frozenset({"copy_id"})),
            "loans": TableRule(natural_key=("copy_id", "loaned_on"),
                               ignore=frozenset({"loan_id"})),
            "holds": TableRule(natural_key=("book_id", "member_id", "placed_on"),
                               ignore=frozenset({"hold_id"})),
            "payments": TableRule(natural_key=("member_id", "paid_on", "amount_cents"),
                                  ignore=frozenset({"payment_id"})),
        }
    ),
    default_scenario=read_json(__file__, "scenario.json"),
)
