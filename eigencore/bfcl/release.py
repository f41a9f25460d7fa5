"""Pinned, hash-checked BFCL-V3 multi-turn release read straight from the ``bfcl-eval`` wheel.

The wheel is fetched once with ``pip download --no-deps`` (its dependencies are ~6 GB and none
is needed for multi-turn), kept in the user cache and read as a zip file. Nothing of
``bfcl_eval`` is installed or imported: importing its package ``__init__``s creates result
directories inside site-packages.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CATEGORIES",
    "CLASS_DOC_FILES",
    "CLASS_MODULES",
    "DEFAULT_VERSION",
    "DISTRIBUTION",
    "HOLDOUT_PROMPT",
    "KNOWN_SHA256",
    "MAX_STEPS_PER_TURN",
    "Entry",
    "Release",
    "ReleaseError",
    "ReleaseIntegrityError",
    "ReleaseUnavailable",
    "cache_root",
    "fetch_release",
    "load_release",
    "pip_download_command",
]

DISTRIBUTION = "bfcl-eval"
DEFAULT_VERSION = "2025.6.8"  # BFCL-V3
KNOWN_SHA256: dict[str, str] = {
    "2025.6.8": "f93fee3a66d33f8ea09e5174b4ba72aa80732b31506be1043da8ffb23c299cc3",
}
CATEGORIES: tuple[str, ...] = ("base", "miss_func", "miss_param", "long_context")
# BFCL's user message for a miss_func turn whose question is empty (DEFAULT_USER_PROMPT_FOR_
# ADDITIONAL_FUNCTION_FC); the held-out function docs are added to the tools at that turn.
HOLDOUT_PROMPT = "I have updated some more functions you can choose from. What about now?"
# BFCL's MAXIMUM_STEP_LIMIT: model steps per turn before the entry is force-quit.
MAX_STEPS_PER_TURN = 20

# Same stems for the function docs (data/multi_turn_func_doc/<stem>.json) and the reference
# source (eval_checker/multi_turn_eval/func_source_code/<stem>.py), as in BFCL's own
# CLASS_FILE_PATH_MAPPING and MULTI_TURN_FUNC_DOC_FILE_MAPPING.
CLASS_MODULES: dict[str, str] = {
    "GorillaFileSystem": "gorilla_file_system",
    "MathAPI": "math_api",
    "MessageAPI": "message_api",
    "TwitterAPI": "posting_api",
    "TicketAPI": "ticket_api",
    "TradingBot": "trading_bot",
    "TravelAPI": "travel_booking",
    "VehicleControlAPI": "vehicle_control",
}
CLASS_DOC_FILES: dict[str, str] = {cls: f"{stem}.json" for cls, stem in CLASS_MODULES.items()}

_DATA = "bfcl_eval/data"
_SOURCE_DIR = "bfcl_eval/eval_checker/multi_turn_eval/func_source_code"
_MANIFEST = "manifest.json"
_VERSION_RE = re.compile(r"^[0-9][0-9A-Za-z.+!_-]*$")
_PIP_TIMEOUT_S = 600


class ReleaseError(RuntimeError):
    """Base class of release loading problems."""


class ReleaseUnavailable(ReleaseError):
    """The release is not cached and could not be downloaded."""


class ReleaseIntegrityError(ReleaseError):
    """A wheel's sha256 differs from the pinned or recorded one."""


class Entry(BaseModel):
    """One multi-turn test entry with its ground truth (one list of call strings per turn)."""

    model_config = ConfigDict(extra="allow")

    id: str
    category: str
    question: list[list[dict[str, Any]]]
    initial_config: dict[str, Any]
    involved_classes: list[str]
    path: list[Any] = Field(default_factory=list)
    missed_function: dict[str, list[str]] = Field(default_factory=dict)
    ground_truth: list[list[str]]

    @property
    def long_context(self) -> bool:
        """Whether BFCL loads this entry's scenario with ``long_context=True``.

        BFCL derives it from the id: ``"long_context" in category or "composite" in category``
        with ``category = id.rsplit("_", 1)[0]``.
        """
        test_category = self.id.rsplit("_", 1)[0]
        return "long_context" in test_category or "composite" in test_category

    def withheld_functions(self, turn_index: int) -> set[str]:
        """Function names whose docs the model does not have yet at ``turn_index`` (miss_func).

        BFCL removes every held-out doc up front and adds ``missed_function[str(t)]`` back at
        turn ``t``. It does not stop a call to a withheld function from executing.
        """
        return {
            name
            for turn, names in self.missed_function.items()
            if int(turn) > turn_index
            for name in names
        }

    def turn_messages(self, turn_index: int) -> list[dict[str, Any]]:
        """The user messages BFCL sends at ``turn_index`` (the hold-out prompt if revealed)."""
        if str(turn_index) in self.missed_function:
            return [{"role": "user", "content": HOLDOUT_PROMPT}]
        return [dict(message) for message in self.question[turn_index]]


def pip_download_command(version: str, dest: str | os.PathLike[str] = ".") -> list[str]:
    """The exact pip command used to obtain the wheel (no dependencies, wheel only)."""
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        f"{DISTRIBUTION}=={version}",
        "-d",
        str(dest),
    ]


def cache_root() -> Path:
    """``$EIGENDATA_CACHE``, else ``$XDG_CACHE_HOME/eigendata``, else ``~/.cache/eigendata``."""
    explicit = os.environ.get("EIGENDATA_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "eigendata"


def _check_version(version: str) -> str:
    # The version names a cache directory and a pip requirement: keep it a plain token.
    if not isinstance(version, str) or not _VERSION_RE.match(version) or ".." in version:
        raise ValueError(f"invalid {DISTRIBUTION} version {version!r}")
    return version


def _release_dir(version: str) -> Path:
    return cache_root() / "bfcl" / version


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_hint(version: str) -> str:
    cmd = " ".join(pip_download_command(version, _release_dir(version)))
    return (
        f"run `eigen bfcl fetch --release {version}` while online, or download the wheel "
        f"yourself with `{cmd}` (then load it once to record its manifest)"
    )


def _read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / _MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise ReleaseIntegrityError(f"unreadable manifest {directory / _MANIFEST}: {exc}") from exc
    if not isinstance(data, dict) or not {"wheel", "sha256", "version"} <= data.keys():
        raise ReleaseIntegrityError(f"malformed manifest {directory / _MANIFEST}: {data!r:.200}")
    return data


def _write_manifest(directory: Path, version: str, wheel: Path, sha256: str) -> None:
    manifest = {
        "distribution": DISTRIBUTION,
        "version": version,
        "wheel": wheel.name,
        "sha256": sha256,
        "pinned": version in KNOWN_SHA256,
    }
    tmp = directory / f".{_MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, directory / _MANIFEST)


def _verify(version: str, wheel: Path, expected: str | None) -> str:
    actual = _sha256(wheel)
    pinned = KNOWN_SHA256.get(version)
    for label, want in (("pinned", pinned), ("recorded", expected)):
        if want is not None and actual != want:
            raise ReleaseIntegrityError(
                f"{DISTRIBUTION} {version} wheel {wheel} has sha256 {actual}, but the {label} "
                f"sha256 is {want}. The file was modified or replaced; delete "
                f"{wheel.parent} and fetch it again ({_fetch_hint(version)})."
            )
    return actual


def _adopt_local_wheel(version: str, directory: Path) -> Path | None:
    """A wheel placed by hand (e.g. via the raw pip command) but not yet recorded."""
    wheels = sorted(directory.glob(f"bfcl_eval-{version}-*.whl"))
    if len(wheels) != 1:
        return None
    _verify(version, wheels[0], None)
    return wheels[0]


def fetch_release(version: str = DEFAULT_VERSION) -> Path:
    """Download the wheel into the cache (if not there yet) and return its path.

    The hash of the default release is pinned; other versions are trusted on first use:
    their hash is recorded now and checked on every later load.
    """
    version = _check_version(version)
    directory = _release_dir(version)
    manifest = _read_manifest(directory)
    if manifest is not None and (directory / manifest["wheel"]).is_file():
        wheel = directory / manifest["wheel"]
        _verify(version, wheel, manifest["sha256"])
        return wheel
    local = _adopt_local_wheel(version, directory) if directory.is_dir() else None
    if local is not None:
        _write_manifest(directory, version, local, _sha256(local))
        return local
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bfcl-fetch-", dir=directory) as tmp:
        cmd = pip_download_command(version, tmp)
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=_PIP_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReleaseUnavailable(
                f"{DISTRIBUTION} {version} is not cached in {directory} and pip could not be "
                f"run ({exc}); {_fetch_hint(version)}"
            ) from exc
        wheels = sorted(Path(tmp).glob(f"bfcl_eval-{version}-*.whl"))
        if proc.returncode != 0 or len(wheels) != 1:
            tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-5:])
            raise ReleaseUnavailable(
                f"{DISTRIBUTION} {version} is not cached in {directory} and downloading it "
                f"failed (pip exit {proc.returncode}: {tail or 'no wheel produced'}); "
                f"{_fetch_hint(version)}"
            )
        digest = _verify(version, wheels[0], None)
        target = directory / wheels[0].name
        shutil.move(str(wheels[0]), target)
    _write_manifest(directory, version, target, digest)
    return target


def _jsonl(raw: bytes, member: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for lineno, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ReleaseError(f"{member}:{lineno}: invalid JSON line: {exc}") from exc
    return rows


@dataclass(frozen=True, eq=False)
class Release:
    """A verified ``bfcl-eval`` wheel. Every accessor returns freshly parsed objects."""

    version: str
    path: Path
    sha256: str
    _members: dict[str, bytes] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _read(self, member: str) -> bytes:
        # Raw bytes are cached (immutable); parsing per call hands out independent objects.
        with self._lock:
            if member not in self._members:
                try:
                    with zipfile.ZipFile(self.path) as zf:
                        self._members[member] = zf.read(member)
                except KeyError as exc:
                    raise ReleaseError(
                        f"{member} is not in {self.path.name} ({DISTRIBUTION} {self.version})"
                    ) from exc
            return self._members[member]

    def names(self) -> list[str]:
        """All member names of the wheel."""
        with zipfile.ZipFile(self.path) as zf:
            return zf.namelist()

    def entries(self, category: str) -> list[Entry]:
        """The 200 entries of ``BFCL_v3_multi_turn_<category>.json`` with their ground truth."""
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
        member = f"{_DATA}/BFCL_v3_multi_turn_{category}.json"
        questions = _jsonl(self._read(member), member)
        truth = self.ground_truth(category)
        entries: list[Entry] = []
        for row in questions:
            entry_id = row.get("id")
            if entry_id not in truth:
                raise ReleaseError(f"{member}: entry {entry_id!r} has no ground truth")
            gt = truth[entry_id]
            if len(gt) != len(row.get("question", [])):
                raise ReleaseError(
                    f"{entry_id}: {len(row.get('question', []))} question turns but "
                    f"{len(gt)} ground-truth turns"
                )
            entries.append(Entry.model_validate({**row, "category": category, "ground_truth": gt}))
        return entries

    def all_entries(self) -> list[Entry]:
        """The entries of all four categories (800 for BFCL-V3), in category order."""
        return [entry for category in CATEGORIES for entry in self.entries(category)]

    def ground_truth(self, category: str) -> dict[str, list[list[str]]]:
        """Entry id -> per-turn lists of ground-truth call strings."""
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
        member = f"{_DATA}/possible_answer/BFCL_v3_multi_turn_{category}.json"
        return {row["id"]: row["ground_truth"] for row in _jsonl(self._read(member), member)}

    def func_docs(self, class_name: str) -> list[dict[str, Any]]:
        """The function docs (JSON schema-like dicts) BFCL shows the model for a class."""
        if class_name not in CLASS_DOC_FILES:
            raise ValueError(
                f"unknown class {class_name!r}; expected one of {list(CLASS_DOC_FILES)}"
            )
        member = f"{_DATA}/multi_turn_func_doc/{CLASS_DOC_FILES[class_name]}"
        return _jsonl(self._read(member), member)

    def source(self, module_name: str) -> str:
        """Source text of ``func_source_code/<module_name>.py`` (e.g. ``"long_context"``)."""
        stem = module_name.removesuffix(".py").rsplit(".", 1)[-1]
        if not stem.isidentifier():
            raise ValueError(f"invalid module name {module_name!r}")
        return self._read(f"{_SOURCE_DIR}/{stem}.py").decode("utf-8")

    def source_modules(self) -> list[str]:
        """Stems of all modules in ``func_source_code``."""
        prefix = f"{_SOURCE_DIR}/"
        return sorted(
            name[len(prefix) : -3]
            for name in self.names()
            if name.startswith(prefix) and name.endswith(".py") and "/" not in name[len(prefix) :]
        )


_RELEASES: dict[tuple[str, str, str], Release] = {}
_RELEASES_LOCK = threading.Lock()


def load_release(version: str = DEFAULT_VERSION, *, download: bool = True) -> Release:
    """The verified release, from the cache or (if ``download``) fetched with pip.

    Works offline once cached. The wheel's sha256 is checked on every call.
    """
    version = _check_version(version)
    directory = _release_dir(version)
    manifest = _read_manifest(directory)
    local = None
    if manifest is None and directory.is_dir():
        local = _adopt_local_wheel(version, directory)
    if manifest is not None and (directory / manifest["wheel"]).is_file():
        if manifest["version"] != version:
            raise ReleaseIntegrityError(
                f"manifest in {directory} is for version {manifest['version']!r}, not {version!r}"
            )
        wheel = directory / manifest["wheel"]
        digest = _verify(version, wheel, manifest["sha256"])
    elif local is not None:
        digest = _sha256(local)
        _write_manifest(directory, version, local, digest)
        wheel = local
    elif download:
        wheel = fetch_release(version)
        digest = _sha256(wheel)
    else:
        raise ReleaseUnavailable(
            f"{DISTRIBUTION} {version} is not cached in {directory}; {_fetch_hint(version)}"
        )
    key = (version, str(wheel.resolve()), digest)
    with _RELEASES_LOCK:
        release = _RELEASES.get(key)
        if release is None:
            release = _RELEASES[key] = Release(version=version, path=wheel, sha256=digest)
    return release
