"""BFCL GorillaFileSystem ported to SQLite: a shell-like file system with a current directory."""

from environments.bfcl.common import BfclBundle, scenario
from environments.bfcl.gorilla_file_system import tools
from environments.bfcl.gorilla_file_system.loader import load
from environments.bfcl.gorilla_file_system.projection import project
from environments.contract import read_text, tools_in
from environments.rules import ComparisonRules, TableRule

# Every path reachable from the root (depth-capped: `cp d d` makes a directory contain itself).
FS_TREE = """
WITH RECURSIVE walk(node_id, path, depth) AS (
    SELECT root_id, '', 0 FROM fs_state
    UNION ALL
    SELECT e.node_id, walk.path || '/' || e.name, walk.depth + 1
    FROM walk
    JOIN nodes d ON d.id = walk.node_id AND d.kind = 'directory'
    JOIN entries e ON e.listing_id = d.listing_id
    WHERE walk.depth < 32
)
SELECT CASE walk.path WHEN '' THEN '/' ELSE walk.path END AS path, n.kind AS kind,
       n.content AS content
FROM walk JOIN nodes n ON n.id = walk.node_id
"""

BUNDLE = BfclBundle(
    name="bfcl/gorilla_file_system",
    description=(
        "A small in-memory file system driven by shell-like commands: navigate directories "
        "(cd, pwd, ls, find), create, write, move, copy and remove files and directories, and "
        "inspect file contents (cat, grep, wc, sort, tail, diff, du)."
    ),
    schema_sql=read_text(__file__, "schema.sql"),
    tools=tools_in(tools),
    # Outcomes compare the tree as paths with their kind and content: node ids, listing ids
    # and insertion positions are storage, and the current directory is session state (BFCL
    # does not compare it either), so `cp` in another order or `mv` done as `cp` + `rm` reach
    # the same outcome.
    rules=ComparisonRules(
        tables={
            "fs_tree": TableRule(natural_key=("path",)),
            "nodes": TableRule(skip=True),
            "listings": TableRule(skip=True),
            "entries": TableRule(skip=True),
            "fs_state": TableRule(skip=True),
        },
        views={"fs_tree": FS_TREE},
    ),
    default_scenario=scenario(),
    loader=load,
    class_name="GorillaFileSystem",
    module="gorilla_file_system",
    project=project,
)
