"""Release loader: counts, shapes, hash pinning, trust-on-first-use and offline behaviour."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from eigencore.bfcl.release import (
    CATEGORIES,
    CLASS_DOC_FILES,
    DEFAULT_VERSION,
    HOLDOUT_PROMPT,
    KNOWN_SHA256,
    Entry,
    Release,
    ReleaseIntegrityError,
    ReleaseUnavailable,
    cache_root,
    load_release,
)


def test_counts_and_shapes(release: Release, all_entries: list[Entry]) -> None:
    assert release.version == DEFAULT_VERSION
    assert release.sha256 == KNOWN_SHA256[DEFAULT_VERSION]
    per_category = Counter(entry.category for entry in all_entries)
    assert per_category == {category: 200 for category in CATEGORIES}
    assert len(all_entries) == 800
    assert len({entry.id for entry in all_entries}) == 800
    for entry in all_entries:
        assert entry.id == f"multi_turn_{entry.category}_{entry.id.rsplit('_', 1)[1]}"
        assert len(entry.ground_truth) == len(entry.question) > 0
        assert all(isinstance(call, str) for turn in entry.ground_truth for call in turn)
        assert entry.involved_classes and set(entry.involved_classes) <= set(CLASS_DOC_FILES)
        assert entry.long_context == (entry.category == "long_context")
        assert bool(entry.missed_function) == (entry.category == "miss_func")
    assert sum(len(turn) for entry in all_entries for turn in entry.ground_truth) == 4700


def test_ground_truth_matches_entries(release: Release) -> None:
    for category in CATEGORIES:
        truth = release.ground_truth(category)
        entries = release.entries(category)
        assert set(truth) == {entry.id for entry in entries}
        assert all(truth[entry.id] == entry.ground_truth for entry in entries)


def test_miss_func_turns(release: Release) -> None:
    for entry in release.entries("miss_func"):
        ((turn, names),) = entry.missed_function.items()
        index = int(turn)
        # The reveal turn has no user question; the turn before is the one the model
        # cannot serve (empty truth); the reveal turn's truth is non-empty.
        assert entry.question[index] == []
        assert entry.ground_truth[index - 1] == []
        assert entry.ground_truth[index]
        assert entry.turn_messages(index) == [{"role": "user", "content": HOLDOUT_PROMPT}]
        assert entry.withheld_functions(index - 1) == set(names)
        assert entry.withheld_functions(index) == set()


def test_func_docs_and_sources(release: Release) -> None:
    names = [doc["name"] for cls in CLASS_DOC_FILES for doc in release.func_docs(cls)]
    assert len(names) == len(set(names)) == 129
    assert {"mv", "cd", "ls", "mean", "logarithm", "book_flight"} <= set(names)
    modules = set(release.source_modules())
    assert {Path(name).stem for name in CLASS_DOC_FILES.values()} | {"long_context"} <= modules
    assert "class GorillaFileSystem" in release.source("gorilla_file_system")
    assert "CREDIT_CARD_EXTENSION" in release.source("long_context.py")
    with pytest.raises(ValueError):
        release.func_docs("NoSuchAPI")


def test_accessors_return_fresh_objects(release: Release) -> None:
    first = release.entries("base")[0]
    first.question[0].clear()
    first.initial_config.clear()
    first.ground_truth[0].append("rm(file_name='x')")
    release.func_docs("MathAPI")[0]["name"] = "changed"
    again = release.entries("base")[0]
    assert again.question[0] and again.initial_config
    assert "rm(file_name='x')" not in again.ground_truth[0]
    assert release.func_docs("MathAPI")[0]["name"] != "changed"


def test_unknown_category(release: Release) -> None:
    with pytest.raises(ValueError, match="unknown category"):
        release.entries("composite")


def test_cache_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EIGENDATA_CACHE", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "explicit"
    monkeypatch.delenv("EIGENDATA_CACHE")
    assert cache_root() == tmp_path / "xdg" / "eigendata"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "eigendata"


@pytest.mark.parametrize("version", ["../x", "", "1/2", "-r"])
def test_invalid_versions_rejected(version: str) -> None:
    with pytest.raises(ValueError):
        load_release(version, download=False)


def _isolated_cache(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setenv("EIGENDATA_CACHE", str(root))


def test_tampered_pinned_wheel_rejected(
    release: Release, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _isolated_cache(monkeypatch, tmp_path)
    directory = tmp_path / "bfcl" / DEFAULT_VERSION
    directory.mkdir(parents=True)
    wheel = directory / release.path.name
    shutil.copyfile(release.path, wheel)
    # A wheel placed by hand is adopted when its hash matches the pin.
    loaded = load_release(download=False)
    assert loaded.path == wheel and loaded.sha256 == KNOWN_SHA256[DEFAULT_VERSION]
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["sha256"] == KNOWN_SHA256[DEFAULT_VERSION]

    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF
    wheel.write_bytes(bytes(data))
    with pytest.raises(ReleaseIntegrityError, match="sha256") as excinfo:
        load_release(download=False)
    assert "eigen bfcl fetch --release 2025.6.8" in str(excinfo.value)

    # Rewriting the manifest to the tampered hash does not help: the default release is pinned.
    manifest["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ReleaseIntegrityError, match="pinned"):
        load_release(download=False)


def test_unknown_version_trust_on_first_use(
    release: Release, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _isolated_cache(monkeypatch, tmp_path)
    version = "0.0.1"
    directory = tmp_path / "bfcl" / version
    directory.mkdir(parents=True)
    wheel = directory / f"bfcl_eval-{version}-py3-none-any.whl"
    shutil.copyfile(release.path, wheel)
    first = load_release(version, download=False)
    assert first.sha256 == release.sha256
    assert json.loads((directory / "manifest.json").read_text())["sha256"] == release.sha256
    assert len(first.entries("base")) == 200
    with wheel.open("ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ReleaseIntegrityError, match="recorded"):
        load_release(version, download=False)


def _offline_pip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # ignore machine pip.conf indexes
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "2")


def _assert_names_commands(message: str) -> None:
    assert "eigen bfcl fetch --release 2025.6.8" in message
    assert "pip download --no-deps --only-binary=:all: bfcl-eval==2025.6.8" in message


def test_offline_cold_cache_raises_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _isolated_cache(monkeypatch, tmp_path / "cache")
    _offline_pip(monkeypatch, tmp_path)
    started = time.monotonic()
    with pytest.raises(ReleaseUnavailable) as excinfo:
        load_release()
    assert time.monotonic() - started < 60
    _assert_names_commands(str(excinfo.value))
    assert not list((tmp_path / "cache").rglob("*.whl"))


def test_no_download_cold_cache_raises_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _isolated_cache(monkeypatch, tmp_path)
    with pytest.raises(ReleaseUnavailable) as excinfo:
        load_release(download=False)
    _assert_names_commands(str(excinfo.value))


def test_load_returns_the_cached_release(release: Release) -> None:
    assert load_release() is release
