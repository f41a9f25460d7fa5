"""Fixtures the repair tests share: every entry of the release by id, and the audit context
(the base tasks by number) the trajectory audit runs in."""

from __future__ import annotations

import pytest

from eigencore.audit.trajectory import AuditContext, base_number
from eigencore.bfcl.release import CATEGORIES, Entry, Release


@pytest.fixture(scope="module")
def entries(release: Release) -> dict[str, Entry]:
    return {e.id: e for c in CATEGORIES for e in release.entries(c)}


@pytest.fixture(scope="module")
def ctx(release: Release, entries: dict[str, Entry]) -> AuditContext:
    bases = {base_number(e): e for e in entries.values() if e.category == "base"}
    return AuditContext(release=release, bases=bases)
