"""Shared fixtures for the BFCL tests: the pinned release, skipped only when offline outside CI."""

from __future__ import annotations

import os

import pytest

from eigencore.bfcl.release import Entry, Release, ReleaseUnavailable, load_release


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
