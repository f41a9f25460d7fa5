"""BFCL-V3's own multi-turn verdict, re-implemented without ``eval``.

Mirrors ``multi_turn_checker`` (``bfcl_eval/eval_checker/multi_turn_eval/multi_turn_checker.py``,
bfcl-eval 2025.6.8) and the turn-count guard of ``multi_turn_runner`` (``eval_runner.py``):

* The candidate is BFCL's *decoded* model result: a list over turns of a list over steps of a
  list of call strings (``multi_turn_model_result_list_decoded``). A turn count different from
  the ground truth's fails the whole entry as ``multi_turn:force_terminated`` (the runner checks
  this before calling the checker).
* Per turn, every step's calls run on one model episode (instances persist across turns) and the
  turn's ground-truth calls on a separate ground-truth episode.
* A turn with non-empty ground truth fails with ``multi_turn:empty_turn_model_response`` when the
  model's steps for it are "empty" in BFCL's sense (``is_empty_execute_response``: no step, or
  exactly one step with no call; ``[[], []]`` is *not* empty).
* Empty-truth turns are not checked at all; the model's calls there still run and their results
  still count for later turns. (The irrelevance checker is commented out in the 2025.6.8 runner;
  :func:`irrelevance_check` reproduces it separately.)
* Checked turns: (1) state — every public attribute of every involved instance equals the
  ground truth's (``multi_turn:instance_state_mismatch``); (2) response — the ground truth's
  result strings *for this turn* are a multiset subset of the model's result strings of *all
  turns so far* (``multi_turn:execution_response_mismatch``). The first failing turn ends the
  check, as in BFCL.

Calls are parsed by :func:`eigencore.bfcl.calls.parse_call` and dispatched by the executor
(:class:`~eigencore.bfcl.reference.ReferenceEpisode` over the original classes, or
:class:`~eigencore.bfcl.port.PortEpisode` over the SQLite port). A call string that is not a
plain literal call is refused with an error result instead of being run; BFCL would ``eval``
it. Ground-truth results never are errors, so the exact error text cannot change a verdict.
Refused calls, and calls that made the executor raise (turned into error results, as BFCL does
with anything raised inside its ``try``), are listed in the verdict's details.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any, Protocol

from eigencore.bfcl.calls import Call, CallParseError, parse_call
from eigencore.bfcl.reference import (
    ERROR_PREFIX,
    PACKAGE,
    ExecResult,
    ReferenceEpisode,
    compare_states,
    project_value,
)
from eigencore.bfcl.release import Entry, Release, load_release

__all__ = [
    "EMPTY_TURN",
    "FORCE_TERMINATED",
    "INFERENCE_ERROR",
    "IRRELEVANCE",
    "RESPONSE_MISMATCH",
    "STATE_MISMATCH",
    "Episode",
    "EpisodeFactory",
    "GroundTruthRun",
    "TurnTruth",
    "Verdict",
    "check",
    "ground_truth_run",
    "ground_truth_trajectory",
    "irrelevance_check",
    "is_empty_execute_response",
    "multiset_missing",
    "reference_executor",
    "runner_decode",
]

# BFCL's own error type strings.
FORCE_TERMINATED = "multi_turn:force_terminated"
INFERENCE_ERROR = "multi_turn:inference_error"
EMPTY_TURN = "multi_turn:empty_turn_model_response"
STATE_MISMATCH = "multi_turn:instance_state_mismatch"
RESPONSE_MISMATCH = "multi_turn:execution_response_mismatch"
IRRELEVANCE = "multi_turn:irrelevance_error:decoder_success"

Trajectory = Sequence[Sequence[Sequence[str]]]


class Episode(Protocol):
    """What the metric needs from an executor: run one call, project the public state."""

    def execute(self, call: Call | str) -> ExecResult: ...

    def state(self) -> dict[str, dict[str, Any]]: ...


EpisodeFactory = Callable[[Entry], Episode]


@dataclass(frozen=True)
class Verdict:
    """The outcome for one entry; ``turn`` is the first failing turn (None if valid or the
    failure concerns the whole entry)."""

    valid: bool
    error_type: str | None = None
    turn: int | None = None
    error_message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    checked_turns: tuple[int, ...] = ()

    def summary(self) -> dict[str, Any]:
        """The comparable core: validity, error type, failing turn."""
        return {"valid": self.valid, "error_type": self.error_type, "turn": self.turn}


@dataclass(frozen=True)
class TurnTruth:
    """Ground-truth results and state after one turn."""

    results: list[str]
    state: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class GroundTruthRun:
    """The ground truth executed once; reusable for any number of candidates of one entry."""

    entry_id: str
    turns: list[TurnTruth]


def reference_executor(release: Release | None = None) -> EpisodeFactory:
    """Factory of :class:`ReferenceEpisode` bound to one verified release.

    Binding matters for speed: ``ReferenceEpisode(entry)`` alone re-hashes the wheel.
    """
    return partial(ReferenceEpisode, release=release if release is not None else load_release())


@cache
def _default_executor() -> EpisodeFactory:
    return reference_executor()


def is_empty_execute_response(steps: Sequence[Sequence[str]]) -> bool:
    """BFCL's ``is_empty_execute_response``: no step, or a single step without calls."""
    return len(steps) == 0 or (len(steps) == 1 and len(steps[0]) == 0)


def runner_decode(turns: Trajectory) -> list[list[list[str]]]:
    """Drop empty steps, as ``multi_turn_runner`` does while decoding model output."""
    return [[list(step) for step in turn if not is_empty_execute_response([step])]
            for turn in turns]


def ground_truth_trajectory(entry: Entry) -> list[list[list[str]]]:
    """The ground truth in decoded form: each non-empty turn's calls as one step."""
    return [[list(calls)] if calls else [] for calls in entry.ground_truth]


def multiset_missing(needed: Sequence[str], available: Sequence[str]) -> list[str]:
    """Items of ``needed`` not covered by ``available`` counting multiplicity
    (BFCL's ``_is_subsequence_unordered``)."""
    pool = list(available)
    missing: list[str] = []
    for item in needed:
        try:
            pool.remove(item)
        except ValueError:
            missing.append(item)
    return missing


def _close(episode: object) -> None:
    close = getattr(episode, "close", None)
    if callable(close):
        close()


def _run(episode: Episode, call: str) -> tuple[str, str | None]:
    """(result text, problem) for one model call: problem is None, "refused" (not a literal
    call: never run) or "raised" (the executor raised; BFCL turns anything raised while running
    or stringifying a call into an error result, and so does this)."""
    try:
        parsed = parse_call(call)
    except CallParseError as exc:
        return f"{ERROR_PREFIX}{exc}", "refused"
    try:
        return episode.execute(parsed).text, None
    except Exception as exc:
        return f"{ERROR_PREFIX}{exc}", "raised"


def ground_truth_run(entry: Entry, executor: EpisodeFactory | None = None) -> GroundTruthRun:
    """Execute the entry's ground truth turn by turn on a fresh episode (default: reference)."""
    episode = (executor or _default_executor())(entry)
    try:
        turns = []
        for calls in entry.ground_truth:
            results = [episode.execute(call).text for call in calls]
            turns.append(TurnTruth(results=results, state=episode.state()))
        return GroundTruthRun(entry_id=entry.id, turns=turns)
    finally:
        _close(episode)


def _matches(raw: Any, projected: Any) -> bool:
    """BFCL's ``==`` between a raw model value and a projected reference value.

    Walks the (finite) reference side, so it terminates on cyclic model structures the way
    BFCL's own comparison does: e.g. ``cp(source='d', destination='d')`` makes ``d/d`` share
    ``d``'s contents dict, which no projection can represent.
    """
    kind = type(raw)
    if kind.__module__.startswith(PACKAGE + ".") and kind.__name__ in ("File", "Directory"):
        if type(projected) is not dict or raw.name != projected.get("name"):
            return False
        if kind.__name__ == "File":
            return projected.get("type") == "file" and raw.content == projected.get("content")
        return projected.get("type") == "directory" and _matches(
            raw.contents, projected.get("contents"))
    if kind is dict:
        return (type(projected) is dict and len(raw) == len(projected)
                and all(k in projected and _matches(v, projected[k]) for k, v in raw.items()))
    if kind in (list, tuple):
        return (type(projected) is kind and len(raw) == len(projected)
                and all(_matches(a, b) for a, b in zip(raw, projected, strict=True)))
    return bool(raw == projected)


def _state_differences(
    episode: Episode, reference: dict[str, dict[str, Any]]
) -> dict[str, dict[str, dict[str, Any]]]:
    try:
        return compare_states(episode.state(), reference)
    except RecursionError:
        # A cyclic model state (see _matches); only the reference executor can produce one.
        instances = getattr(episode, "instances", None)
        if not isinstance(instances, dict):
            raise
    differences: dict[str, dict[str, dict[str, Any]]] = {}
    missing = object()
    for class_name, attrs in reference.items():
        instance = instances.get(class_name)
        for attr, ref_value in attrs.items():
            raw = getattr(instance, attr, missing)
            if raw is not missing and _matches(raw, ref_value):
                continue
            try:
                shown = None if raw is missing else project_value(raw)
            except RecursionError:
                shown = "<cyclic structure>"
            differences.setdefault(class_name, {})[attr] = {
                "model": shown, "ground_truth": ref_value}
    return differences


def _trajectory_problem(trajectory: object) -> str | None:
    if not isinstance(trajectory, list | tuple):
        return "Model did not output a list of model responses."
    for t, turn in enumerate(trajectory):
        if not isinstance(turn, list | tuple):
            return f"turn {t} is not a list of steps"
        for s, step in enumerate(turn):
            if not isinstance(step, list | tuple) or not all(isinstance(c, str) for c in step):
                return f"turn {t} step {s} is not a list of call strings"
    return None


def check(
    entry: Entry,
    trajectory: Trajectory,
    *,
    executor: EpisodeFactory | None = None,
    truth: GroundTruthRun | None = None,
) -> Verdict:
    """BFCL's multi-turn verdict for ``trajectory`` (decoded form) on ``entry``.

    The candidate runs on ``executor(entry)`` (default: the original classes, see
    :func:`reference_executor`); the ground truth on another fresh episode from the same
    factory unless a precomputed ``truth`` (from :func:`ground_truth_run`) is given.
    """
    executor = executor or _default_executor()
    problem = _trajectory_problem(trajectory)
    if problem is not None:
        # BFCL's runner only catches a non-list result; malformed steps would crash its decoder.
        return Verdict(False, INFERENCE_ERROR, None, f"Error during inference phase. {problem}")
    gt = entry.ground_truth
    if len(trajectory) != len(gt):
        return Verdict(
            False,
            FORCE_TERMINATED,
            None,
            "Model was force-terminated during inference phase. The length of the model result "
            f"turns ({len(trajectory)}) does not match the length of the ground truth turns "
            f"({len(gt)}).",
        )
    if truth is None:
        truth = ground_truth_run(entry, executor)
    elif truth.entry_id != entry.id or len(truth.turns) != len(gt):
        raise ValueError(f"ground-truth run {truth.entry_id!r} does not belong to {entry.id!r}")

    episode = executor(entry)
    try:
        all_results: list[str] = []
        # Calls that were refused or made the executor raise, listed in every verdict.
        notes: dict[str, list[tuple[int, str]]] = {}
        checked: list[int] = []
        for index, steps in enumerate(trajectory):
            turn_results: list[list[str]] = []
            for step in steps:
                step_results = []
                for call in step:
                    text, problem = _run(episode, call)
                    step_results.append(text)
                    if problem is not None:
                        notes.setdefault(problem, []).append((index, call))
                turn_results.append(step_results)
                all_results.extend(step_results)
            if not gt[index]:
                continue  # the model should abstain here; its calls still count later
            if is_empty_execute_response(steps):
                return Verdict(
                    False,
                    EMPTY_TURN,
                    index,
                    f"Model response list is empty for turn {index}",
                    {"model_results": turn_results, **notes},
                    tuple(checked),
                )
            checked.append(index)
            reference = truth.turns[index]
            differences = _state_differences(episode, reference.state)
            if differences:
                # BFCL reports the first class (in involved order) whose state differs.
                first = next(c for c in reference.state if c in differences)
                return Verdict(
                    False,
                    STATE_MISMATCH,
                    index,
                    f"Model instance for {first} does not match the state with ground truth "
                    "instance.",
                    {"class": first, "differences": differences, **notes},
                    tuple(checked),
                )
            missing = multiset_missing(reference.results, all_results)
            if missing:
                return Verdict(
                    False,
                    RESPONSE_MISMATCH,
                    index,
                    "Model response execution results so far does not contain all the ground "
                    f"truth response execution results for turn {index}.",
                    {
                        "missing_items": missing,
                        "model_results_so_far": list(all_results),
                        "ground_truth_results": list(reference.results),
                        **notes,
                    },
                    tuple(checked),
                )
        return Verdict(True, details=dict(notes), checked_turns=tuple(checked))
    finally:
        _close(episode)


def irrelevance_check(entry: Entry, trajectory: Trajectory) -> Verdict:
    """BFCL's ``multi_turn_irrelevance_checker`` (disabled in the 2025.6.8 runner): a turn with
    empty ground truth must have an empty model response."""
    for index, calls in enumerate(entry.ground_truth):
        if index >= len(trajectory):
            break
        if not calls and not is_empty_execute_response(trajectory[index]):
            return Verdict(
                False,
                IRRELEVANCE,
                index,
                f"Model outputs valid function calls when it should not for turn {index}.",
                {"model_response": [list(step) for step in trajectory[index]]},
            )
    return Verdict(True)
