"""A code fix that changes a repaired reference's results: the repair keeps the task's meaning
under both codes (scenario raised to the user's stated budget, or the request clarified when
the user's own budget is the limit), leaves clean entries alone, and reports what it cannot
settle as findings. Everything is checked by executing the references on the port with and
without the fixes."""

from __future__ import annotations

from eigencore.audit.fix_meaning import CHECK, divergences, stated_amounts
from eigencore.audit.repair import RepairResult
from eigencore.audit.trajectory import AuditContext
from eigencore.bfcl.release import Entry, Release
from tests.audit.helpers import fix

# multi_turn_base_163: book SFO->LAX business (fare 400.0) on card 'AMEX123456789' (balance
# 15000.0) under budget_limit 2000.0, then cancel: no fix changes it.
CLEAN = "multi_turn_base_163"
BOOK = (
    "book_flight(access_token='abc123xyz', card_id='AMEX123456789', travel_date='2024-11-16', "
    "travel_from='SFO', travel_to='LAX', travel_class='business', travel_cost=400.0)"
)


def seeded(entry: Entry, limit: float, said: str = "", balance: float | None = None) -> Entry:
    """The entry with the scenario's budget limit (and card balance) set, and `said` added
    to the user's first request."""
    out = entry.model_copy(deep=True)
    travel = out.initial_config["TravelAPI"]
    travel["budget_limit"] = limit
    if balance is not None:
        travel["credit_card_list"]["AMEX123456789"]["balance"] = balance
    if said:
        out.question[0][0]["content"] += f" {said}"
    return out


def reconciled(result: RepairResult) -> list[str]:
    return [c.why for c in result.changelog if c.change == "reconcile"]


def test_user_words_give_the_amount() -> None:
    amounts, sentences, foreign = stated_amounts(
        "I fly on November 15th 2024 with a budget of $2,400.50. Book it.", "budget"
    )
    assert amounts == [(2400.5, "I fly on November 15th 2024 with a budget of $2,400.50.")]
    assert sentences and not foreign
    amounts, _, foreign = stated_amounts("Budget me to meet 10000 RMB? Thanks!", "budget")
    assert amounts == [] and foreign
    assert stated_amounts("Since my budget isn't too tight, book it.", "budget")[0] == []
    assert stated_amounts("It costs $400.", "budget") == ([], [], False)


def test_clean_entry_is_untouched(
    release: Release, ctx: AuditContext, entries: dict[str, Entry]
) -> None:
    clean = entries[CLEAN]
    assert divergences(clean) == []
    result = fix(release, ctx, clean)
    (entry,) = result.entries
    assert reconciled(result) == [] and result.divergent == [] and result.fix_effects == []
    assert entry.initial_config == clean.initial_config and entry.question == clean.question


def test_scenario_below_the_users_budget_is_raised_to_it(
    release: Release, ctx: AuditContext, entries: dict[str, Entry]
) -> None:
    broken = seeded(entries[CLEAN], 300.0, "My budget for the flight is $500.")
    (effect, *later) = divergences(broken)  # the fix refuses the booking, the cancel follows
    assert effect.call == BOOK and "Exceeded budget limit" in effect.repaired
    assert '"booking_status": true' in effect.original and later
    result = fix(release, ctx, broken)
    (entry,) = result.entries
    assert entry.initial_config["TravelAPI"]["budget_limit"] == 500.0
    assert entry.question == broken.question and entry.ground_truth == broken.ground_truth
    (why,) = reconciled(result)
    # the evidence: fare, limit, the user's words, results under both codes
    for fact in ("The fare is 400.0", "budget_limit is 300.0", "budget for the flight is $500",
                 "Exceeded budget limit", '"booking_status": true', "becomes 500"):  # fmt: skip
        assert fact in why, fact
    # re-executed: the same results with and without the fixes, and the task still books
    assert divergences(entry) == [] and result.fix_effects == [] and result.divergent == []
    (code,) = [c for c in result.code_changes if c.id == "code:travel.book_flight.budget"]
    assert code.reconciled == [f"{CLEAN}#1"] and code.effects == []


def test_no_stated_amount_raises_the_limit_to_the_fare(
    release: Release, ctx: AuditContext, entries: dict[str, Entry]
) -> None:
    result = fix(release, ctx, seeded(entries[CLEAN], 300.0))
    (entry,) = result.entries
    assert entry.initial_config["TravelAPI"]["budget_limit"] == 400.0
    assert "names no budget" in reconciled(result)[0] and result.divergent == []


def test_users_own_lower_budget_is_kept_and_the_request_clarified(
    release: Release, ctx: AuditContext, entries: dict[str, Entry]
) -> None:
    broken = seeded(entries[CLEAN], 300.0, "My budget is $350.")
    result = fix(release, ctx, broken)
    (entry,) = result.entries
    # the user's amount is not overruled: the config stays, the user now settles the conflict
    assert entry.initial_config == broken.initial_config
    assert entry.question[0][0]["content"].endswith(
        "My budget is $350. (If the fare is above my budget limit, raise the budget limit to "
        "the fare first.)"
    )
    raise_call = "set_budget_limit(access_token='abc123xyz', budget_limit=400.0)"
    assert entry.ground_truth[0][-2:] == [raise_call, BOOK]
    assert "below the fare" in reconciled(result)[0]
    assert divergences(entry) == [] and result.divergent == []


def test_what_cannot_be_reconciled_becomes_a_finding(
    release: Release, ctx: AuditContext, entries: dict[str, Entry]
) -> None:
    # The user's $500 is above the card's 450.0: at that limit the original code refuses too
    # ('Balance is less than budget limit'), so both codes would agree on a task that no
    # longer books. The candidate is refused and the difference is reported.
    broken = seeded(entries[CLEAN], 300.0, "My budget is $500.", balance=450.0)
    result = fix(release, ctx, broken)
    (entry,) = result.entries
    assert reconciled(result) == [] and entry.initial_config == broken.initial_config
    assert result.divergent and {f.check for f in result.divergent} == {CHECK}
    first = result.divergent[0]
    assert first.entry_id == CLEAN and first.turn == 0 and first.evidence.call == BOOK
    assert first.evidence.notes and "Balance is less than budget limit" in first.evidence.notes
    (code,) = [c for c in result.code_changes if c.id == "code:travel.book_flight.budget"]
    assert code.effects and code.reconciled == []


def test_release_base_and_variant_keep_their_meaning(
    release: Release, ctx: AuditContext, entries: dict[str, Entry]
) -> None:
    # base_155: limit 600, the user's "budget of $2400", fare 2400; base_164: the user sets
    # 1428.57 themselves and books 2100. Their miss_func variants follow their own evidence.
    chosen = [entries[f"multi_turn_{c}_{n}"] for n in (155, 164) for c in ("base", "miss_func")]
    assert all(divergences(e) for e in chosen)
    result = fix(release, ctx, *chosen)
    by_id = {e.id: e for e in result.entries}
    assert len(reconciled(result)) == 4 and result.divergent == [] and not result.new
    for n in (155, 164):
        base, variant = by_id[f"multi_turn_base_{n}"], by_id[f"multi_turn_miss_func_{n}"]
        assert divergences(base) == [] and divergences(variant) == []
        assert base.initial_config == variant.initial_config
    assert by_id["multi_turn_base_155"].initial_config["TravelAPI"]["budget_limit"] == 2400.0
    assert by_id["multi_turn_base_164"].ground_truth[2][0] == (
        "set_budget_limit(access_token='abc123', budget_limit=2100.0)"
    )
    assert by_id["multi_turn_miss_func_164"].ground_truth[3][0] == (
        "set_budget_limit(access_token='abc123', budget_limit=2100.0)"
    )
