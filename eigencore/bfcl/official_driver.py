"""Subprocess driver: BFCL's OFFICIAL multi-turn checker on JSONL cases (stdin -> stdout).

Run only by :mod:`eigencore.bfcl.official`, as a separate process whose ``PYTHONPATH`` is the
private directory where the ``bfcl-eval`` wheel (no dependencies) and ``mpmath`` are installed.
It imports nothing from this project (it is executed as a script, not as part of the package).

The official checker ``eval``s call strings. The parent process only sends trajectories whose
calls it has parsed as plain literal calls of documented BFCL function names; this driver is
never given model output.

Input, one JSON object per line: ``{"case": str, "id": entry_id, "result": decoded}`` where
``decoded`` is BFCL's ``multi_turn_model_result_list_decoded`` (turns -> steps -> call strings).
Output, one line per case: ``{"case", "id", "valid", "error_type", "turn", "error_message",
"state_class", "state_attributes", "missing_items", "crash"}``.

Per case: the turn-count guard of ``multi_turn_runner``, then ``multi_turn_checker``. Fresh
instances per case: a unique model name (the instance cache in ``multi_turn_utils`` globals is
keyed by model name and entry id), whose cached instances are deleted afterwards. Unless
``--shared-modules`` is given, the ``func_source_code`` modules are also re-imported per case:
they hold module-level mutable state (long-context dicts merged by reference, a mutable default
argument of ``TwitterAPI.post_tweet``) that would otherwise leak between cases. Within one case
the model's and the ground truth's instances share those modules, exactly as in BFCL.
"""

from __future__ import annotations

import argparse
import decimal
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

SOURCE_PACKAGE = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code"
CATEGORIES = ("base", "miss_func", "miss_param", "long_context")
_TURN_RE = re.compile(r"for turn (\d+)")


def _load_entries(package_root: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    data = package_root / "data"
    entries: dict[str, dict[str, Any]] = {}
    truth: dict[str, Any] = {}
    for category in CATEGORIES:
        name = f"BFCL_v3_multi_turn_{category}.json"
        for line in (data / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                entries[row["id"]] = row
        for line in (data / "possible_answer" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                truth[row["id"]] = row["ground_truth"]
    return entries, truth


def _purge_source_modules() -> None:
    for name in [n for n in sys.modules if n == SOURCE_PACKAGE or n.startswith(SOURCE_PACKAGE)]:
        del sys.modules[name]


def _reset_numerics() -> None:
    # MathAPI sets the decimal precision and mpmath's dps process-wide.
    decimal.setcontext(decimal.Context())
    mpmath = sys.modules.get("mpmath")
    if mpmath is not None:
        mpmath.mp.dps = 15


def _summarise(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "valid": bool(raw.get("valid")),
        "error_type": raw.get("error_type"),
        "error_message": raw.get("error_message"),
        "turn": None,
        "state_class": None,
        "state_attributes": None,
        "missing_items": None,
    }
    if out["valid"]:
        return out
    error_type = out["error_type"]
    message = out["error_message"] or ""
    if error_type == "multi_turn:instance_state_mismatch":
        # Its message has no turn; the execution log it carries has one entry per turn so far.
        out["turn"] = len(raw.get("execution_result", [])) - 1
        match = re.match(r"Model instance for (\w+) does not match", message)
        out["state_class"] = match.group(1) if match else None
        out["state_attributes"] = sorted(raw.get("details", {}).get("differences", {}))
    else:
        match = _TURN_RE.search(message)
        out["turn"] = int(match.group(1)) if match else None
    if error_type == "multi_turn:execution_response_mismatch":
        out["missing_items"] = list(raw.get("details", {}).get("missing_items", []))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", required=True, help="directory the wheel is installed in")
    parser.add_argument("--shared-modules", action="store_true",
                        help="do not re-import the BFCL classes between cases")
    args = parser.parse_args(argv)

    import bfcl_eval
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_checker as checker_module
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils

    package_root = Path(bfcl_eval.__file__).resolve().parent
    site = Path(args.site).resolve()
    if site not in package_root.parents:
        raise SystemExit(f"bfcl_eval imported from {package_root}, not from {site}")
    entries, truth = _load_entries(package_root)
    cache = vars(multi_turn_utils)

    for number, line in enumerate(sys.stdin):
        if not line.strip():
            continue
        case = json.loads(line)
        entry_id = case["id"]
        result = case["result"]
        model_name = f"eigen_case_{number}"
        record: dict[str, Any] = {"case": case.get("case"), "id": entry_id, "crash": None}
        if not args.shared_modules:
            _purge_source_modules()
        _reset_numerics()
        try:
            gt = truth[entry_id]
            entry = dict(entries[entry_id])
            entry.pop("function", None)
            if len(result) != len(gt):  # multi_turn_runner's force-termination guard
                raw = {
                    "valid": False,
                    "error_type": "multi_turn:force_terminated",
                    "error_message": (
                        "Model was force-terminated during inference phase. The length of the "
                        f"model result turns ({len(result)}) does not match the length of the "
                        f"ground truth turns ({len(gt)})."
                    ),
                }
            else:
                category = entry_id.rsplit("_", 1)[0]
                raw = checker_module.multi_turn_checker(result, gt, entry, category, model_name)
            record.update(_summarise(raw))
        except Exception as exc:  # a crash of the official code is itself a finding
            record.update({"valid": None, "error_type": None, "turn": None,
                           "crash": f"{type(exc).__name__}: {exc}"})
        finally:
            prefix = f"{model_name}_"
            for key in [k for k in cache if k.startswith(prefix)]:
                del cache[key]
        sys.stdout.write(json.dumps(record, default=repr) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("BFCL_PROJECT_ROOT", os.getcwd())
    sys.exit(main())
