"""The repaired benchmark in BFCL's own file layout, and the proof that it is a drop-in.

`write_bfcl(entries, out, release)` writes what ``bfcl_eval/data`` holds for multi-turn:

    out/BFCL_v3_multi_turn_<category>.json                  questions (JSON lines)
    out/possible_answer/BFCL_v3_multi_turn_<category>.json  {"id", "ground_truth"}
    out/multi_turn_func_doc/<stem>.json                     function docs

with the wheel's record shapes and key order (`id`, `question`, `initial_config`, `path`,
`involved_classes`, and `missed_function` in miss_func). An entry that was not repaired is
written as the wheel's own line. Function docs are copied through unchanged unless a
schema patch (class -> patched docs) is supplied.

`check_drop_in(out, release)` loads those files with BFCL's OWN loaders (`load_file`,
`find_file_with_suffix`, sorted by id as `evaluate_task` does), attaches the function docs and
takes the held-out ones out as `process_multi_turn_test_case` does, and runs BFCL's OFFICIAL
`multi_turn_checker` with each entry's repaired ground truth as the model result, in the
isolated subprocess of `eigencore.bfcl.official` (same private install, same per-case module
reset). Every entry must be valid. As there, every call string is parsed and checked to name
a documented BFCL function before the checker (which `eval`s them) sees it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eigencore.bfcl.calls import CallParseError, parse_call
from eigencore.bfcl.official import DRIVER as OFFICIAL_DRIVER
from eigencore.bfcl.official import OfficialUnavailable, UnsafeCall, install_official
from eigencore.bfcl.release import CATEGORIES, CLASS_DOC_FILES, Entry, Release

__all__ = [
    "DropInReport",
    "answer_path",
    "check_drop_in",
    "doc_path",
    "question_path",
    "read_bfcl",
    "write_bfcl",
]

_DATA = "bfcl_eval/data"
_QUESTION_KEYS = ("id", "question", "initial_config", "path", "involved_classes")


def question_path(out: Path, category: str) -> Path:
    return out / f"BFCL_v3_multi_turn_{category}.json"


def answer_path(out: Path, category: str) -> Path:
    return out / "possible_answer" / f"BFCL_v3_multi_turn_{category}.json"


def doc_path(out: Path, class_name: str) -> Path:
    return out / "multi_turn_func_doc" / CLASS_DOC_FILES[class_name]


def _question_row(entry: Entry) -> dict[str, Any]:
    row = {key: getattr(entry, key) for key in _QUESTION_KEYS}
    if entry.category == "miss_func":
        row["missed_function"] = entry.missed_function
    row.update(entry.model_extra or {})
    return row


def _jsonl(rows: Sequence[dict[str, Any]]) -> str:
    # BFCL's write_list_of_dicts_to_file: json.dumps per row, no newline after the last.
    return "\n".join(json.dumps(row) for row in rows)


def _raw_lines(release: Release, member: str) -> dict[str, str]:
    text = release._read(member).decode("utf-8")
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip():
            out[json.loads(line)["id"]] = line
    return out


def write_bfcl(
    entries: Sequence[Entry],
    out: Path,
    release: Release,
    *,
    schema_patches: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> list[Path]:
    """Write the entries (all four categories expected) in BFCL's layout; return the files."""
    patches = dict(schema_patches or {})
    unknown = set(patches) - set(CLASS_DOC_FILES)
    if unknown:
        raise ValueError(f"schema patches for unknown classes {sorted(unknown)}")
    written: list[Path] = []
    originals = {e.id: e for c in CATEGORIES for e in release.entries(c)}
    for category in CATEGORIES:
        rows = [e for e in entries if e.category == category]
        if not rows:
            continue
        questions = _raw_lines(release, f"{_DATA}/BFCL_v3_multi_turn_{category}.json")
        answers = _raw_lines(release, f"{_DATA}/possible_answer/BFCL_v3_multi_turn_{category}.json")
        q_lines, a_lines = [], []
        for e in rows:
            same = originals.get(e.id)
            unchanged = same is not None and same == e
            q_lines.append(questions[e.id] if unchanged else json.dumps(_question_row(e)))
            a_lines.append(
                answers[e.id]
                if unchanged
                else json.dumps({"id": e.id, "ground_truth": e.ground_truth})
            )
        for path, lines in (
            (question_path(out, category), q_lines),
            (answer_path(out, category), a_lines),
        ):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines), encoding="utf-8")
            written.append(path)
    for class_name, stem in CLASS_DOC_FILES.items():
        path = doc_path(out, class_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if class_name in patches:
            path.write_text(_jsonl([dict(d) for d in patches[class_name]]), encoding="utf-8")
        else:
            path.write_bytes(release._read(f"{_DATA}/multi_turn_func_doc/{stem}"))
        written.append(path)
    return written


def read_bfcl(out: Path, categories: Sequence[str] = CATEGORIES) -> list[Entry]:
    """The entries of a directory written by `write_bfcl` (questions joined with answers)."""
    entries: list[Entry] = []
    for category in categories:
        answers = {}
        for line in answer_path(out, category).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                answers[row["id"]] = row["ground_truth"]
        for line in question_path(out, category).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                entries.append(
                    Entry.model_validate(
                        {**row, "category": category, "ground_truth": answers[row["id"]]}
                    )
                )
    return entries


# --------------------------------------------------------------------------- drop-in check


@dataclass
class DropInReport:
    """What BFCL's own loaders read and what its official checker said."""

    loaded: dict[str, int] = field(default_factory=dict)
    """Category -> entries BFCL's loader read (questions paired with answers by sorted id)."""
    docs: dict[str, int] = field(default_factory=dict)
    """Doc file -> function docs loaded."""
    verdicts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def invalid(self) -> list[dict[str, Any]]:
        return [v for v in self.verdicts if v.get("valid") is not True]

    @property
    def ok(self) -> bool:
        return bool(self.verdicts) and not self.invalid


# Run as a script inside the private install (PYTHONPATH = the site dir only). It imports the
# official driver by path for its per-case isolation helpers; nothing of this project.
_DRIVER = r"""
import importlib.util, json, sys
from pathlib import Path

data, official, categories = Path(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
spec = importlib.util.spec_from_file_location("official_driver", official)
od = importlib.util.module_from_spec(spec)
spec.loader.exec_module(od)

from bfcl_eval.constants.category_mapping import MULTI_TURN_FUNC_DOC_FILE_MAPPING
from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_checker as checker_module
from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
from bfcl_eval.utils import find_file_with_suffix, is_multi_turn, load_file

docs = {cls: load_file(data / "multi_turn_func_doc" / name)
        for cls, name in MULTI_TURN_FUNC_DOC_FILE_MAPPING.items()}
print(json.dumps({"docs": {name: len(docs[cls])
                           for cls, name in MULTI_TURN_FUNC_DOC_FILE_MAPPING.items()}}), flush=True)
cache = vars(multi_turn_utils)
number = 0
for category in categories:
    test_category = "multi_turn_" + category
    # evaluate_task: the prompt and possible answer files found by suffix, sorted by id, and
    # paired by position in multi_turn_runner
    prompt = load_file(find_file_with_suffix(data, test_category), sort_by_id=True)
    answers = load_file(find_file_with_suffix(data / "possible_answer", test_category),
                        sort_by_id=True)
    assert is_multi_turn(test_category) and len(prompt) == len(answers), test_category
    print(json.dumps({"category": category, "loaded": len(prompt)}), flush=True)
    for entry, answer in zip(prompt, answers):
        number += 1
        record = {"id": entry["id"], "crash": None}
        try:
            assert entry["id"] == answer["id"], (entry["id"], answer["id"])
            # process_multi_turn_test_case: every involved class's docs, held-out ones removed
            functions = [d for cls in entry["involved_classes"] for d in docs[cls]]
            names = [d["name"] for d in functions]
            for turn, missed in entry.get("missed_function", {}).items():
                for name in missed:
                    assert name in names, f"held-out {name} has no doc"
            gt = answer["ground_truth"]
            assert len(gt) == len(entry["question"]), "question and answer turns differ"
            result = [[calls] if calls else [] for calls in gt]
            od._purge_source_modules()
            od._reset_numerics()
            model_name = f"eigen_dropin_{number}"
            raw = checker_module.multi_turn_checker(result, gt, entry,
                                                    entry["id"].rsplit("_", 1)[0], model_name)
            record.update(od._summarise(raw))
            for key in [k for k in cache if k.startswith(model_name + "_")]:
                del cache[key]
        except Exception as exc:
            record.update({"valid": None, "crash": f"{type(exc).__name__}: {exc}"})
        print(json.dumps(record, default=repr), flush=True)
"""


def _check_safe(out: Path, release: Release, categories: Sequence[str]) -> None:
    allowed = {d["name"] for c in CLASS_DOC_FILES for d in release.func_docs(c)}
    for category in categories:
        for line in answer_path(out, category).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            for t, calls in enumerate(row["ground_truth"]):
                for call in calls:
                    try:
                        name = parse_call(call).name
                    except CallParseError as exc:
                        raise UnsafeCall(f"{row['id']} turn {t}: {exc}") from exc
                    if name not in allowed:
                        raise UnsafeCall(f"{row['id']} turn {t}: {name!r} is not a BFCL function")


def check_drop_in(
    out: Path,
    release: Release,
    *,
    categories: Sequence[str] = CATEGORIES,
    timeout: float = 1800.0,
) -> DropInReport:
    """Load `out` with BFCL's loaders and check its ground truth with the official checker."""
    _check_safe(out, release, categories)
    site = install_official(release)
    report = DropInReport()
    with tempfile.TemporaryDirectory(prefix="bfcl-dropin-") as workdir:
        script = Path(workdir) / "dropin_driver.py"
        script.write_text(_DRIVER, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(
            PYTHONPATH=str(site),
            BFCL_PROJECT_ROOT=workdir,
            PYTHONHASHSEED="0",
            PYTHONIOENCODING="utf-8",
        )
        cmd = [
            sys.executable,
            "-s",
            "-P",
            str(script),
            str(out.resolve()),
            str(OFFICIAL_DRIVER),
            ",".join(categories),
        ]
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                env=env,
                cwd=workdir,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise OfficialUnavailable(f"drop-in check timed out after {timeout} s") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
        raise OfficialUnavailable(f"drop-in driver failed ({proc.returncode}): {tail}")
    for line in proc.stdout.splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if "docs" in row:
            report.docs = row["docs"]
        elif "loaded" in row:
            report.loaded[row["category"]] = row["loaded"]
        else:
            report.verdicts.append(row)
    return report
