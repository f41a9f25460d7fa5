"""The run store: a SQLite file where every finished task sample is committed at once.

A killed run (even `kill -9`) loses at most the samples in flight; `--resume` reads which
(task, sample) pairs are done and runs only the rest, so nothing is repeated.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eigencore.evaluation.harness import Transcript
from eigencore.evaluation.scoring import Verdict

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    suite TEXT NOT NULL,
    config TEXT NOT NULL,
    created REAL NOT NULL,
    finished REAL
);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    task_id TEXT NOT NULL,
    sample INTEGER NOT NULL CHECK (sample >= 0),
    category TEXT NOT NULL,
    domains TEXT NOT NULL,
    outcome INTEGER NOT NULL CHECK (outcome IN (0, 1)),
    per_turn INTEGER NOT NULL CHECK (per_turn IN (0, 1)),
    bfcl INTEGER CHECK (bfcl IN (0, 1)),
    error TEXT,
    verdict TEXT NOT NULL,
    transcript TEXT NOT NULL,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    duration_s REAL NOT NULL,
    finished REAL NOT NULL,
    PRIMARY KEY (run_id, task_id, sample)
);
"""


class RunStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL survives a killed process
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()

    def close(self) -> None:
        self.db.close()

    def create_run(self, model: str, suite: str, config: dict[str, Any],
                   run_id: str | None = None) -> str:
        run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        with self.lock:
            self.db.execute("INSERT INTO runs (run_id, model, suite, config, created) "
                            "VALUES (?, ?, ?, ?, ?)",
                            (run_id, model, suite, json.dumps(config), time.time()))
        return run_id

    def run(self, run_id: str) -> dict[str, Any]:
        row = self.db.execute("SELECT run_id, model, suite, config, created, finished FROM runs "
                              "WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        return {"run_id": row[0], "model": row[1], "suite": row[2],
                "config": json.loads(row[3]), "created": row[4], "finished": row[5]}

    def update_config(self, run_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Change a run's config in place (read, `change`, write back, atomically)."""
        with self.lock:
            row = self.db.execute("SELECT config FROM runs WHERE run_id = ?",
                                  (run_id,)).fetchone()
            if row is None:
                raise KeyError(f"no run {run_id!r} in {self.path}")
            config = json.loads(row[0])
            change(config)
            self.db.execute("UPDATE runs SET config = ? WHERE run_id = ?",
                            (json.dumps(config), run_id))

    def add_diverged(self, run_id: str, task_id: str, sample: int, reason: str) -> None:
        """Record in the run's config a sample a replay could not reproduce (not scored)."""
        def change(config: dict[str, Any]) -> None:
            entries = [d for d in config.get("diverged", [])
                       if (d["task_id"], d["sample"]) != (task_id, sample)]
            entries.append({"task_id": task_id, "sample": sample, "reason": reason})
            config["diverged"] = sorted(entries, key=lambda d: (d["task_id"], d["sample"]))

        self.update_config(run_id, change)

    def runs(self) -> list[dict[str, Any]]:
        return [self.run(r[0]) for r in self.db.execute("SELECT run_id FROM runs ORDER BY created")]

    def done(self, run_id: str) -> set[tuple[str, int]]:
        return {(t, s) for t, s in self.db.execute(
            "SELECT task_id, sample FROM results WHERE run_id = ?", (run_id,))}

    def lacking(self, run_id: str, field: str) -> set[tuple[str, int]]:
        """Samples whose stored transcript has no (or an empty) top-level `field`: those
        recorded before the field existed."""
        return {(t, s) for t, s in self.db.execute(
            "SELECT task_id, sample FROM results WHERE run_id = ? AND "
            "coalesce(json_extract(transcript, ?), '{}') IN ('{}', '[]')",
            (run_id, f"$.{field}"))}

    def write(self, run_id: str, verdict: Verdict, transcript: Transcript) -> None:
        with self.lock:
            self.db.execute(
                "INSERT OR REPLACE INTO results (run_id, task_id, sample, category, domains, "
                "outcome, per_turn, bfcl, error, verdict, transcript, input_tokens, "
                "output_tokens, duration_s, finished) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, verdict.task_id, verdict.sample, verdict.category,
                 json.dumps(verdict.domains), int(verdict.outcome), int(verdict.per_turn),
                 None if verdict.bfcl is None else int(verdict.bfcl), verdict.error,
                 # `fallback`: an exotic value (e.g. an mpmath number) must not lose a result.
                 verdict.model_dump_json(fallback=str), transcript.model_dump_json(fallback=str),
                 transcript.usage.input_tokens, transcript.usage.output_tokens,
                 transcript.duration_s, time.time()))

    def finish(self, run_id: str) -> None:
        with self.lock:
            self.db.execute("UPDATE runs SET finished = ? WHERE run_id = ?", (time.time(), run_id))

    def verdicts(self, run_id: str) -> list[Verdict]:
        return [Verdict.model_validate_json(v) for (v,) in self.db.execute(
            "SELECT verdict FROM results WHERE run_id = ? ORDER BY task_id, sample", (run_id,))]

    def transcript(self, run_id: str, task_id: str, sample: int = 0) -> Transcript:
        row = self.db.execute("SELECT transcript FROM results WHERE run_id = ? AND task_id = ? "
                              "AND sample = ?", (run_id, task_id, sample)).fetchone()
        if row is None:
            raise KeyError(f"no result for {task_id} sample {sample} in run {run_id}")
        return Transcript.model_validate_json(row[0])
