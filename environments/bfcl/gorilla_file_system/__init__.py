"""BFCL GorillaFileSystem ported to SQLite: a shell-like file system with a current directory."""

from environments.bfcl.common import BfclBundle, scenario
from environments.bfcl.gorilla_file_system import tools
from environments.bfcl.gorilla_file_system.loader import load
from environments.bfcl.gorilla_file_system.projection import project
from environments.contract import read_text, tools_in
from environments.rules import ComparisonRules, TableRule

BUNDLE = BfclBundle(
    name="bfcl/gorilla_file_system",
    description=(
        "A small in-memory file system driven by shell-like commands: navigate directories "
        "(cd, pwd, ls, find), create, write, move, copy and remove files and directories, and "
        "inspect file contents (cat, grep, wc, sort, tail, diff, du)."
    ),
    schema_sql=read_text(__file__, "schema.sql"),
    tools=tools_in(tools),
    rules=ComparisonRules(
        tables={
            "fs_state": TableRule(natural_key=("id",)),
            "entries": TableRule(natural_key=("listing_id", "name")),
        }
    ),
    default_scenario=scenario(),
    loader=load,
    class_name="GorillaFileSystem",
    module="gorilla_file_system",
    project=project,
)
