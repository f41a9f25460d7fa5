"""A response cache keyed by the exact request: re-runs are free, and a cache file recorded
from a real model replays that model's exchanges deterministically (tests, offline CI)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from clients.models.base import Message, Reply, ToolDef


def request_key(model: str, messages: list[Message], tools: list[ToolDef],
                params: dict[str, Any] | None = None) -> str:
    blob = json.dumps({
        "model": model,
        "messages": [m.model_dump(mode="json") for m in messages],
        "tools": [t.model_dump(mode="json") for t in tools],
        "params": params or {},
    }, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, "
                        "model TEXT NOT NULL, request TEXT NOT NULL, reply TEXT NOT NULL, "
                        "created REAL NOT NULL)")
        self.lock = threading.Lock()

    def get(self, key: str) -> Reply | None:
        row = self.db.execute("SELECT reply FROM responses WHERE key = ?", (key,)).fetchone()
        return Reply.model_validate_json(row[0]) if row else None

    def put(self, key: str, model: str, messages: list[Message], reply: Reply) -> None:
        request = json.dumps([m.model_dump(mode="json") for m in messages], ensure_ascii=False)
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)",
                            (key, model, request, reply.model_dump_json(), time.time()))

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
