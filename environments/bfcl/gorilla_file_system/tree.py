"""Node and listing primitives: the original's File/Directory objects and their dicts.

A directory node refers to a listing (its `contents` dict); entries map names to nodes.
These helpers mirror the original's private methods (`_get_item`, `_add_file`,
`_add_directory`, `contents.pop`) one to one, so the tools read like the original.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from environments.contract import Db, ToolError

T = TypeVar("T")

RECURSION_MESSAGE = "maximum recursion depth exceeded"
"""What the original's recursive walks raise on a directory that (transitively) contains
itself; see findings gorilla_file_system-4."""


@dataclass(frozen=True)
class Node:
    id: int
    kind: str
    name: str
    content: str | None
    parent_id: int | None
    listing_id: int | None

    @property
    def is_file(self) -> bool:
        return self.kind == "file"

    @property
    def is_directory(self) -> bool:
        return self.kind == "directory"


_COLUMNS = "id, kind, name, content, parent_id, listing_id"


def node(db: Db, node_id: int) -> Node:
    row = db.execute(f"SELECT {_COLUMNS} FROM nodes WHERE id = ?", (node_id,)).fetchone()
    return Node(*row)


def root(db: Db) -> Node:
    return node(db, db.execute("SELECT root_id FROM fs_state").fetchone()[0])


def current(db: Db) -> Node:
    return node(db, db.execute("SELECT current_id FROM fs_state").fetchone()[0])


def set_current(db: Db, directory: Node) -> None:
    db.execute("UPDATE fs_state SET current_id = ?", (directory.id,))


def get_item(db: Db, directory: Node, name: str) -> Node | None:
    """`directory.contents.get(name)`."""
    row = db.execute(
        f"SELECT {', '.join('n.' + c for c in _COLUMNS.split(', '))} FROM entries e "
        "JOIN nodes n ON n.id = e.node_id WHERE e.listing_id = ? AND e.name = ?",
        (directory.listing_id, name),
    ).fetchone()
    return None if row is None else Node(*row)


def items(db: Db, listing_id: int | None) -> list[tuple[str, Node]]:
    """`contents.items()` in insertion order."""
    rows = db.execute(
        f"SELECT e.name, {', '.join('n.' + c for c in _COLUMNS.split(', '))} FROM entries e "
        "JOIN nodes n ON n.id = e.node_id WHERE e.listing_id = ? ORDER BY e.position",
        (listing_id,),
    )
    return [(r[0], Node(*r[1:])) for r in rows]


def names(db: Db, directory: Node) -> list[str]:
    """`list(directory.contents.keys())`."""
    rows = db.execute(
        "SELECT name FROM entries WHERE listing_id = ? ORDER BY position",
        (directory.listing_id,),
    )
    return [r[0] for r in rows]


def new_listing(db: Db) -> int:
    return int(db.execute("INSERT INTO listings DEFAULT VALUES").lastrowid or 0)


def put(db: Db, listing_id: int, name: str, node_id: int) -> None:
    """`contents[name] = node` for a name not yet in the dict (appended at the end)."""
    db.execute(
        "INSERT INTO entries (listing_id, name, node_id, position) VALUES (?, ?, ?, "
        "(SELECT COALESCE(MAX(position), 0) + 1 FROM entries WHERE listing_id = ?))",
        (listing_id, name, node_id, listing_id),
    )


def pop(db: Db, directory: Node, name: str) -> None:
    """`directory.contents.pop(name)`."""
    db.execute(
        "DELETE FROM entries WHERE listing_id = ? AND name = ?", (directory.listing_id, name)
    )


def create_file(db: Db, name: str, content: str) -> int:
    return int(
        db.execute(
            "INSERT INTO nodes (kind, name, content) VALUES ('file', ?, ?)", (name, content)
        ).lastrowid
        or 0
    )


def create_directory(db: Db, name: str, parent_id: int | None) -> int:
    """A new Directory object with an empty contents dict of its own."""
    listing_id = new_listing(db)
    return int(
        db.execute(
            "INSERT INTO nodes (kind, name, parent_id, listing_id) VALUES ('directory', ?, ?, ?)",
            (name, parent_id, listing_id),
        ).lastrowid
        or 0
    )


def add_file(db: Db, directory: Node, name: str, content: str = "") -> None:
    """`Directory._add_file`, which raises (ValueError in the original) on a taken name."""
    if get_item(db, directory, name) is not None:
        raise ToolError(f"File '{name}' already exists in directory '{directory.name}'.")
    put(db, _listing(directory), name, create_file(db, name, content))


def add_directory(db: Db, directory: Node, name: str) -> Node:
    """`Directory._add_directory`: a new, empty subdirectory whose parent is `directory`."""
    if get_item(db, directory, name) is not None:
        raise ToolError(f"Directory '{name}' already exists in directory '{directory.name}'.")
    new_id = create_directory(db, name, directory.id)
    put(db, _listing(directory), name, new_id)
    return node(db, new_id)


def share_contents(db: Db, directory: Node, source: Node) -> None:
    """`directory.contents = source.contents`: both objects now use the same dict."""
    db.execute("UPDATE nodes SET listing_id = ? WHERE id = ?", (source.listing_id, directory.id))


def copy_contents(db: Db, directory: Node, source: Node) -> None:
    """`directory.contents = source.contents.copy()`: a new dict holding the same objects."""
    listing_id = new_listing(db)
    db.execute(
        "INSERT INTO entries (listing_id, name, node_id, position) "
        "SELECT ?, name, node_id, position FROM entries WHERE listing_id = ?",
        (listing_id, source.listing_id),
    )
    db.execute("UPDATE nodes SET listing_id = ? WHERE id = ?", (listing_id, directory.id))


def _listing(directory: Node) -> int:
    if directory.listing_id is None:  # only directories are ever passed here
        raise ToolError(f"'{directory.name}' is not a directory")
    return directory.listing_id


def walk(
    db: Db,
    directory: Node,
    visit: Callable[[str, Node, T], T],
    context: T,
) -> None:
    """The original's recursive walk over `contents.items()`, depth first, in order.

    `visit(name, node, context)` returns the context for the node's own children. A walk
    that re-enters a dict already on its stack would recurse forever in the original, which
    then raises RecursionError; so does this one (as a ToolError).
    """
    stack: list[int | None] = []

    def recurse(listing_id: int | None, ctx: T) -> None:
        if listing_id in stack:
            raise ToolError(RECURSION_MESSAGE)
        stack.append(listing_id)
        for name, item in items(db, listing_id):
            child_ctx = visit(name, item, ctx)
            if item.is_directory:
                recurse(item.listing_id, child_ctx)
        stack.pop()

    recurse(directory.listing_id, context)


def ancestors(db: Db, directory: Node) -> Iterator[Node]:
    """The directory, then its parent, grandparent, ... up to a parentless one."""
    at: Node | None = directory
    while at is not None:
        yield at
        at = None if at.parent_id is None else node(db, at.parent_id)


_LIVE = """
WITH RECURSIVE live(id) AS (
    SELECT root_id FROM fs_state
    UNION SELECT current_id FROM fs_state
    UNION SELECT n.parent_id FROM live JOIN nodes n ON n.id = live.id
          WHERE n.parent_id IS NOT NULL
    UNION SELECT e.node_id FROM live JOIN nodes n ON n.id = live.id
          JOIN entries e ON e.listing_id = n.listing_id
)
"""


def collect_garbage(db: Db) -> None:
    """Delete what the original could no longer reach (Python would have collected it).

    Reachable: the root, the current directory, the parent chain of anything reachable,
    and every item of a reachable directory's dict.
    """
    live_listings = (
        "SELECT n.listing_id FROM nodes n WHERE n.id IN live AND n.listing_id IS NOT NULL"
    )
    db.execute(f"{_LIVE} DELETE FROM entries WHERE listing_id NOT IN ({live_listings})")
    db.execute(f"{_LIVE} DELETE FROM nodes WHERE id NOT IN live")
    db.execute(
        "DELETE FROM listings WHERE id NOT IN "
        "(SELECT listing_id FROM nodes WHERE listing_id IS NOT NULL)"
    )
