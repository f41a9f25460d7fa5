"""State projection: the original's public attributes as `project_value` shows them.

`vars(GorillaFileSystem)` holds `root` (a Directory tree, projected to nested
`{"type": "directory", "name", "contents"}` / `{"type": "file", "name", "content"}` dicts)
and `long_context`; `_current_dir` and `_api_description` are private.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from environments.bfcl.gorilla_file_system import tree
from environments.contract import Db


def project(db: Db) -> dict[str, Any]:
    root_id, long_context = db.execute("SELECT root_id, long_context FROM fs_state").fetchone()
    # Two queries for the whole graph: the projection runs after every differential turn.
    nodes = {
        r[0]: tree.Node(*r)
        for r in db.execute("SELECT id, kind, name, content, parent_id, listing_id FROM nodes")
    }
    listings: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for listing_id, name, node_id in db.execute(
        "SELECT listing_id, name, node_id FROM entries ORDER BY listing_id, position"
    ):
        listings[listing_id].append((name, node_id))

    def project_node(node: tree.Node, stack: list[int | None]) -> dict[str, Any]:
        if node.is_file:
            return {"type": "file", "name": node.name, "content": node.content}
        if node.listing_id in stack:
            # A directory inside itself: the original's projection recurses forever too.
            raise RecursionError(tree.RECURSION_MESSAGE)
        stack.append(node.listing_id)
        contents = {
            name: project_node(nodes[node_id], stack)
            for name, node_id in listings.get(node.listing_id or 0, [])
        }
        stack.pop()
        return {"type": "directory", "name": node.name, "contents": contents}

    return {"root": project_node(nodes[root_id], []), "long_context": bool(long_context)}
