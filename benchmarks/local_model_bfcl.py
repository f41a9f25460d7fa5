"""The embedded local models on BFCL-V3 base tasks: run them (resumable) and summarise.

Runs `eigen eval run --model local:<model>?threads=1 --suite bfcl-v3 --categories base
--limit N --concurrency 1` for each model into one run store (a run already in the store for
the same model and settings is resumed, not repeated), then prints per model: success under
the outcome, per-turn and BFCL verdicts, where the outcome and BFCL verdicts disagree, why
tasks failed (final state / owed information / run error), tokens and time per task, and the
same per BFCL class. With `--rescore SUITE`, each run is also re-scored against SUITE (e.g.
`bfcl-v3-repaired`) where the model's inputs are unchanged (`eigen eval rescore`).

Run: `python -m benchmarks.local_model_bfcl [--models qwen2.5-coder-0.5b,qwen2.5-coder-1.5b]
[--limit 50] [--store runs/local-bfcl.db] [--summary-only] [--rescore bfcl-v3-repaired]`
Needs the local extras: `pip install -e '.[qwen-05b,qwen-15b]'`.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

MODELS = ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]


def _runs(store: Path) -> list[dict[str, Any]]:
    if not store.exists():
        return []
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT run_id, model, suite, config FROM runs ORDER BY created")
        return [{"run_id": r, "model": m, "suite": s, "config": json.loads(c)}
                for r, m, s, c in rows]


def _run_for(store: Path, spec: str, limit: int) -> str | None:
    for run in _runs(store):
        cfg = run["config"]
        if (run["model"] == spec and run["suite"] == "bfcl-v3" and cfg.get("limit") == limit
                and cfg.get("categories") == ["base"] and "rescored_from" not in cfg):
            return run["run_id"]
    return None


def run_model(store: Path, model: str, limit: int) -> None:
    spec = f"local:{model}?threads=1"
    cmd = [sys.executable, "-m", "eigencore.cli", "eval", "run", "--store", str(store)]
    existing = _run_for(store, spec, limit)
    if existing:
        cmd += ["--resume", existing]
    else:
        cmd += ["--model", spec, "--suite", "bfcl-v3", "--categories", "base",
                "--limit", str(limit), "--concurrency", "1"]
    subprocess.run(cmd, check=True)


def summarise(store: Path, run_id: str) -> dict[str, Any]:
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT task_id, domains, outcome, per_turn, bfcl, verdict, "
                          "input_tokens, output_tokens, duration_s FROM results "
                          "WHERE run_id = ?", (run_id,)).fetchall()
    n = len(rows)
    why: Counter[str] = Counter()
    by_class: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    disagree = []
    for task_id, domains, outcome, per_turn, bfcl, verdict, *_ in rows:
        v = json.loads(verdict)
        if v.get("error"):
            why["run error"] += 1
        elif not outcome:
            state = bool(v.get("final_state"))
            info = any(t.get("missing") for t in v.get("turns", []))
            why["final state" if state and not info else
                "owed information" if info and not state else "state and information"] += 1
        for d in json.loads(domains):
            c = by_class[d.removeprefix("bfcl/")]
            c[0] += 1
            c[1] += bool(outcome)
            c[2] += bool(per_turn)
            c[3] += bool(bfcl)
        if bool(outcome) != bool(bfcl):
            disagree.append(f"{task_id} (outcome {'pass' if outcome else 'fail'}, "
                            f"BFCL {'pass' if bfcl else 'fail'})")
    return {
        "tasks": n,
        "outcome": sum(bool(r[2]) for r in rows), "per_turn": sum(bool(r[3]) for r in rows),
        "bfcl": sum(bool(r[4]) for r in rows),
        "failed_on": dict(why), "disagreements": disagree,
        "tokens_in_per_task": round(sum(r[6] or 0 for r in rows) / max(n, 1)),
        "tokens_out_per_task": round(sum(r[7] or 0 for r in rows) / max(n, 1)),
        "seconds_per_task": round(sum(r[8] or 0 for r in rows) / max(n, 1), 1),
        "by_class": {k: dict(zip(("tasks", "outcome", "per_turn", "bfcl"), v, strict=True))
                     for k, v in sorted(by_class.items())},
    }


def rescore(store: Path, run_id: str, suite: str) -> None:
    subprocess.run([sys.executable, "-m", "eigencore.cli", "eval", "rescore", run_id,
                    "--suite", suite, "--store", str(store)], check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--store", type=Path, default=Path("runs/local-bfcl.db"))
    ap.add_argument("--summary-only", action="store_true")
    ap.add_argument("--rescore", metavar="SUITE")
    args = ap.parse_args()
    for model in args.models.split(","):
        spec = f"local:{model}?threads=1"
        if not args.summary_only:
            run_model(args.store, model, args.limit)
        run_id = _run_for(args.store, spec, args.limit)
        if run_id is None:
            print(f"{model}: no run in {args.store}")
            continue
        print(json.dumps({"model": spec, "run": run_id, **summarise(args.store, run_id)},
                         indent=2))
        if args.rescore:
            rescore(args.store, run_id, args.rescore)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
