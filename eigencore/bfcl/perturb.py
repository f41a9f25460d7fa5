"""Deterministic perturbations of BFCL ground-truth trajectories, to probe the multi-turn metric.

Each perturbation starts from the ground truth in BFCL's decoded form (one step per non-empty
turn, see :func:`eigencore.bfcl.metric.ground_truth_trajectory`) and applies one labelled edit:

* ``drop_call``       remove one call;
* ``duplicate_call``  repeat one call right after itself;
* ``add_call``        insert a plausible extra call: another function of an involved class, its
                      arguments taken from the entry's own ground-truth literals (same parameter
                      name first, then same type);
* ``reorder_calls``   shuffle the calls of one turn (at least two distinct calls);
* ``alter_argument``  change one literal: a string becomes another string of the entry (same
                      parameter name first), numbers move by a small delta, booleans flip, a list
                      loses or changes an element;
* ``move_call``       move one call to another turn (possibly an empty-truth turn);
* ``empty_turn``      the model makes no call in one non-empty turn;
* ``split_steps``     the same calls of one turn spread over several steps (should stay valid);
* ``truncate_turns``  the last turn is missing (not in the default mix: trivially caught).

:func:`quirk_probes` builds two further, targeted kinds that expose state the official checker
shares between the model's and the ground truth's instances (they run in one process on one
copy of the BFCL modules):

* ``probe_shared_default``   after a ground-truth ``post_tweet`` without ``mentions`` (whose
                             tweet keeps the *default* list object ``mentions=[]``), an extra
                             ``mention(...)`` of that tweet in a later turn;
* ``probe_shared_extension`` in a long-context TravelAPI entry, an extra ``purchase_insurance``
                             charged to a card that only exists through ``CREDIT_CARD_EXTENSION``
                             (whose dicts are merged by reference into every instance), appended
                             to the last turn.

Each probe comes with a ``control_shared_*`` twin that makes the same extra change on an object
the model's instance owns alone (an explicit ``mentions=[]``; a card of the entry's own config):
the official checker flags the controls and passes the probes.

Randomness comes from ``random.Random`` seeded with a string built from the seed, the entry id
and the perturbation slot, so the output does not depend on ``PYTHONHASHSEED`` or on which other
entries are perturbed. Altered or added calls are written with
:func:`~eigencore.bfcl.calls.format_call` (literals only); untouched calls keep their original
text.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from eigencore.bfcl.calls import Call, format_call, parse_call
from eigencore.bfcl.metric import ground_truth_trajectory
from eigencore.bfcl.reference import ReferenceEpisode
from eigencore.bfcl.release import Entry, Release, load_release

__all__ = [
    "DEFAULT_KINDS",
    "KINDS",
    "Perturbation",
    "perturb",
    "perturbations",
    "quirk_probes",
]

DEFAULT_KINDS: tuple[str, ...] = (
    "drop_call",
    "duplicate_call",
    "add_call",
    "reorder_calls",
    "alter_argument",
    "move_call",
    "empty_turn",
    "split_steps",
)
KINDS: tuple[str, ...] = (*DEFAULT_KINDS, "truncate_turns")

Turns = list[list[str]]  # flat calls per turn
Decoded = list[list[list[str]]]


@dataclass(frozen=True)
class Perturbation:
    """A perturbed trajectory in decoded form, with what was done to it."""

    entry_id: str
    kind: str
    slot: int
    description: str
    trajectory: Decoded

    @property
    def case_id(self) -> str:
        return f"{self.entry_id}:{self.kind}:{self.slot}"


@dataclass(frozen=True)
class _Context:
    """What the edits may draw from: the entry's literals and the involved functions."""

    entry: Entry
    docs: dict[str, dict[str, Any]]  # function name -> doc, for involved classes
    functions_by_class: dict[str, list[str]]
    by_name: dict[str, list[Any]]  # parameter name -> literals used for it in the truth
    by_type: dict[str, list[Any]]  # python type name -> literals of that type in the truth


def _type_name(value: Any) -> str:
    return type(value).__name__


def _context(entry: Entry, release: Release) -> _Context:
    docs: dict[str, dict[str, Any]] = {}
    functions_by_class: dict[str, list[str]] = {}
    for class_name in entry.involved_classes:
        class_docs = release.func_docs(class_name)
        functions_by_class[class_name] = [doc["name"] for doc in class_docs]
        docs.update({doc["name"]: doc for doc in class_docs})
    by_name: dict[str, list[Any]] = defaultdict(list)
    by_type: dict[str, list[Any]] = defaultdict(list)
    for turn in entry.ground_truth:
        for text in turn:
            call = parse_call(text)
            names = _param_names(docs.get(call.name))
            pairs = list(zip(names, call.args, strict=False)) + list(call.kwargs.items())
            for name, value in pairs:
                if value not in by_name[name]:
                    by_name[name].append(value)
                if value not in by_type[_type_name(value)]:
                    by_type[_type_name(value)].append(value)
    return _Context(entry, docs, functions_by_class, dict(by_name), dict(by_type))


def _param_names(doc: dict[str, Any] | None) -> list[str]:
    return list(doc["parameters"]["properties"]) if doc else []


def _flat(entry: Entry) -> Turns:
    return [list(calls) for calls in entry.ground_truth]


def _wrap(turns: Turns) -> Decoded:
    return [[list(calls)] if calls else [] for calls in turns]


def _nonempty(turns: Turns, minimum: int = 1) -> list[int]:
    return [i for i, calls in enumerate(turns) if len(calls) >= minimum]


def _drop(ctx: _Context, rng: random.Random) -> tuple[Decoded, str] | None:
    turns = _flat(ctx.entry)
    # A turn keeping other calls probes state/response; emptying one is `empty_turn`'s job.
    candidates = _nonempty(turns, 2) or _nonempty(turns)
    if not candidates:
        return None
    t = rng.choice(candidates)
    i = rng.randrange(len(turns[t]))
    call = turns[t].pop(i)
    return _wrap(turns), f"turn {t}: dropped call {i} {call}"


def _duplicate(ctx: _Context, rng: random.Random) -> tuple[Decoded, str] | None:
    turns = _flat(ctx.entry)
    candidates = _nonempty(turns)
    if not candidates:
        return None
    t = rng.choice(candidates)
    i = rng.randrange(len(turns[t]))
    turns[t].insert(i + 1, turns[t][i])
    return _wrap(turns), f"turn {t}: duplicated call {i} {turns[t][i]}"


def _reorder(ctx: _Context, rng: random.Random) -> tuple[Decoded, str] | None:
    turns = _flat(ctx.entry)
    candidates = [i for i in _nonempty(turns, 2) if len(set(turns[i])) >= 2]
    if not candidates:
        return None
    t = rng.choice(candidates)
    original = list(turns[t])
    while turns[t] == original:
        rng.shuffle(turns[t])
    order = [original.index(c) for c in turns[t]]
    return _wrap(turns), f"turn {t}: calls reordered to {order}"


def _move(ctx: _Context, rng: random.Random) -> tuple[Decoded, str] | None:
    turns = _flat(ctx.entry)
    candidates = _nonempty(turns, 2) or _nonempty(turns)
    if not candidates or len(turns) < 2:
        return None
    source = rng.choice(candidates)
    i = rng.randrange(len(turns[source]))
    call = turns[source].pop(i)
    target = rng.choice([t for t in range(len(turns)) if t != source])
    position = rng.randint(0, len(turns[target]))
    turns[target].insert(position, call)
    return _wrap(turns), f"moved {call} from turn {source} to turn {target} at {position}"


def _empty(ctx: _Context, rng: random.Random) -> tuple[Decoded, str] | None:
    turns = _flat(ctx.entry)
    candidates = _nonempty(turns)
    if not candidates:
        return None
    t = rng.choice(candidates)
    turns[t] = []
    return _wrap(turns), f"turn {t}: no call"


def _split(ctx: _Context, rng: random.Random) -> tuple[Decoded, str] | None:
    decoded = ground_truth_trajectory(ctx.entry)
    candidates = _nonempty(_flat(ctx.entry), 2)
    if not candidates:
        return None
    t = rng.choice(candidates)
    calls = decoded[t][0]
    cuts = sorted(rng.sample(range(1, len(calls)), rng.randint(1, len(calls) - 1)))
    bounds = [0, *cuts, len(calls)]
    decoded[t] = [calls[a:b] for a, b in pairwise(bounds)]
    return decoded, f"turn {t}: split into steps of {[len(s) for s in decoded[t]]} calls"


def _truncate(ctx: _Context, rng: random.Random) -> tuple[Decoded, str] | None:
    decoded = ground_truth_trajectory(ctx.entry)
    if len(decoded) < 2:
        return None
    return decoded[:-1], f"last turn ({len(decoded) - 1}) missing"


def _altered(value: Any, name: str | None, ctx: _Context, rng: random.Random, depth: int = 0
             ) -> Any:
    """A different literal of the same kind, or the same value if none can be found."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + rng.choice([-3, -2, -1, 1, 2, 3])
    if isinstance(value, float):
        delta = rng.choice([0.5, 1.0, 5.0, 10.0]) * rng.choice([-1, 1])
        return round(value + delta, 2)
    if isinstance(value, str):
        named = ctx.by_name.get(name or "", [])
        same_name = [v for v in named if isinstance(v, str) and v != value]
        others = [v for v in ctx.by_type.get("str", []) if v != value]
        pool = same_name or others
        return rng.choice(pool) if pool else value + "_x"
    if isinstance(value, list) and depth < 3:
        if not value:
            pool = ctx.by_type.get("str", [])
            return [rng.choice(pool) if pool else "x"]
        items = list(value)
        i = rng.randrange(len(items))
        if len(items) > 1 and rng.random() < 0.5:
            del items[i]
        else:
            items[i] = _altered(items[i], None, ctx, rng, depth + 1)
        return items
    if isinstance(value, dict) and value and depth < 3:
        items = dict(value)
        key = rng.choice(list(items))
        items[key] = _altered(items[key], str(key), ctx, rng, depth + 1)
        return items
    return value


def _alter(ctx: _Context, rng: random.Random) -> tuple[Decoded, str] | None:
    turns = _flat(ctx.entry)
    slots = [(t, i) for t, calls in enumerate(turns) for i in range(len(calls))
             if parse_call(calls[i]).args or parse_call(calls[i]).kwargs]
    rng.shuffle(slots)
    for t, i in slots:
        call = parse_call(turns[t][i])
        names = _param_names(ctx.docs.get(call.name))
        targets: list[tuple[int | str, str | None]] = [
            (k, names[k] if k < len(names) else None) for k in range(len(call.args))
        ] + [(k, k) for k in call.kwargs]
        rng.shuffle(targets)
        for key, name in targets:
            old = call.args[key] if isinstance(key, int) else call.kwargs[key]
            new = _altered(old, name, ctx, rng)
            if new == old and type(new) is type(old):
                continue
            if isinstance(key, int):
                args = list(call.args)
                args[key] = new
                changed = Call(call.name, tuple(args), dict(call.kwargs))
            else:
                changed = Call(call.name, call.args, {**call.kwargs, key: new})
            turns[t][i] = format_call(changed)
            return _wrap(turns), f"turn {t}: {call.name} argument {key}: {old!r} -> {new!r}"
    return None


def _argument_for(name: str, schema: dict[str, Any], ctx: _Context, rng: random.Random
                  ) -> tuple[bool, Any]:
    """(found, value) for a parameter: a literal the truth used under this name, else by type."""
    same_name = ctx.by_name.get(name)
    if same_name:
        return True, rng.choice(same_name)
    kind = schema.get("type")
    by_type = {
        "string": ctx.by_type.get("str", []),
        "integer": ctx.by_type.get("int", []),
        "float": ctx.by_type.get("float", []) + ctx.by_type.get("int", []),
        "array": ctx.by_type.get("list", []),
        "dict": ctx.by_type.get("dict", []),
    }.get(kind or "", [])
    if by_type:
        return True, rng.choice(by_type)
    fallback: dict[str, Callable[[], Any]] = {
        "boolean": lambda: rng.random() < 0.5,
        "integer": lambda: rng.randint(1, 10),
        "float": lambda: float(rng.randint(1, 100)),
        "array": lambda: [],
        "dict": lambda: {},
        "string": lambda: "x",
    }
    maker = fallback.get(kind or "")
    return (True, maker()) if maker else (False, None)


def _add(ctx: _Context, rng: random.Random) -> tuple[Decoded, str] | None:
    classes = [c for c in ctx.entry.involved_classes if ctx.functions_by_class.get(c)]
    if not classes:
        return None
    function = rng.choice(ctx.functions_by_class[rng.choice(classes)])
    parameters = ctx.docs[function]["parameters"]
    kwargs: dict[str, Any] = {}
    for name, schema in parameters["properties"].items():
        required = name in parameters.get("required", [])
        if not required and not (name in ctx.by_name and rng.random() < 0.3):
            continue
        found, value = _argument_for(name, schema, ctx, rng)
        if not found:
            return None
        kwargs[name] = value
    call = format_call(Call(function, (), kwargs))
    turns = _flat(ctx.entry)
    # Mostly into turns the truth acts in; sometimes where the model should abstain.
    target = rng.choice(_nonempty(turns) or list(range(len(turns))))
    if rng.random() < 0.2:
        target = rng.randrange(len(turns))
    position = rng.randint(0, len(turns[target]))
    turns[target].insert(position, call)
    return _wrap(turns), f"turn {target}: added {call} at {position}"


_EDITS: dict[str, Callable[[_Context, random.Random], tuple[Decoded, str] | None]] = {
    "drop_call": _drop,
    "duplicate_call": _duplicate,
    "add_call": _add,
    "reorder_calls": _reorder,
    "alter_argument": _alter,
    "move_call": _move,
    "empty_turn": _empty,
    "split_steps": _split,
    "truncate_turns": _truncate,
}


def _seeded(seed: int, entry_id: str, slot: int, kind: str) -> random.Random:
    return random.Random(f"{seed}:{entry_id}:{slot}:{kind}")


def _apply(ctx: _Context, kind: str, seed: int, slot: int) -> Perturbation | None:
    if kind not in _EDITS:
        raise ValueError(f"unknown perturbation kind {kind!r}; expected one of {KINDS}")
    outcome = _EDITS[kind](ctx, _seeded(seed, ctx.entry.id, slot, kind))
    if outcome is None:
        return None
    trajectory, description = outcome
    if trajectory == ground_truth_trajectory(ctx.entry) and kind != "split_steps":
        return None  # e.g. a move that lands where it started
    return Perturbation(ctx.entry.id, kind, slot, description, trajectory)


def perturb(entry: Entry, kind: str, *, seed: int = 0, slot: int = 0,
            release: Release | None = None) -> Perturbation | None:
    """One perturbation of ``kind``, or None if it does not apply to this entry."""
    release = release if release is not None else load_release()
    return _apply(_context(entry, release), kind, seed, slot)


def perturbations(
    entries: Iterable[Entry],
    *,
    per_entry: int = 2,
    seed: int = 0,
    kinds: Sequence[str] = DEFAULT_KINDS,
    release: Release | None = None,
) -> list[Perturbation]:
    """``per_entry`` perturbations of distinct kinds per entry, kinds cycling over the entries.

    Entry ``n`` (in iteration order) starts at kind ``n * per_entry + n // len(kinds)`` of the
    cycle (the drift keeps the same scenario in different categories, 200 entries apart, from
    always getting the same kinds); a kind that does not apply is replaced by the next one, so
    every kind gets about the same share.
    """
    release = release if release is not None else load_release()
    unknown = set(kinds) - set(_EDITS)
    if unknown:
        raise ValueError(f"unknown perturbation kinds {sorted(unknown)}; expected from {KINDS}")
    out: list[Perturbation] = []
    for n, entry in enumerate(entries):
        ctx = _context(entry, release)
        used: set[str] = set()
        start = n * per_entry + n // len(kinds)
        for slot in range(per_entry):
            for offset in range(len(kinds)):
                kind = kinds[(start + slot + offset) % len(kinds)]
                if kind in used:
                    continue
                result = _apply(ctx, kind, seed, slot)
                if result is not None:
                    used.add(kind)
                    out.append(result)
                    break
    return out


PROBE_MENTION = "@eigen_probe"


def _last_nonempty_after(entry: Entry, turn: int) -> int | None:
    later = [t for t in range(turn + 1, len(entry.ground_truth)) if entry.ground_truth[t]]
    return later[-1] if later else None


def _probe_shared_default(entry: Entry, release: Release) -> list[Perturbation]:
    if "TwitterAPI" not in entry.involved_classes:
        return []
    episode = ReferenceEpisode(entry, release)
    for turn, calls in enumerate(entry.ground_truth):
        for text in calls:
            call = parse_call(text)
            result = episode.execute(call)
            uses_default = call.name == "post_tweet" and "mentions" not in call.kwargs
            if not (uses_default and len(call.args) < 3 and isinstance(result.value, dict)):
                continue
            target = _last_nonempty_after(entry, turn)
            if target is None or "id" not in result.value:
                continue
            extra = format_call(Call("mention", (), {
                "tweet_id": result.value["id"], "mentioned_usernames": [PROBE_MENTION]}))
            turns = _flat(entry)
            turns[target].append(extra)
            probe = Perturbation(entry.id, "probe_shared_default", 0,
                                 f"turn {target}: added {extra} (tweet posted in turn {turn} "
                                 "with the default mentions list)", _wrap(turns))
            # Control: the model passes its own empty list, so nothing is shared any more.
            index = calls.index(text)
            explicit = format_call(Call(call.name, call.args, {**call.kwargs, "mentions": []}))
            turns[turn][index] = explicit
            control = Perturbation(entry.id, "control_shared_default", 0,
                                   f"as probe_shared_default, with {explicit} in turn {turn}",
                                   _wrap(turns))
            return [probe, control]
    return []


def _probe_shared_extension(entry: Entry, release: Release) -> list[Perturbation]:
    if "TravelAPI" not in entry.involved_classes or not entry.long_context:
        return []
    tokens = [parse_call(c).kwargs.get("access_token") for t in entry.ground_truth for c in t]
    tokens = [token for token in tokens if isinstance(token, str)]
    target = _last_nonempty_after(entry, -1)
    if not tokens or target is None:
        return []
    config = entry.initial_config.get("TravelAPI", {})
    own_cards = sorted(config.get("credit_card_list", {}))
    state = ReferenceEpisode(entry, release).state()["TravelAPI"]
    cards = sorted(set(state["credit_card_list"]) - set(own_cards))
    bookings = sorted(set(state["booking_record"]) - set(config.get("booking_record", {})))
    if not cards or not bookings:
        return []
    out = []
    # The control charges a card of the entry's own (deep-copied) config instead.
    for kind, card in (("probe_shared_extension", cards[0]),
                       ("control_shared_extension", own_cards[0] if own_cards else None)):
        if card is None:
            continue
        extra = format_call(Call("purchase_insurance", (), {
            "access_token": tokens[-1], "insurance_type": "comprehensive",
            "booking_id": bookings[0], "insurance_cost": 1.0, "card_id": card}))
        turns = _flat(entry)
        turns[target].append(extra)
        origin = "CREDIT_CARD_EXTENSION" if kind.startswith("probe") else "the entry's config"
        out.append(Perturbation(entry.id, kind, 0, f"turn {target}: added {extra} (card from "
                                f"{origin})", _wrap(turns)))
    return out


def quirk_probes(entries: Iterable[Entry], *, release: Release | None = None
                 ) -> list[Perturbation]:
    """Every applicable ``probe_shared_*`` case, each followed by its ``control_shared_*``
    twin (same edit, but on an object the model's instance owns alone)."""
    release = release if release is not None else load_release()
    out: list[Perturbation] = []
    for entry in entries:
        out.extend(_probe_shared_default(entry, release))
        out.extend(_probe_shared_extension(entry, release))
    return out
