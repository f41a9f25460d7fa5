"""The whole port against the original: all 800 ground-truth trajectories, every class of
every entry at once (no restriction), every call's result and the state after every turn."""

from __future__ import annotations

from eigencore.bfcl.differential import differential
from eigencore.bfcl.release import CLASS_MODULES, Entry
from environments.bfcl import by_class


def test_every_class_is_ported() -> None:
    assert set(by_class()) == set(CLASS_MODULES)
    assert sum(len(b.tools) for b in by_class().values()) == 129


def test_all_800_ground_truths_replay_identically(all_entries: list[Entry]) -> None:
    assert len(all_entries) == 800
    deviations = [str(d) for e in all_entries for d in differential(e)]
    assert deviations == [], "\n".join(deviations[:20])
