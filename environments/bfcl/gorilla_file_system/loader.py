"""Scenario loading: `GorillaFileSystem._load_scenario`, into tables.

Without a "root" key the original starts from its DEFAULT_STATE, an empty directory named
"/". With one, the first key names the root and its "contents" are loaded recursively. In
long-context mode every file not listed in FILES_TAIL_USED gets FILE_CONTENT_EXTENSION
appended, and every directory without subdirectories is filled with the empty files of
POPULATE_FILE_EXTENSION (after its own items, as the original adds them last).
"""

from __future__ import annotations

from typing import Any

from eigencore.audit.code_fixes import mark_repaired
from environments.bfcl.common import release_constant
from environments.bfcl.gorilla_file_system import tree
from environments.contract import Db, Scenario

DEFAULT_ROOT_NAME = "/"  # DEFAULT_STATE = {"root": Directory("/", None)} is not a literal


def load(db: Db, scenario: Scenario) -> None:
    config: dict[str, Any] = scenario.get("config") or {}
    long_context = bool(scenario.get("long_context", False))
    if "root" in config:
        root_name = next(iter(config["root"]))
        root_id = tree.create_directory(db, root_name, None)
        extension = _LongContext() if long_context else None
        _load_directory(db, config["root"][root_name]["contents"], root_id, extension)
    else:
        root_id = tree.create_directory(db, DEFAULT_ROOT_NAME, None)
    db.execute(
        "INSERT INTO fs_state (id, root_id, current_id, long_context) VALUES (1, ?, ?, ?)",
        (root_id, root_id, int(long_context)),
    )
    mark_repaired(db, "fs_state", scenario)  # repaired mode: eigencore.audit.code_fixes


class _LongContext:
    """The release's long-context extensions, read once per load."""

    def __init__(self) -> None:
        self.tail_used: list[str] = release_constant("long_context", "FILES_TAIL_USED")
        self.content: str = release_constant("long_context", "FILE_CONTENT_EXTENSION")
        self.populate: list[str] = release_constant("long_context", "POPULATE_FILE_EXTENSION")


def _load_directory(db: Db, contents: dict[str, Any], directory_id: int,
                    extension: _LongContext | None) -> None:
    directory = tree.node(db, directory_id)
    assert directory.listing_id is not None
    is_bottommost = True
    for name, data in contents.items():
        # The original assigns `parent.contents[name] = ...` directly (no duplicate check),
        # and silently skips items whose type is neither "directory" nor "file".
        if data["type"] == "directory":
            is_bottommost = False
            child_id = tree.create_directory(db, name, directory_id)
            _load_directory(db, data["contents"], child_id, extension)
            tree.put(db, directory.listing_id, name, child_id)
        elif data["type"] == "file":
            content = data["content"]
            if extension is not None and name not in extension.tail_used:
                content += extension.content
            tree.put(db, directory.listing_id, name, tree.create_file(db, name, content))
    if is_bottommost and extension is not None:
        for file_name in extension.populate:
            tree.add_file(db, directory, file_name)
