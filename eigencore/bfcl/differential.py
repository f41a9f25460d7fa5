"""Differential verification: the original BFCL classes against the SQLite port.

Replays calls on both sides, call by call; every result text must match, errors must occur
on the same calls, and after every turn the port's projected state must equal the original
instances' public attributes. Deviations are returned as evidence, never dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eigencore.bfcl.calls import Call, parse_call
from eigencore.bfcl.port import PortEpisode
from eigencore.bfcl.reference import ReferenceEpisode, compare_states
from eigencore.bfcl.release import Entry, Release


@dataclass
class Deviation:
    entry_id: str
    turn: int
    kind: str  # "result" | "error" | "state" | "initial_state"
    call: str | None = None
    original: Any = None
    port: Any = None
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        where = f"{self.entry_id} turn {self.turn}"
        if self.kind == "state" or self.kind == "initial_state":
            return f"{where}: {self.kind} differs: {self.details}"
        return f"{where}: {self.call}: {self.kind}: original={self.original!r} port={self.port!r}"


def compare_call(entry_id: str, turn: int, call: Call, ref: ReferenceEpisode,
                 port: PortEpisode) -> Deviation | None:
    r, p = ref.execute(call), port.execute(call)
    if r.error != p.error:
        return Deviation(entry_id, turn, "error", str(call), r.text, p.text)
    if not r.error and r.text != p.text:
        return Deviation(entry_id, turn, "result", str(call), r.text, p.text)
    return None


def compare_turns(entry: Entry, turns: Sequence[Sequence[Call | str]],
                  release: Release | None = None) -> list[Deviation]:
    """Replay `turns` (lists of calls) on both sides; all deviations, in order."""
    ref = ReferenceEpisode(entry, release)
    port = PortEpisode(entry)
    try:
        out: list[Deviation] = []
        rs, ps = ref.state(), port.state()
        if rs != ps:
            out.append(Deviation(entry.id, -1, "initial_state",
                                 details=compare_states(ps, rs)))
        for t, calls in enumerate(turns):
            for c in calls:
                call = parse_call(c) if isinstance(c, str) else c
                dev = compare_call(entry.id, t, call, ref, port)
                if dev is not None:
                    out.append(dev)
            rs, ps = ref.state(), port.state()
            if rs != ps:
                out.append(Deviation(entry.id, t, "state", details=compare_states(ps, rs)))
        return out
    finally:
        port.close()


def differential(entry: Entry, release: Release | None = None) -> list[Deviation]:
    """Replay the entry's ground truth on both sides."""
    return compare_turns(entry, entry.ground_truth, release)


def restrict(entry: Entry, class_name: str, function_names: set[str]) -> Entry:
    """The entry seen by one class only: other classes' calls dropped (BFCL classes never
    share state), so one domain's port can be verified before the others exist."""
    return entry.model_copy(update={
        "involved_classes": [class_name],
        "ground_truth": [
            [c for c in turn if parse_call(c).name in function_names]
            for turn in entry.ground_truth
        ],
    })
