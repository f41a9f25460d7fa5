"""MessageAPI state in SQLite: loading a scenario, reading rows back as the original's values.

The original keeps plain dicts, lists and a set; this module is the one place that maps them to
rows and back, so tools and the state projection see exactly the same Python values.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Mapping
from sqlite3 import Row
from typing import Any

from eigencore.audit.code_fixes import mark_repaired
from environments.bfcl.common import release_constant
from environments.contract import Db

MODULE = "message_api"
# `_load_scenario` seeds its generator with `scenario.get("random_seed", 200191)`: an inline
# literal, not a module constant (the tests check the release source still says so).
DEFAULT_SEED = 200191
ID_RANGE = (10000, 99999)


def _check(ok: bool, what: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"MessageAPI scenario: unsupported {what}: {value!r:.200}")


# -- inbox rows <-> message dicts ----------------------------------------------------------------
def message_columns(message: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """(receiver_id, message, message_json, more_items) for one inbox dict."""
    if not message:
        return None, None, None, None
    (receiver, value), *rest = message.items()
    text, as_json = (value, None) if type(value) is str else (None, json.dumps(value))
    return receiver, text, as_json, json.dumps(dict(rest)) if rest else None


def message_value(row: Row) -> dict[str, Any]:
    if row["receiver_id"] is None:
        return {}
    value = row["message"] if row["message_json"] is None else json.loads(row["message_json"])
    more = json.loads(row["more_items"]) if row["more_items"] is not None else {}
    return {row["receiver_id"]: value, **more}


def append_message(db: Db, message: dict[str, Any]) -> None:
    db.execute(
        "INSERT INTO inbox (receiver_id, message, message_json, more_items) VALUES (?, ?, ?, ?)",
        message_columns(message),
    )


def inbox_rows(db: Db) -> list[Row]:
    return db.execute("SELECT * FROM inbox ORDER BY position").fetchall()


def first_item(message: dict[str, Any]) -> tuple[str, Any]:
    """`list(message.items())[0]`, which every method uses; an empty message fails as there."""
    items = list(message.items())
    if not items:
        raise IndexError("list index out of range")
    return items[0]


# -- other reads and writes ----------------------------------------------------------------------
def workspace(db: Db) -> Row:
    return db.execute("SELECT * FROM workspace").fetchone()


def user_ids(db: Db) -> list[str]:
    return [r[0] for r in db.execute("SELECT user_id FROM users ORDER BY position")]


def draw_message_id(db: Db) -> int:
    """`_generate_id`: draw until the id is new, remember it, advance the stored generator."""
    ws = workspace(db)
    rng = random.Random(ws["random_seed"])
    draws = ws["rng_draws"]
    for _ in range(draws):
        rng.randint(*ID_RANGE)
    taken = {r[0] for r in db.execute("SELECT message_id FROM generated_ids")}
    new_id = rng.randint(*ID_RANGE)
    draws += 1
    while new_id in taken:
        new_id = rng.randint(*ID_RANGE)
        draws += 1
    db.execute("INSERT INTO generated_ids (message_id) VALUES (?)", (new_id,))
    db.execute("UPDATE workspace SET rng_draws = ?", (draws,))
    return new_id


# -- scenario and projection -------------------------------------------------------------------
def load(db: Db, scenario: Mapping[str, Any]) -> None:
    """Mirror `MessageAPI._load_scenario`: config values win, DEFAULT_STATE fills the gaps."""
    config = copy.deepcopy(dict(scenario.get("config") or {}))
    default = release_constant(MODULE, "DEFAULT_STATE")

    def pick(key: str) -> Any:
        return config[key] if key in config else default[key]

    seed = config.get("random_seed", DEFAULT_SEED)
    # None would seed from the OS (irreproducible); other types are not valid seeds.
    _check(type(seed) in (int, float, str), "random_seed", seed)
    user_count, message_count, current = (
        pick("user_count"), pick("message_count"), pick("current_user"))
    _check(type(user_count) is int and type(message_count) is int, "counters",
           (user_count, message_count))
    _check(current is None or type(current) is str, "current_user", current)
    db.execute(
        "INSERT INTO workspace (singleton, user_count, message_count, current_user, random_seed) "
        "VALUES (1, ?, ?, ?, ?)",
        (user_count, message_count, current, seed),
    )
    mark_repaired(db, "workspace", scenario)  # repaired mode: eigencore.audit.code_fixes

    generated = pick("generated_ids")
    # JSON has no sets: a list here would make the original crash on its first `.add`.
    _check(isinstance(generated, set) and all(type(i) is int for i in generated),
           "generated_ids", generated)
    db.executemany("INSERT INTO generated_ids (message_id) VALUES (?)",
                   [(i,) for i in sorted(generated)])

    user_map = pick("user_map")
    _check(isinstance(user_map, dict) and all(type(v) is str for v in user_map.values()),
           "user_map", user_map)
    db.executemany("INSERT INTO users (name, user_id) VALUES (?, ?)", list(user_map.items()))

    inbox = pick("inbox")
    _check(type(inbox) is list and all(isinstance(m, dict) for m in inbox), "inbox", inbox)
    for message in inbox:
        append_message(db, message)


def project(db: Db) -> dict[str, Any]:
    """The instance's public attributes, as `ReferenceEpisode.state()` projects the original."""
    ws = workspace(db)
    return {
        "generated_ids": {r[0] for r in db.execute("SELECT message_id FROM generated_ids")},
        "user_count": ws["user_count"],
        "user_map": {r["name"]: r["user_id"]
                     for r in db.execute("SELECT * FROM users ORDER BY position")},
        "inbox": [message_value(r) for r in inbox_rows(db)],
        "message_count": ws["message_count"],
        "current_user": ws["current_user"],
    }
