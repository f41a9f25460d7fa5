"""Reference executor over the original BFCL classes: full replay, semantics, isolation."""

from __future__ import annotations

import decimal
import sys
import time

import pytest

from eigencore.bfcl.calls import Call, CallParseError
from eigencore.bfcl.reference import (
    ERROR_PREFIX,
    ReferenceEpisode,
    Replay,
    _EpisodeModules,
    compare_states,
    replay,
    result_text,
)
from eigencore.bfcl.release import CLASS_MODULES, Entry, Release

# Measured on BFCL-V3 (bfcl-eval 2025.6.8): no ground-truth call raises, and none returns an
# {"error": ...} dict. A change here is an audit finding about the release, not noise.
EXPECTED_GT_ERRORS = 0
EXPECTED_GT_REPORTED_ERRORS = 0
REPLAY_BUDGET_S = 30.0


@pytest.fixture(scope="module")
def replays(release: Release, all_entries: list[Entry]) -> tuple[dict[str, Replay], float]:
    started = time.perf_counter()
    results = {entry.id: replay(entry, release) for entry in all_entries}
    return results, time.perf_counter() - started


def _entry(
    classes: list[str], config: dict[str, object] | None = None, category: str = "base"
) -> Entry:
    return Entry(
        id=f"multi_turn_{category}_9999",
        category=category,
        question=[[]],
        initial_config=config or {},
        involved_classes=classes,
        ground_truth=[[]],
    )


def test_full_replay(replays: tuple[dict[str, Replay], float], all_entries: list[Entry]) -> None:
    results, elapsed = replays
    print(f"\nreplayed {len(results)} BFCL ground truths in {elapsed:.2f} s")
    assert elapsed < REPLAY_BUDGET_S
    assert len(results) == 800
    errors = [(rid, *err) for rid, rep in results.items() for err in rep.errors()]
    reported = [(rid, *err) for rid, rep in results.items() for err in rep.reported_errors()]
    assert len(errors) == EXPECTED_GT_ERRORS, errors[:20]
    assert len(reported) == EXPECTED_GT_REPORTED_ERRORS, reported[:20]
    calls = 0
    for entry in all_entries:
        rep = results[entry.id]
        assert [len(turn.calls) for turn in rep.turns] == [len(t) for t in entry.ground_truth]
        assert [turn.checked for turn in rep.turns] == [bool(t) for t in entry.ground_truth]
        assert set(rep.initial_state) == set(entry.involved_classes)
        for turn in rep.turns:
            assert set(turn.state) == set(entry.involved_classes)
            assert all(not record.result.text.startswith(ERROR_PREFIX) for record in turn.calls)
            calls += len(turn.calls)
    assert calls == 4700


def test_replay_spot_checks(replays: tuple[dict[str, Replay], float]) -> None:
    results, _ = replays
    first = results["multi_turn_base_0"].turns[0]
    assert first.calls[0].call == "cd(folder='document')"
    assert first.results[0] == '{"current_working_directory": "document"}'
    assert first.state["GorillaFileSystem"]["root"]["type"] == "directory"
    # MathAPI.logarithm returns mpmath numbers: json.dumps fails, BFCL falls back to str(dict).
    log = results["multi_turn_base_32"]
    texts = [r.result.text for t in log.turns for r in t.calls if r.call.startswith("logarithm")]
    assert texts == ["{'result': mpf('2.0')}"]
    miss = results["multi_turn_miss_func_0"]
    assert [t.added_functions for t in miss.turns] == [[], [], [], ["sort"], []]
    assert miss.turns[2].calls == [] and not miss.turns[2].checked


def test_long_context_scenarios_are_larger(replays: tuple[dict[str, Replay], float]) -> None:
    results, _ = replays
    base = results["multi_turn_base_0"].initial_state["GorillaFileSystem"]
    long = results["multi_turn_long_context_0"].initial_state["GorillaFileSystem"]
    assert base["long_context"] is False and long["long_context"] is True
    assert len(repr(long["root"])) > 2 * len(repr(base["root"]))


def test_replay_is_deterministic(
    release: Release, all_entries: list[Entry], replays: tuple[dict[str, Replay], float]
) -> None:
    results, _ = replays
    for entry in all_entries[::7]:
        again = replay(entry, release)
        assert again == results[entry.id], entry.id


def test_episodes_are_isolated(release: Release, all_entries: list[Entry]) -> None:
    entry = next(e for e in all_entries if e.id == "multi_turn_base_0")
    pristine = ReferenceEpisode(entry, release).state()
    used = ReferenceEpisode(entry, release)
    for turn in entry.ground_truth:
        used.execute_all(turn)
    assert used.state() != pristine
    assert ReferenceEpisode(entry, release).state() == pristine
    assert (
        entry.initial_config
        == next(e for e in release.entries("base") if e.id == entry.id).initial_config
    )


def test_module_global_state_does_not_leak(release: Release) -> None:
    # TwitterAPI.post_tweet has a mutable default `mentions=[]` that `mention` extends.
    twitter = _entry(["TwitterAPI"], {"TwitterAPI": {"authenticated": True}})
    first = ReferenceEpisode(twitter, release)
    first.execute("post_tweet(content='a')")
    first.execute("mention(tweet_id=0, mentioned_usernames=['@x'])")
    second = ReferenceEpisode(twitter, release)
    assert second.execute("post_tweet(content='b')").value["mentions"] == []

    # Long-context TravelAPI merges long_context.CREDIT_CARD_EXTENSION cards *by reference*.
    travel = _entry(["TravelAPI"], {"TravelAPI": {}}, category="long_context")
    card = "1234567812345678"
    booking = (
        "book_flight(access_token='{token}', card_id='1234567812345678', "
        "travel_date='2024-12-01', travel_from='SFO', travel_to='LAX', "
        "travel_class='economy', travel_cost=100.0)"
    )
    auth = (
        "authenticate_travel(client_id='c', client_secret='s', refresh_token='r', "
        "grant_type='read_write', user_first_name='A', user_last_name='B')"
    )
    spent = ReferenceEpisode(travel, release)
    token = spent.execute(auth).value["access_token"]
    assert spent.execute(booking.format(token=token)).value["booking_status"] is True
    assert spent.state()["TravelAPI"]["credit_card_list"][card]["balance"] == 4900.0
    fresh = ReferenceEpisode(travel, release)
    assert fresh.state()["TravelAPI"]["credit_card_list"][card]["balance"] == 5000.0


def test_upstream_aliasing_hazard_exists(release: Release) -> None:
    # Why fresh modules per episode: two instances from ONE module copy (as in BFCL, which
    # imports each module once per process) share the long-context card dicts.
    modules = _EpisodeModules(release)
    cls = modules.module(CLASS_MODULES["TravelAPI"]).TravelAPI
    a, b = cls(), cls()
    a._load_scenario({}, long_context=True)
    b._load_scenario({}, long_context=True)
    a.credit_card_list["1234567812345678"]["balance"] = 1.0
    assert b.credit_card_list["1234567812345678"]["balance"] == 1.0

    twitter = modules.module(CLASS_MODULES["TwitterAPI"]).TwitterAPI
    c, d = twitter(), twitter()
    c._load_scenario({"authenticated": True})
    d._load_scenario({"authenticated": True})
    c.post_tweet(content="a")
    c.mention(tweet_id=0, mentioned_usernames=["@x"])
    assert d.post_tweet(content="b")["mentions"] == ["@x"]


def test_bfcl_result_and_error_semantics(release: Release) -> None:
    episode = ReferenceEpisode(_entry(["MathAPI", "TwitterAPI", "GorillaFileSystem"]), release)
    mean = episode.execute(Call("mean", ([1, 2, 3],)))
    assert (mean.text, mean.error, mean.value) == ('{"result": 2.0}', False, {"result": 2.0})
    root = episode.execute("square_root(number=2, precision=10)")
    assert root.text == "{'result': Decimal('1.414213562')}"
    assert episode.execute("logarithm(value=8, base=2, precision=5)").text == (
        "{'result': mpf('3.0')}"
    )
    refused = episode.execute("mean([])")
    assert refused.reported_error and not refused.error
    assert refused.text == '{"error": "Cannot calculate mean of an empty list"}'
    assert episode.execute("foo(x=1)").text == ERROR_PREFIX + "name 'foo' is not defined"
    assert episode.execute("_load_scenario({})").text == (
        ERROR_PREFIX + "name '_load_scenario' is not defined"
    )
    blocked = episode.execute("remove(file_name='a')")
    assert blocked.error and blocked.text == ERROR_PREFIX + "Function call remove is not allowed."
    bad_kwarg = episode.execute("mean(nums=[1])")
    assert bad_kwarg.error and bad_kwarg.value is None
    assert bad_kwarg.text == (
        ERROR_PREFIX + "MathAPI.mean() got an unexpected keyword argument 'nums'"
    )
    with pytest.raises(CallParseError):
        episode.execute("os.system('ls')")
    assert set(episode.function_names.values()) == {"MathAPI", "TwitterAPI", "GorillaFileSystem"}
    assert episode.state()["MathAPI"] == {}


def test_result_text_mirrors_bfcl() -> None:
    assert result_text("plain") == "plain"
    assert result_text({"a": [1, "é"]}) == '{"a": [1, "\\u00e9"]}'
    assert result_text({1: True}) == '{"1": true}'
    assert result_text({"d": decimal.Decimal("1.5")}) == "{'d': Decimal('1.5')}"
    assert result_text([1, "a"]) == "[1, 'a']"
    assert result_text(None) == "None"
    assert result_text(True) == "True"


def test_values_and_states_are_copies(release: Release) -> None:
    episode = ReferenceEpisode(
        _entry(["TradingBot"], {"TradingBot": {"watch_list": ["NVDA"]}}), release
    )
    info = episode.execute("get_stock_info(symbol='AAPL')").value
    info["price"] = -1
    assert episode.execute("get_stock_info(symbol='AAPL')").value["price"] != -1
    state = episode.state()
    state["TradingBot"]["watch_list"].append("XXX")
    assert episode.state()["TradingBot"]["watch_list"] == ["NVDA"]
    args = Call("add_to_watchlist", (), {"stock": "AAPL"})
    episode.execute(args)
    assert args.kwargs == {"stock": "AAPL"}


def test_compare_states(release: Release) -> None:
    entry = _entry(["TicketAPI"], {"TicketAPI": {"current_user": "u"}})
    model, reference = ReferenceEpisode(entry, release), ReferenceEpisode(entry, release)
    assert compare_states(model.state(), reference.state()) == {}
    reference.execute("create_ticket(title='t')")
    diff = compare_states(model.state(), reference.state())
    assert set(diff["TicketAPI"]) == {"ticket_queue", "ticket_counter"}


def test_host_process_untouched(release: Release) -> None:
    mpmath = pytest.importorskip("mpmath")
    before_prec = decimal.getcontext().prec
    before_dps = mpmath.mp.dps
    episode = ReferenceEpisode(_entry(["MathAPI"]), release)
    episode.execute("square_root(number=2, precision=3)")
    episode.execute("logarithm(value=8, base=2, precision=3)")
    assert decimal.getcontext().prec == before_prec
    assert mpmath.mp.dps == before_dps
    assert not [name for name in sys.modules if name.startswith("bfcl_eval")]
