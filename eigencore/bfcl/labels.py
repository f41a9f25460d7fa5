"""A labelled set of BFCL-V3 trajectories for measuring metric validity, built from the release.

Every item starts from one ``base`` entry's ground truth (BFCL's decoded form: turns -> steps
-> call strings) and applies one transformation whose meaning decides the label:

correct but different (``label`` true)
    ``reference`` (the ground truth itself), ``extra_reads`` (harmless read-only calls
    inserted), ``reorder`` (two independent adjacent calls of a turn swapped), ``split_steps``
    (a turn's calls spread over several steps), ``argument_forms`` (keyword <-> positional,
    ``25`` <-> ``25.0``, a default written out), ``equivalent_tool`` (another tool or path to
    the same outcome, e.g. ``cd('a/b')`` for ``cd('a'); cd('b')`` or four single-door
    ``lockDoors`` for one four-door call);
incorrect (``label`` false)
    ``wrong_target`` (an argument naming an entity points at another real entity),
    ``wrong_value`` (a written value altered), ``missing_step`` (a state-changing call
    dropped), ``extra_destructive`` (an unrequested ``rm``/``cancel_booking``/... added),
    ``stop_early`` (the calls of the last non-empty turn(s) dropped).

No label comes from a metric under test. Each candidate is executed on the SQLite port
(:class:`~eigencore.bfcl.port.PortEpisode`) next to the ground truth and kept only when the
execution confirms what its label claims: correct items end every turn in the ground truth's
state (all public attributes) with the information each turn asked for still among the call
results; incorrect items end in a different final state, or (``stop_early``) leave a turn's
requested information unsaid. The ``note`` of each item records the edit and what was
verified. Randomness is ``random.Random`` seeded by strings, so a seed gives the same set
whatever ``PYTHONHASHSEED`` is. BFCL data is never committed: the set is rebuilt from the
cached release (``eigen bfcl labels --out FILE``).
"""

from __future__ import annotations

import inspect
import json
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Any

from eigencore.bfcl.calls import Call, format_call, parse_call
from eigencore.bfcl.metric import ground_truth_trajectory
from eigencore.bfcl.port import PortEpisode, bind_arguments, positional_names
from eigencore.bfcl.reference import ExecResult
from eigencore.bfcl.release import Entry, Release, load_release
from environments.bfcl import by_class
from environments.contract import ToolSpec

__all__ = [
    "CORRECT_KINDS",
    "INCORRECT_KINDS",
    "KINDS",
    "build_labels",
    "main",
    "read_labels",
    "write_labels",
]

CORRECT_KINDS: tuple[str, ...] = (
    "reference", "extra_reads", "reorder", "split_steps", "argument_forms", "equivalent_tool")
INCORRECT_KINDS: tuple[str, ...] = (
    "wrong_target", "wrong_value", "missing_step", "extra_destructive", "stop_early")
KINDS: tuple[str, ...] = (*CORRECT_KINDS, *INCORRECT_KINDS)
# Two of each label per entry: every entry offers both, so a synthetic system can always
# choose, and ~4 items per entry keeps the full validity run to seconds.
PER_LABEL = 2
# Candidate edits tried per kind and entry before the kind is declared inapplicable.
MAX_TRIES = 16

Decoded = list[list[list[str]]]

# Parameters that name an existing entity (wrong_target) and values the user dictates
# (wrong_value). Login credentials are neither: a wrong password fails loudly, it does not
# quietly do the wrong thing.
TARGET_PARAMS = frozenset({
    "file_name", "source", "destination", "file_name1", "file_name2", "folder",
    "receiver_id", "user_id", "user", "tweet_id", "username_to_follow", "username_to_unfollow",
    "ticket_id", "symbol", "stock", "order_id", "booking_id", "card_id", "travel_from",
    "travel_to", "cityA", "cityB", "city", "location",
})
VALUE_PARAMS = frozenset({
    "content", "message", "comment_content", "title", "description", "priority", "resolution",
    "updates", "price", "amount", "budget_limit", "travel_cost", "insurance_cost", "fuelAmount",
    "temperature", "speed", "tags", "mentions", "mentioned_usernames", "dir_name", "unlock",
    "travel_date", "travel_class", "insurance_type", "order_type", "xact_type", "mode",
    "new_price", "distanceToNextVehicle", "fanSpeed", "destination_city",
})
FILE_PARAMS = frozenset({
    "file_name", "source", "destination", "file_name1", "file_name2", "folder"})
FS_TOOLS = frozenset({
    "cd", "mv", "cp", "rm", "rmdir", "echo", "cat", "touch", "wc", "sort", "grep", "tail",
    "diff", "find", "ls", "mkdir", "du", "pwd"})
# Calls that only move the session (working directory, log-ins): dropping one is a broken
# trajectory rather than a missing requested action, so missing_step prefers other calls.
SESSION_CALLS = frozenset({
    "cd", "message_login", "authenticate_twitter", "ticket_login", "trading_login",
    "authenticate_travel", "logout", "trading_logout",
})


# ----------------------------------------------------------------------------- execution

def _failed(result: ExecResult) -> bool:
    # The BFCL classes mostly report refusals as {"error": ...} values, not exceptions.
    return result.error or (isinstance(result.value, dict) and "error" in result.value)


def _leaves(value: Any) -> list[Any]:
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list | tuple | set):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _same_leaf(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


@dataclass(frozen=True)
class Execution:
    """One trajectory run on a fresh port episode: per turn, every call's outcome and the
    state (all public attributes of every involved class) after the turn."""

    calls: list[list[str]]
    results: list[list[ExecResult]]
    states: list[dict[str, dict[str, Any]]]

    @property
    def final(self) -> dict[str, dict[str, Any]]:
        return self.states[-1] if self.states else {}

    def texts(self, turn: int) -> list[str]:
        return [r.text for r in self.results[turn]]

    def failed(self, turn: int, index: int) -> bool:
        return _failed(self.results[turn][index])


def execute(entry: Entry, trajectory: Decoded) -> Execution:
    """Run ``trajectory`` (decoded form) on a fresh port episode of ``entry``."""
    episode = PortEpisode(entry)
    try:
        calls: list[list[str]] = []
        results: list[list[ExecResult]] = []
        states = []
        for steps in trajectory:
            flat = [c for step in steps for c in step]
            calls.append(flat)
            results.append([episode.execute(c) for c in flat])
            states.append(episode.state())
        return Execution(calls, results, states)
    finally:
        episode.close()


def _state_diff_keys(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> list[str]:
    """``Class.attribute`` names whose values differ between two states."""
    out = []
    for cls in sorted(set(a) | set(b)):
        left, right = a.get(cls, {}), b.get(cls, {})
        out += [f"{cls}.{k}" for k in sorted(set(left) | set(right))
                if left.get(k) != right.get(k)]
    return out


# ------------------------------------------------------------------------------ context

@dataclass
class _Context:
    """One entry, its ground truth executed once, and what edits may draw from."""

    entry: Entry
    specs: dict[str, ToolSpec]
    gt: Decoded
    truth: Execution

    @classmethod
    def of(cls, entry: Entry) -> _Context:
        specs: dict[str, ToolSpec] = {}
        bundles = by_class()
        for class_name in entry.involved_classes:  # later classes win, as in PortEpisode
            specs.update({s.name: s for s in bundles[class_name].tools})
        gt = ground_truth_trajectory(entry)
        return cls(entry, specs, gt, execute(entry, gt))

    def flat(self) -> list[list[str]]:
        return [list(calls) for calls in self.entry.ground_truth]

    def read_only(self, call: str) -> bool:
        spec = self.specs.get(parse_call(call).name)
        return spec is not None and spec.read_only

    def bound(self, call: Call) -> dict[str, Any]:
        return bind_arguments(self.specs[call.name], call)

    @cached_property
    def literals(self) -> dict[str, list[Any]]:
        """Parameter name -> the scalar literals the ground truth passes for it."""
        out: dict[str, list[Any]] = {}
        for turn in self.entry.ground_truth:
            for text in turn:
                call = parse_call(text)
                if call.name not in self.specs:
                    continue
                for name, value in self.bound(call).items():
                    if isinstance(value, str | int | float) and value not in out.setdefault(
                            name, []):
                        out[name].append(value)
        return out

    @cached_property
    def entities(self) -> dict[str, list[Any]]:
        """Parameter name -> real entities of the scenario (initial state and ground-truth
        results) that such a parameter can name."""
        pools: dict[str, list[Any]] = {}

        def add(names: Sequence[str], values: Any) -> None:
            for name in names:
                pool = pools.setdefault(name, [])
                for value in values:
                    if value not in pool:
                        pool.append(value)

        state = execute(self.entry, [[] for _ in self.gt]).states[0] if self.gt else {}
        fs = state.get("GorillaFileSystem")
        if fs:
            files, dirs = _fs_names(fs.get("root") or {})
            add(("file_name", "source", "file_name1", "file_name2"), files)
            add(("destination", "folder"), dirs)
        msg = state.get("MessageAPI")
        if msg:
            add(("receiver_id", "user_id"), list(msg.get("user_map", {}).values()))
            add(("user", "user_name"), list(msg.get("user_map", {})))
        tw = state.get("TwitterAPI")
        if tw:
            tweets = tw.get("tweets", {})
            add(("tweet_id",), [int(k) for k in tweets if str(k).isdigit()])
            users = [t["username"] for t in tweets.values() if "username" in t]
            users += list(tw.get("following_list", []))
            add(("username_to_follow", "username_to_unfollow", "username"), users)
        tk = state.get("TicketAPI")
        if tk:
            add(("ticket_id",), [t["id"] for t in tk.get("ticket_queue", [])
                                 if isinstance(t, dict) and "id" in t])
        tb = state.get("TradingBot")
        if tb:
            add(("symbol", "stock"), list(tb.get("stocks", {})))
            add(("order_id",), [int(k) for k in tb.get("orders", {}) if str(k).isdigit()])
        tr = state.get("TravelAPI")
        if tr:
            add(("card_id",), list(tr.get("credit_card_list", {})))
            add(("booking_id",), list(tr.get("booking_record", {})))
        # Entities created along the way (a booking, an order, a ticket) are real too.
        for turn in self.truth.results:
            for result in turn:
                if isinstance(result.value, dict):
                    for key, names in (("booking_id", ("booking_id",)),
                                       ("order_id", ("order_id",)), ("id", ("ticket_id",))):
                        if key in result.value and not isinstance(result.value[key], bool):
                            add(names, [result.value[key]])
        for name, values in self.literals.items():
            if name in TARGET_PARAMS:
                add((name,), values)
        return pools


def _fs_names(node: dict[str, Any]) -> tuple[list[str], list[str]]:
    files: list[str] = []
    dirs: list[str] = []
    for name, child in node.get("contents", {}).items():
        if child.get("type") == "file":
            files.append(name)
        else:
            dirs.append(name)
            f, d = _fs_names(child)
            files += f
            dirs += d
    return files, dirs


# ----------------------------------------------------------------------------- checks

def _wrap(turns: list[list[str]]) -> Decoded:
    return [[list(calls)] if calls else [] for calls in turns]


def _same_states(ctx: _Context, run: Execution) -> bool:
    return run.states == ctx.truth.states


def _results_cover(ctx: _Context, run: Execution, *, exact: bool) -> bool:
    for t in range(len(ctx.gt)):
        want, got = Counter(ctx.truth.texts(t)), Counter(run.texts(t))
        if (want != got) if exact else (want - got):
            return False
    return True


def _same_per_call(ctx: _Context, run: Execution) -> bool:
    """Every ground-truth call the run makes unchanged returns what it returned in the
    ground truth (calls matched by text, in order of occurrence)."""
    for t in range(len(ctx.gt)):
        expected: dict[str, list[str]] = {}
        for text, result in zip(ctx.truth.calls[t], ctx.truth.results[t], strict=True):
            expected.setdefault(text, []).append(result.text)
        for text, result in zip(run.calls[t], run.results[t], strict=True):
            queue = expected.get(text)
            if queue and queue.pop(0) != result.text:
                return False
    return True


def _asked_leaves(ctx: _Context, turn: int) -> list[Any]:
    """What the turn's read-only ground-truth calls told the user (their result leaves)."""
    out: list[Any] = []
    for text, result in zip(ctx.truth.calls[turn], ctx.truth.results[turn], strict=True):
        if ctx.read_only(text) and not _failed(result):
            out += [leaf for leaf in _leaves(result.value) if leaf not in (None, "")]
    return out


def _informed(ctx: _Context, run: Execution, turn: int) -> bool:
    """Every fact the ground truth's reads surfaced in this turn is among the run's results."""
    have = [leaf for r in run.results[turn] if not _failed(r) for leaf in _leaves(r.value)]
    return all(any(_same_leaf(want, got) for got in have) for want in _asked_leaves(ctx, turn))


def _differs(ctx: _Context, run: Execution) -> list[str]:
    return _state_diff_keys(ctx.truth.final, run.final)


# ------------------------------------------------------------------------------ edits

Candidate = tuple[Decoded, str]
Generator = Callable[[_Context, random.Random], Iterator[Candidate]]


def _nonempty(turns: list[list[str]], minimum: int = 1) -> list[int]:
    return [t for t, calls in enumerate(turns) if len(calls) >= minimum]


def _reference(ctx: _Context, rng: random.Random) -> Iterator[Candidate]:
    yield ctx.gt, "the ground truth, one step per turn"


def _read_calls(ctx: _Context, rng: random.Random) -> list[str]:
    """Read-only calls of the involved classes whose required arguments the entry supplies."""
    out = []
    for name, spec in sorted(ctx.specs.items()):
        if not spec.read_only:
            continue
        kwargs: dict[str, Any] = {}
        for pname, param in list(inspect.signature(spec.fn).parameters.items())[1:]:
            if param.default is not inspect.Parameter.empty:
                continue
            pool = ctx.literals.get(pname)
            if not pool:
                break
            kwargs[pname] = rng.choice(pool)
        else:
            out.append(format_call(Call(name, (), kwargs)))
    return out


def _extra_reads(ctx: _Context, rng: random.Random) -> Iterator[Candidate]:
    reads = _read_calls(ctx, rng)
    turns_with_calls = _nonempty(ctx.flat())
    if not reads or not turns_with_calls:
        return
    for _ in range(MAX_TRIES):
        turns = ctx.flat()
        added = []
        for _ in range(rng.choice((1, 2))):
            t = rng.choice(turns_with_calls)
            i = rng.randint(0, len(turns[t]))
            call = rng.choice(reads)
            turns[t].insert(i, call)
            added.append(f"turn {t}: {call} at {i}")
        yield _wrap(turns), "inserted " + "; ".join(added)


def _depends(later: Call, earlier: ExecResult, question: str) -> bool:
    """Whether ``later`` uses something only ``earlier``'s result revealed: one of its argument
    values is in that result, or a value of that result is quoted in its arguments."""
    found = [v for v in _leaves(earlier.value) if not isinstance(v, bool) and v is not None]
    used = [v for v in _leaves([*later.args, *later.kwargs.values()])
            if not isinstance(v, bool) and v is not None]
    text = format_call(later)
    for value in found:
        shown = str(value)
        if len(shown) >= 3 and shown not in question and shown in text:
            return True
    result_text = earlier.text
    for value in used:
        shown = str(value)
        if len(shown) >= 2 and shown not in question and (
                shown in result_text or any(_same_leaf(value, leaf) for leaf in found)):
            return True
    return False


def _reorder(ctx: _Context, rng: random.Random) -> Iterator[Candidate]:
    flat = ctx.flat()
    pairs = [(t, i) for t in _nonempty(flat, 2) for i in range(len(flat[t]) - 1)
             if flat[t][i] != flat[t][i + 1]]
    rng.shuffle(pairs)
    for t, i in pairs:
        question = " ".join(str(m.get("content", "")) for m in ctx.entry.question[t])
        first, second = parse_call(flat[t][i]), parse_call(flat[t][i + 1])
        if _depends(second, ctx.truth.results[t][i], question):
            continue  # the second call needs the first one's answer
        turns = ctx.flat()
        turns[t][i], turns[t][i + 1] = turns[t][i + 1], turns[t][i]
        yield _wrap(turns), f"turn {t}: swapped calls {i} and {i + 1} ({first.name}, {second.name})"


def _split_steps(ctx: _Context, rng: random.Random) -> Iterator[Candidate]:
    flat = ctx.flat()
    candidates = _nonempty(flat, 2)
    rng.shuffle(candidates)
    for t in candidates:
        calls = flat[t]
        cuts = sorted(rng.sample(range(1, len(calls)), rng.randint(1, len(calls) - 1)))
        bounds = [0, *cuts, len(calls)]
        decoded = [*ctx.gt[:t], [calls[a:b] for a, b in pairwise(bounds)], *ctx.gt[t + 1:]]
        yield decoded, f"turn {t}: split into steps of {[len(s) for s in decoded[t]]} calls"


def _argument_variants(ctx: _Context, call: Call) -> list[tuple[Call, str]]:
    """Equivalent spellings of one call: positional <-> keyword, int <-> float, a default
    written out."""
    spec = ctx.specs.get(call.name)
    if spec is None:
        return []
    names = positional_names(spec)
    out: list[tuple[Call, str]] = []
    if call.args:
        kwargs = {**dict(zip(names, call.args, strict=False)), **call.kwargs}
        out.append((Call(call.name, (), kwargs), "positional arguments as keywords"))
    else:
        prefix = []
        for name in names:
            if name not in call.kwargs:
                break
            prefix.append(name)
        if prefix:
            args = tuple(call.kwargs[n] for n in prefix)
            rest = {k: v for k, v in call.kwargs.items() if k not in prefix}
            out.append((Call(call.name, args, rest), f"keywords {prefix} as positional"))
    bound = ctx.bound(call)
    for name, value in bound.items():
        new: Any = None
        if isinstance(value, bool) or name in TARGET_PARAMS or name.endswith("_id"):
            continue  # 83912.0 is not a way to write a ticket id
        if isinstance(value, int):
            new = float(value)
        elif isinstance(value, float) and value.is_integer():
            new = int(value)
        if new is not None:
            out.append((Call(call.name, (), {**bound, name: new}), f"{name}={value!r} -> {new!r}"))
    for name, param in list(inspect.signature(spec.fn).parameters.items())[1:]:
        default = param.default
        if name in bound or default is inspect.Parameter.empty or default is None:
            continue
        if isinstance(default, str | int | float | bool):
            out.append((Call(call.name, (), {**bound, name: default}),
                        f"default {name}={default!r} written out"))
    return out


def _argument_forms(ctx: _Context, rng: random.Random) -> Iterator[Candidate]:
    flat = ctx.flat()
    options = [(t, i, variant, why) for t, calls in enumerate(flat) for i, text in enumerate(calls)
               for variant, why in _argument_variants(ctx, parse_call(text))]
    rng.shuffle(options)
    for t, i, variant, why in options:
        turns = ctx.flat()
        turns[t][i] = format_call(variant)
        yield _wrap(turns), f"turn {t}: {parse_call(flat[t][i]).name}: {why}"


def _equivalents(ctx: _Context, t: int, i: int) -> Iterator[tuple[int, list[str], str]]:
    """(number of calls replaced from index i, replacement, description) for call (t, i)."""
    calls = ctx.entry.ground_truth[t]
    call = parse_call(calls[i])
    if call.name not in ctx.specs:
        return
    args = ctx.bound(call)
    result = ctx.truth.results[t][i]
    if call.name == "cd" and i + 1 < len(calls):
        nxt = parse_call(calls[i + 1])
        a, b = args.get("folder"), ctx.bound(nxt).get("folder") if nxt.name == "cd" else None
        if isinstance(a, str) and isinstance(b, str) and not {a, b} & {"..", "/", "."}:
            yield 2, [format_call(Call("cd", (), {"folder": f"{a}/{b}"}))], \
                f"cd('{a}'); cd('{b}') as one cd('{a}/{b}')"
    if call.name == "cd" and isinstance(args.get("folder"), str) and "/" in args["folder"].strip(
            "/") and not args["folder"].startswith("/"):
        parts = args["folder"].split("/")
        yield 1, [format_call(Call("cd", (), {"folder": p})) for p in parts], \
            f"cd('{args['folder']}') one directory at a time"
    if call.name == "cd" and args.get("folder") not in (None, "/", "."):
        where = _working_directory_path(ctx, t, i + 1)
        if where is not None:
            absolute = "/" + "/".join(where[1:])  # cd's absolute paths start below the root
            if absolute != args["folder"]:
                yield 1, [format_call(Call("cd", (), {"folder": absolute}))], \
                    f"cd('{args['folder']}') as the absolute cd('{absolute}')"
    if call.name == "mv":
        yield 1, [format_call(Call("cp", (), dict(args))),
                  format_call(Call("rm", (), {"file_name": args["source"]}))], "mv as cp + rm"
    if call.name == "lockDoors" and isinstance(args.get("door"), list) and len(args["door"]) > 1:
        singles = [format_call(Call("lockDoors", (), {**args, "door": [d]})) for d in args["door"]]
        yield 1, singles, "one lockDoors call per door"
    if call.name == "fillFuelTank" and isinstance(args.get("fuelAmount"), int | float):
        amount = args["fuelAmount"]
        first = type(amount)(math.floor(amount / 2))
        if first >= 1 and first + (amount - first) == amount:
            yield 1, [format_call(Call("fillFuelTank", (), {"fuelAmount": first})),
                      format_call(Call("fillFuelTank", (), {"fuelAmount": amount - first}))], \
                f"fuel added in two refills ({first} + {amount - first})"
    if call.name == "post_tweet" and args.get("mentions") and isinstance(result.value, dict):
        rest = {k: v for k, v in args.items() if k != "mentions"}
        yield 1, [format_call(Call("post_tweet", (), rest)),
                  format_call(Call("mention", (), {"tweet_id": result.value.get("id"),
                                                   "mentioned_usernames": args["mentions"]}))], \
            "mentions added with mention() after posting"
    if call.name == "close_ticket":
        yield 1, [format_call(Call("edit_ticket", (), {"ticket_id": args["ticket_id"],
                                                       "updates": {"status": "Closed"}}))], \
            "close_ticket as edit_ticket(status='Closed')"
    if call.name == "create_ticket" and "priority" in args and isinstance(result.value, dict):
        rest = {k: v for k, v in args.items() if k != "priority"}
        yield 1, [format_call(Call("create_ticket", (), rest)),
                  format_call(Call("edit_ticket", (), {"ticket_id": result.value.get("id"),
                                                       "updates": {"priority": args["priority"]}}))
                  ], "priority set with edit_ticket after creating"
    if call.name == "fund_account" and "make_transaction" in ctx.specs:
        account = ctx.truth.states[t].get("TradingBot", {}).get("account_info", {})
        if "account_id" in account:
            yield 1, [format_call(Call("make_transaction", (), {
                "account_id": account["account_id"], "xact_type": "deposit",
                "amount": args["amount"]}))], "fund_account as make_transaction('deposit')"
    if call.name == "mean" and isinstance(args.get("numbers"), list) and args["numbers"] and \
            "sum_values" in ctx.specs:
        numbers = args["numbers"]
        total = sum(numbers)
        yield 1, [format_call(Call("sum_values", (), {"numbers": numbers})),
                  format_call(Call("divide", (), {"a": total, "b": len(numbers)}))], \
            "mean as sum_values then divide"


def _equivalent_tool(ctx: _Context, rng: random.Random) -> Iterator[Candidate]:
    flat = ctx.flat()
    options = [(t, i, n, repl, why) for t, calls in enumerate(flat) for i in range(len(calls))
               for n, repl, why in _equivalents(ctx, t, i)]
    rng.shuffle(options)
    for t, i, n, repl, why in options:
        turns = ctx.flat()
        turns[t][i:i + n] = repl
        yield _wrap(turns), f"turn {t}: {why}: {'; '.join(repl)}"


def _altered_values(value: Any) -> list[Any]:
    """Clearly different values of the same kind."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [v for v in (value + 1, value * 2, value - 1) if v != value]
    if isinstance(value, float):
        return [v for v in (round(value * 2, 2), round(value + 1.0, 2), round(value / 2, 2))
                if v != value]
    if isinstance(value, str):
        words = value.split()
        if len(words) > 1:
            return [" ".join(words[:-1])]  # the text loses its last word
        stem, dot, ext = value.rpartition(".")
        return [f"{stem}_v2.{ext}" if dot and stem else value + "2"]
    if isinstance(value, list) and value:
        return [value[:-1]]  # a tag or mention left out
    if isinstance(value, dict) and value:
        key = next(iter(value))
        return [{**value, key: alt} for alt in _altered_values(value[key])]
    return []


def _replace_argument(ctx: _Context, rng: random.Random, params: frozenset[str],
                      alternatives: Callable[[int, int, str, Any], list[Any]]
                      ) -> Iterator[Candidate]:
    flat = ctx.flat()
    options = []
    for t, calls in enumerate(flat):
        for i, text in enumerate(calls):
            if ctx.read_only(text) or ctx.truth.failed(t, i):
                continue
            call = parse_call(text)
            if call.name not in ctx.specs:
                continue
            for name, value in ctx.bound(call).items():
                if name in params:
                    options += [(t, i, name, value, alt)
                                for alt in alternatives(t, i, name, value)]
    rng.shuffle(options)
    for t, i, name, old, new in options:
        call = parse_call(flat[t][i])
        turns = ctx.flat()
        turns[t][i] = format_call(Call(call.name, (), {**ctx.bound(call), name: new}))
        yield _wrap(turns), f"turn {t}: {call.name} {name}: {old!r} -> {new!r}"


def _working_directory_path(ctx: _Context, turn: int, index: int) -> list[str] | None:
    """Names from the root (included) to the working directory before call ``index``."""
    prefix = [*ctx.gt[:turn], [[*ctx.entry.ground_truth[turn][:index], "pwd()"]]]
    value = execute(ctx.entry, prefix).results[-1][-1].value
    if not isinstance(value, dict) or "current_working_directory" not in value:
        return None
    return str(value["current_working_directory"]).strip("/").split("/")


def _working_directory(ctx: _Context, turn: int, index: int) -> tuple[list[str], list[str]]:
    """(files, directories) in the working directory just before call ``index`` of ``turn``."""
    path = _working_directory_path(ctx, turn, index)
    if path is None:
        return [], []
    prefix = [*ctx.gt[:turn], [ctx.entry.ground_truth[turn][:index]]]
    node = execute(ctx.entry, prefix).final.get("GorillaFileSystem", {}).get("root", {})
    for part in path[1:]:
        node = node.get("contents", {}).get(part, {})
    contents = node.get("contents", {})
    return ([n for n, c in contents.items() if c.get("type") == "file"],
            [n for n, c in contents.items() if c.get("type") == "directory"])


def _wrong_target(ctx: _Context, rng: random.Random) -> Iterator[Candidate]:
    def others(t: int, i: int, name: str, value: Any) -> list[Any]:
        if name in FILE_PARAMS and parse_call(ctx.entry.ground_truth[t][i]).name in FS_TOOLS:
            # Another file or folder right there, not a name from elsewhere in the tree.
            files, dirs = _working_directory(ctx, t, i)
            pool: list[Any] = dirs if name in ("destination", "folder") else files
        else:
            pool = ctx.entities.get(name, [])
        return [v for v in pool if v != value and type(v) is type(value)]

    yield from _replace_argument(ctx, rng, TARGET_PARAMS, others)


def _wrong_value(ctx: _Context, rng: random.Random) -> Iterator[Candidate]:
    yield from _replace_argument(ctx, rng, VALUE_PARAMS,
                                 lambda _t, _i, _n, v: _altered_values(v))


def _missing_step(ctx: _Context, rng: random.Random) -> Iterator[Candidate]:
    flat = ctx.flat()
    slots = [(t, i) for t, calls in enumerate(flat) for i, text in enumerate(calls)
             if not ctx.read_only(text) and not ctx.truth.failed(t, i)]
    rng.shuffle(slots)
    # Requested actions first; a dropped cd or log-in breaks everything after it instead.
    slots.sort(key=lambda s: parse_call(flat[s[0]][s[1]]).name in SESSION_CALLS)
    for t, i in slots:
        turns = ctx.flat()
        dropped = turns[t].pop(i)
        yield _wrap(turns), f"turn {t}: dropped {dropped}"


def _destructive_calls(ctx: _Context, turn: int) -> list[str]:
    """Destructive calls naming real entities present at the end of ``turn``."""
    out = []
    pools = dict(ctx.entities)
    if "GorillaFileSystem" in ctx.entry.involved_classes:
        # What is in the working directory then, not anywhere in the tree.
        probe = execute(ctx.entry, [*ctx.gt[:turn + 1], [["ls(a=True)"]]])
        listing = probe.results[-1][0].value
        names = listing.get("current_directory_content", []) if isinstance(listing, dict) else []
        pools["file_name"] = pools["dir_name"] = list(names)
    tokens = ctx.literals.get("access_token", [])
    for name, spec in sorted(ctx.specs.items()):
        if not spec.destructive or name == "echo":  # echo needs made-up content
            continue
        params = positional_names(spec)
        main = next((p for p in params if p != "access_token"), None)
        if main is None:
            continue
        for value in pools.get(main, []):
            kwargs: dict[str, Any] = {main: value}
            if "access_token" in params:
                if not tokens:
                    break
                kwargs = {"access_token": tokens[-1], **kwargs}
            out.append(format_call(Call(name, (), kwargs)))
    if "TwitterAPI" in ctx.entry.involved_classes:
        following = ctx.truth.states[turn].get("TwitterAPI", {}).get("following_list", [])
        out += [format_call(Call("unfollow_user", (), {"username_to_unfollow": u}))
                for u in following]
    if "TradingBot" in ctx.entry.involved_classes:
        watch = ctx.truth.states[turn].get("TradingBot", {}).get("watch_list", [])
        out += [format_call(Call("remove_stock_from_watchlist", (), {"symbol": s}))
                for s in watch]
    return list(dict.fromkeys(out))


def _extra_destructive(ctx: _Context, rng: random.Random) -> Iterator[Candidate]:
    flat = ctx.flat()
    turns_with_calls = _nonempty(flat)
    rng.shuffle(turns_with_calls)
    for t in turns_with_calls:
        options = _destructive_calls(ctx, t)
        rng.shuffle(options)
        for call in options[:4]:
            turns = ctx.flat()
            turns[t].append(call)
            yield _wrap(turns), f"turn {t}: added {call} at the end"


def _stop_early(ctx: _Context, rng: random.Random) -> Iterator[Candidate]:
    nonempty = _nonempty(ctx.flat())
    for k in (rng.choice((1, 2)), 1):
        if len(nonempty) <= k:
            continue
        dropped = nonempty[-k:]
        turns = [[] if t in dropped else calls for t, calls in enumerate(ctx.flat())]
        yield _wrap(turns), f"no calls in turn(s) {dropped} (the last non-empty ones)"


GENERATORS: dict[str, Generator] = {
    "reference": _reference,
    "extra_reads": _extra_reads,
    "reorder": _reorder,
    "split_steps": _split_steps,
    "argument_forms": _argument_forms,
    "equivalent_tool": _equivalent_tool,
    "wrong_target": _wrong_target,
    "wrong_value": _wrong_value,
    "missing_step": _missing_step,
    "extra_destructive": _extra_destructive,
    "stop_early": _stop_early,
}


# ---------------------------------------------------------------------------- verification

def _edited_call_ok(ctx: _Context, run: Execution, decoded: Decoded) -> bool:
    """Every call the edit introduced (not in the ground truth's turn) ran without error."""
    for t, steps in enumerate(decoded):
        original = Counter(ctx.entry.ground_truth[t])
        for i, text in enumerate(c for step in steps for c in step):
            if original[text] > 0:
                original[text] -= 1
            elif run.failed(t, i):
                return False
    return True


def _verify(ctx: _Context, kind: str, decoded: Decoded) -> str | None:
    """What the execution confirmed, or None when it does not confirm the label."""
    run = execute(ctx.entry, decoded)
    if kind in CORRECT_KINDS:
        if not _same_states(ctx, run):
            return None
        if kind == "equivalent_tool":
            if not _edited_call_ok(ctx, run, decoded):
                return None
            if not all(_informed(ctx, run, t) for t in range(len(decoded))):
                return None
            return ("verified: every turn ends in the ground truth's state; the facts the "
                    "turn's reads surfaced are still in the results; new calls succeed")
        if kind == "extra_reads":
            if not (_results_cover(ctx, run, exact=False) and _same_per_call(ctx, run)
                    and _edited_call_ok(ctx, run, decoded)):
                return None
            return ("verified: inserted reads succeed; every turn's state and ground-truth "
                    "results unchanged")
        if not (_results_cover(ctx, run, exact=True) and _same_per_call(ctx, run)):
            return None
        return "verified: same per-turn states and the same result for every call"
    if kind in ("wrong_target", "wrong_value", "extra_destructive"):
        if not _edited_call_ok(ctx, run, decoded):
            return None  # a refused call would be a failed attempt, not a wrong deed
    differs = _differs(ctx, run)
    if differs:
        return f"verified: final state differs in {', '.join(differs[:4])}"
    if kind == "stop_early":
        unsaid = [t for t in range(len(decoded)) if not decoded[t] and ctx.entry.ground_truth[t]
                  and _asked_leaves(ctx, t) and not _informed(ctx, run, t)]
        if unsaid:
            return f"verified: same final state, but what turn(s) {unsaid} asked is never said"
    return None


def _items_for(ctx: _Context, kind: str, seed: int) -> dict[str, Any] | None:
    rng = random.Random(f"labels:{seed}:{ctx.entry.id}:{kind}")
    seen: set[str] = set()
    for n, (decoded, note) in enumerate(GENERATORS[kind](ctx, rng)):
        if n >= MAX_TRIES:
            break
        key = json.dumps(decoded)
        if key in seen or (kind != "reference" and kind != "split_steps" and decoded == ctx.gt):
            continue
        seen.add(key)
        checked = _verify(ctx, kind, decoded)
        if checked:
            return {"id": ctx.entry.id, "label": kind in CORRECT_KINDS, "result": decoded,
                    "kind": kind, "note": f"{note}; {checked}"}
    return None


# ------------------------------------------------------------------------------- builder

def _pick_entries(base: Sequence[Entry], count: int, seed: int) -> list[Entry]:
    """``count`` entries, round-robin over the classes so that each class is covered."""
    order = list(base)
    random.Random(f"labels:{seed}:entries").shuffle(order)
    classes = sorted({c for e in base for c in e.involved_classes})
    picked: list[Entry] = []
    taken: set[str] = set()
    while len(picked) < min(count, len(order)):
        progressed = False
        for cls in classes:
            if len(picked) >= count:
                break
            nxt = next((e for e in order if e.id not in taken and cls in e.involved_classes),
                       None)
            if nxt is not None:
                picked.append(nxt)
                taken.add(nxt.id)
                progressed = True
        if not progressed:
            break
    return picked


def build_labels(release: Release | None = None, *, entries: int = 40, seed: int = 0
                 ) -> list[dict[str, Any]]:
    """The labelled set: ``PER_LABEL`` correct and incorrect items for each of ``entries``
    base entries (fewer where no edit of a label verifies), kinds balanced over the set."""
    release = release if release is not None else load_release()
    base = [e for e in release.entries("base") if all(c in by_class()
                                                      for c in e.involved_classes)]
    counts: Counter[str] = Counter()
    items: list[dict[str, Any]] = []
    for entry in _pick_entries(base, entries, seed):
        ctx = _Context.of(entry)
        tie = random.Random(f"labels:{seed}:{entry.id}:kinds")
        for kinds in (CORRECT_KINDS, INCORRECT_KINDS):
            # The least used kinds first, so that rare kinds get every chance they have.
            order = sorted(kinds, key=lambda k: (counts[k], tie.random()))
            chosen = 0
            for kind in order:
                if chosen == PER_LABEL:
                    break
                item = _items_for(ctx, kind, seed)
                if item is not None:
                    items.append(item)
                    counts[kind] += 1
                    chosen += 1
    return items


def write_labels(path: str | Path, items: Sequence[dict[str, Any]]) -> None:
    """One JSON object per line: ``{"id", "label", "result", "kind", "note"}``."""
    text = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
    Path(path).write_text(text, encoding="utf-8")


def read_labels(path: str | Path) -> list[dict[str, Any]]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def main(out: Path, entries: int = 40, seed: int = 0) -> int:
    """``eigen bfcl labels``: build the set and write it; a summary goes to stdout."""
    items = build_labels(entries=entries, seed=seed)
    write_labels(out, items)
    kinds = Counter(item["kind"] for item in items)
    labels = Counter(item["label"] for item in items)
    ids = {item["id"] for item in items}
    print(f"wrote {len(items)} items over {len(ids)} entries to {out} "
          f"({labels[True]} correct, {labels[False]} incorrect)")
    for kind in KINDS:
        print(f"  {kind:<18} {kinds[kind]}")
    return 0
