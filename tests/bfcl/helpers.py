"""Helpers shared by the per-class port tests: entry sampling and the differential checks
every port runs against its original BFCL class (tool names, ground-truth replay, random
call sequences from hypothesis)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eigencore.bfcl.calls import Call
from eigencore.bfcl.differential import compare_turns, differential, restrict
from eigencore.bfcl.release import Entry, Release

CallsFor = Callable[[Any, dict[str, Any]], list[Call]]
"""Draws one turn's calls for a class config: `(data.draw, config) -> calls`."""


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


class PortChecks(NamedTuple):
    entries: Any
    distinct_configs: Any
    test_tools_match_the_original_methods: Callable[..., None]
    test_ground_truth_replays_identically: Callable[..., None]
    test_random_calls_match_the_original: Callable[..., None]


def port_checks(class_name: str, names: set[str], *, entry_count: int, calls_for: CallsFor,
                max_examples: int = 250, by_long_context: bool = False) -> PortChecks:
    """The differential checks of one port, as fixtures and tests for the module to bind:
    `entries, distinct_configs, test_a, test_b, test_c = port_checks(...)`."""

    @pytest.fixture(scope="module", name="entries")
    def entries(all_entries: list[Entry]) -> list[Entry]:
        return [restrict(e, class_name, names) for e in all_entries
                if class_name in e.involved_classes]

    @pytest.fixture(scope="module", name="distinct_configs")
    def distinct_configs(entries: list[Entry]) -> list[Entry]:
        return one_entry_per_config(entries, class_name, by_long_context=by_long_context)

    def test_tools_match_the_original_methods(release: Release) -> None:
        assert names == {d["name"] for d in release.func_docs(class_name)}

    def test_ground_truth_replays_identically(entries: list[Entry]) -> None:
        deviations = [str(d) for e in entries for d in differential(e)]
        calls = sum(len(turn) for e in entries for turn in e.ground_truth)
        print(f"\n{class_name}: {len(entries)} entries, {calls} calls replayed")
        assert len(entries) == entry_count
        assert calls > 0
        assert deviations == []

    @settings(max_examples=max_examples, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(data=st.data())
    def test_random_calls_match_the_original(distinct_configs: list[Entry], data: Any) -> None:
        entry = data.draw(st.sampled_from(distinct_configs))
        calls = calls_for(data.draw, entry.initial_config.get(class_name, {}))
        deviations = compare_turns(entry, [calls])
        assert deviations == [], [str(d) for d in deviations]

    return PortChecks(entries, distinct_configs, test_tools_match_the_original_methods,
                      test_ground_truth_replays_identically, test_random_calls_match_the_original)
