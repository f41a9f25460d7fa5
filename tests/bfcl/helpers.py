"""Helpers shared by the per-class port tests."""

from __future__ import annotations

import json

from eigencore.bfcl.release import Entry


def one_entry_per_config(entries: list[Entry], class_name: str, *,
                         by_long_context: bool = False) -> list[Entry]:
    """The first entry of each distinct initial state of `class_name` (the hypothesis tests
    draw scenarios from these, so repeated configs do not skew the draw)."""
    seen: dict[str, Entry] = {}
    for e in entries:
        config = e.initial_config.get(class_name, {})
        key = json.dumps([config, e.long_context] if by_long_context else config, sort_keys=True)
        seen.setdefault(key, e)
    return list(seen.values())
