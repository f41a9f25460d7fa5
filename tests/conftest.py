"""Fixtures shared by the tests: the showcase bundle, a tiny second domain, and the pinned BFCL
release (skipped only when offline outside CI; in CI a missing release fails)."""

from __future__ import annotations

import os
from typing import Annotated

import pytest
from pydantic import Field

from eigencore.bfcl.release import Entry, Release, ReleaseUnavailable, load_release
from environments import registry
from environments.contract import Db, DomainBundle, ToolError, tool
from environments.rules import ComparisonRules, TableRule


@pytest.fixture(scope="session")
def library() -> DomainBundle:
    return registry.get("library")


@tool(read_only=True)
def count_notes(db: Db) -> int:
    """Count the notes."""
    return db.execute("SELECT COUNT(*) FROM notes").fetchone()[0]


@tool
def add_note(db: Db, title: Annotated[str, Field(min_length=1)], body: str = "") -> dict:
    """Add a note.

    Args:
        title: Unique title.
        body: Free text.
    """
    db.execute("INSERT INTO notes (title, body) VALUES (?, ?)", (title, body))
    return {"title": title}


@tool
def add_then_fail(db: Db, title: str) -> dict:
    """Write a row, then refuse: the write must not survive."""
    db.execute("INSERT INTO notes (title, body) VALUES (?, 'x')", (title,))
    raise ToolError("refused after writing", kind="not_allowed")


@tool(read_only=True)
def sneaky_read(db: Db) -> int:
    """Claims to be read-only but writes."""
    db.execute("DELETE FROM notes")
    return 0


NOTES = DomainBundle(
    name="notes",
    description="A minimal notes domain used by the tests.",
    schema_sql="CREATE TABLE notes (note_id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE,"
    " body TEXT NOT NULL DEFAULT '', score REAL);",
    tools=[t.__eigen_tool__ for t in (count_notes, add_note, add_then_fail, sneaky_read)],
    rules=ComparisonRules(tables={"notes": TableRule(natural_key=("title",),
                                                     ignore=frozenset({"note_id"}),
                                                     free_text=frozenset({"body"}))}),
    default_scenario={"tables": {"notes": [{"title": "first", "body": "Hello, world",
                                            "score": 25}]}},
)


@pytest.fixture(scope="session")
def notes() -> DomainBundle:
    return NOTES


@pytest.fixture(scope="session")
def release() -> Release:
    try:
        return load_release()
    except ReleaseUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"BFCL release unavailable in CI: {exc}")
        pytest.skip(f"BFCL release unavailable (offline?): {exc}")


@pytest.fixture(scope="session")
def all_entries(release: Release) -> list[Entry]:
    return release.all_entries()
