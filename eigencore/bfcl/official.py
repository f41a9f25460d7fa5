"""BFCL's OFFICIAL multi-turn checker, run in an isolated subprocess, for verification only.

Why a subprocess: the official checker executes call strings with ``eval`` (after a regex that
prefixes method names with cached instance names) and keeps instances in module globals keyed by
model name and entry id; its environment classes keep mutable module-level state. None of that
may run inside this project's processes. So:

* The wheel (hash-checked by :mod:`eigencore.bfcl.release`) and ``mpmath==1.3.0`` are installed
  once, without dependencies, into a private directory ``<cache>/bfcl/<version>/site``
  (``pip install --no-deps --target``); nothing is installed into the project's environment.
* :mod:`eigencore.bfcl.official_driver` is run as a script with ``sys.executable -s -P``,
  ``PYTHONPATH=<site>`` and ``BFCL_PROJECT_ROOT``/working directory set to a temporary directory
  (so nothing is created inside the install). It reads JSONL cases and writes JSONL verdicts.
* Only trajectories whose every call parses with :func:`~eigencore.bfcl.calls.parse_call` (plain
  name, literal arguments) and names a documented BFCL function are sent; anything else raises
  :class:`UnsafeCall` before the subprocess starts. In this project those trajectories are the
  ground truth and perturbations of it re-serialised with ``format_call``: never model output.
* Each case gets fresh instances and freshly imported BFCL modules (see the driver).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eigencore.bfcl.calls import CallParseError, parse_call
from eigencore.bfcl.release import CLASS_DOC_FILES, Release, ReleaseError, cache_root, load_release

__all__ = [
    "MPMATH_REQUIREMENT",
    "OfficialCase",
    "OfficialUnavailable",
    "OfficialVerdict",
    "UnsafeCall",
    "install_official",
    "run_official",
]

MPMATH_REQUIREMENT = "mpmath==1.3.0"
DRIVER = Path(__file__).with_name("official_driver.py")
_MARKER = "installed.json"
_PIP_TIMEOUT_S = 600


class OfficialUnavailable(ReleaseError):
    """The official checker could not be installed or run."""


class UnsafeCall(ValueError):
    """A call string that must not reach the official checker's ``eval``."""


@dataclass(frozen=True)
class OfficialCase:
    """One candidate: an entry id and a decoded trajectory (turns -> steps -> call strings)."""

    case: str
    entry_id: str
    trajectory: Sequence[Sequence[Sequence[str]]]


@dataclass(frozen=True)
class OfficialVerdict:
    case: str
    entry_id: str
    valid: bool | None
    error_type: str | None
    turn: int | None
    error_message: str | None
    state_class: str | None
    state_attributes: list[str] | None
    missing_items: list[str] | None
    crash: str | None

    def summary(self) -> dict[str, Any]:
        return {"valid": self.valid, "error_type": self.error_type, "turn": self.turn}


def _site_dir(release: Release) -> Path:
    return cache_root() / "bfcl" / release.version / "site"


def _installed(site: Path, release: Release) -> bool:
    try:
        marker = json.loads((site / _MARKER).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return marker.get("sha256") == release.sha256 and (site / "bfcl_eval").is_dir()


def install_official(release: Release | None = None) -> Path:
    """Install the wheel + mpmath into the private site directory (once); return it."""
    release = release if release is not None else load_release()
    site = _site_dir(release)
    if _installed(site, release):
        return site
    site.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".site-", dir=site.parent))
    try:
        cmd = [
            sys.executable, "-m", "pip", "install", "--no-deps", "--no-input",
            "--disable-pip-version-check", "--target", str(staging),
            str(release.path), MPMATH_REQUIREMENT,
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S,
                                  stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OfficialUnavailable(f"could not run pip: {exc}") from exc
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            raise OfficialUnavailable(f"installing the official checker failed: {tail}")
        marker = {"wheel": release.path.name, "sha256": release.sha256,
                  "extra": [MPMATH_REQUIREMENT]}
        (staging / _MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        if _installed(site, release):  # a concurrent install finished meanwhile
            return site
        if site.exists():
            shutil.rmtree(site)  # stale or partial install of another wheel
        try:
            os.replace(staging, site)
        except OSError:
            if not _installed(site, release):  # lost a race to a concurrent, valid install
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return site


def _allowed_names(release: Release) -> frozenset[str]:
    return frozenset(doc["name"] for cls in CLASS_DOC_FILES for doc in release.func_docs(cls))


def _check_safe(case: OfficialCase, allowed: frozenset[str]) -> None:
    for t, turn in enumerate(case.trajectory):
        for step in turn:
            for call in step:
                try:
                    name = parse_call(call).name
                except CallParseError as exc:
                    raise UnsafeCall(f"{case.case} turn {t}: {exc}") from exc
                if name not in allowed:
                    raise UnsafeCall(f"{case.case} turn {t}: {name!r} is not a BFCL function")


def _run_chunk(site: Path, cases: Sequence[OfficialCase], shared_modules: bool,
               timeout: float) -> list[dict[str, Any]]:
    payload = "".join(
        json.dumps({"case": c.case, "id": c.entry_id,
                    "result": [[list(step) for step in turn] for turn in c.trajectory]}) + "\n"
        for c in cases
    )
    with tempfile.TemporaryDirectory(prefix="bfcl-official-") as workdir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(PYTHONPATH=str(site), BFCL_PROJECT_ROOT=workdir, PYTHONHASHSEED="0",
                   PYTHONIOENCODING="utf-8")
        cmd = [sys.executable, "-s", "-P", str(DRIVER), "--site", str(site)]
        if shared_modules:
            cmd.append("--shared-modules")
        try:
            proc = subprocess.run(cmd, input=payload, capture_output=True, text=True, env=env,
                                  cwd=workdir, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise OfficialUnavailable(f"official checker timed out after {timeout} s") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
        raise OfficialUnavailable(f"official checker driver failed ({proc.returncode}): {tail}")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    if len(rows) != len(cases):
        raise OfficialUnavailable(f"driver returned {len(rows)} verdicts for {len(cases)} cases")
    return rows


def run_official(
    cases: Iterable[OfficialCase],
    *,
    release: Release | None = None,
    workers: int = 1,
    shared_modules: bool = False,
    timeout: float = 1800.0,
) -> list[OfficialVerdict]:
    """Official verdicts for ``cases`` (in order), from ``workers`` driver subprocesses."""
    release = release if release is not None else load_release()
    cases = list(cases)
    allowed = _allowed_names(release)
    for case in cases:
        _check_safe(case, allowed)
    if not cases:
        return []
    site = install_official(release)
    workers = max(1, min(workers, len(cases)))
    # Contiguous chunks: per-case isolation makes the split irrelevant to the verdicts.
    size = -(-len(cases) // workers)
    chunks = [cases[i : i + size] for i in range(0, len(cases), size)]
    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        parts = list(pool.map(lambda c: _run_chunk(site, c, shared_modules, timeout), chunks))
    rows = [row for part in parts for row in part]
    verdicts = []
    for case, row in zip(cases, rows, strict=True):
        if row.get("case") != case.case:
            raise OfficialUnavailable(f"verdict for {row.get('case')!r} out of order")
        verdicts.append(OfficialVerdict(
            case=case.case, entry_id=case.entry_id, valid=row.get("valid"),
            error_type=row.get("error_type"), turn=row.get("turn"),
            error_message=row.get("error_message"), state_class=row.get("state_class"),
            state_attributes=row.get("state_attributes"),
            missing_items=row.get("missing_items"), crash=row.get("crash"),
        ))
    return verdicts
