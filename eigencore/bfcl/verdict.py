"""BFCL's original verdict for a transcript of our harness, computed over the SQLite port.

The candidate's calls (every call it made, as BFCL would run them all) are replayed in BFCL's
decoded form through the re-implemented `multi_turn_checker` on fresh port episodes; the
ground truth is executed once per entry and reused for every sample.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from eigencore.bfcl.metric import GroundTruthRun, check, ground_truth_run
from eigencore.bfcl.port import PortEpisode
from eigencore.bfcl.release import Entry, load_release
from eigencore.evaluation.harness import Transcript
from eigencore.evaluation.task import Task


@cache
def _entries() -> dict[str, Entry]:
    return {e.id: e for e in load_release().all_entries()}


@cache
def _truth(entry_id: str) -> GroundTruthRun:
    return ground_truth_run(_entries()[entry_id], PortEpisode)


def bfcl_verdict(task: Task, transcript: Transcript) -> tuple[bool, dict[str, Any]]:
    entry = _entries().get(task.id)
    if entry is None:
        return False, {"error_type": "unknown_entry", "message": f"{task.id} is not in BFCL"}
    v = check(entry, transcript.decoded_calls(), executor=PortEpisode, truth=_truth(task.id))
    detail = v.summary()
    if v.error_message:
        detail["message"] = v.error_message
    return v.valid, detail
