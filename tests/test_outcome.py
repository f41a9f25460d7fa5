"""Reference outcomes and the owed-information heuristic."""

from __future__ import annotations

from eigencore.evaluation.outcome import asks_for_information, derive_owed, reference_outcome
from eigencore.evaluation.suites import load_suite
from eigencore.evaluation.task import Task, Turn


def test_reference_outcome_records_state_per_turn() -> None:
    task = next(t for t in load_suite("library-demo") if t.id == "library-demo-3")
    ref = reference_outcome(task)
    first, final = ref.turn_states
    assert {c.table for c in first["library"].changes} == {"members"}
    assert {c.table for c in final["library"].changes} == {"members", "holds"}
    assert not ref.failed_calls() and not ref.is_trivial()


def _task(question: str, calls: list[str]) -> Task:
    return Task(id="t", suite="s", domains=["library"],
                turns=[Turn(messages=[{"role": "user", "content": question}], reference=calls)])


def test_owed_facts_follow_the_question() -> None:
    asked = reference_outcome(_task("What fine does Dana owe?", ["get_member('C-1004')"]))
    assert [f.value for f in asked.owed[0]] == [350]  # `fines_cents`, by the word "fine"
    acting = reference_outcome(_task("Dana wants to pay her fine.",
                                     ["get_member('C-1004')", "pay_fine('C-1004', 350)"]))
    assert acting.owed[0] == []  # a read done to act owes nothing
    whole = reference_outcome(_task("Look up the Hobbit for me.",
                                    ["search_catalog(query='hobbit')"]))
    assert {f.value for f in whole.owed[0]} >= {"9780547928227", 3}  # small result, owed whole


def test_what_the_user_said_is_never_owed() -> None:
    ref = reference_outcome(_task("Is card C-1004 active?", ["get_member('C-1004')"]))
    assert "C-1004" not in [f.value for f in ref.owed[0]]
    assert derive_owed("", []) == []


def test_asking_patterns() -> None:
    assert asks_for_information("Could you tell me the balance")
    assert asks_for_information("calculate the average of these")
    assert not asks_for_information("Move the report into the archive folder.")
