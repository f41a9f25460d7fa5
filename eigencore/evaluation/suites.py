"""Task suites by name: `bfcl-v3` (the BFCL-V3 multi-turn release, four categories),
`bfcl-v3-repaired` (the audited and repaired release, generated into the user cache on first
use) and `library-demo` (a handful of showcase tasks that need nothing downloaded)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from eigencore.evaluation.task import Fact, Task, Turn


def library_demo() -> list[Task]:
    def task(i: str, category: str, turns: list[Turn]) -> Task:
        return Task(id=f"library-demo-{i}", suite="library-demo", category=category,
                    domains=["library"], turns=turns)

    def user(text: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": text}]

    return [
        task("1", "write", [Turn(
            messages=user("Bruno Silva just handed back the copy with barcode B10007. Check it "
                          "in, and tell me what late fine was charged."),
            reference=["return_copy(barcode='B10007')"],
            owed=[Fact(value=325, label="return_copy.fine_charged_cents")])]),
        task("2", "read", [Turn(
            messages=user("How many copies of The Hobbit are on the shelf right now?"),
            reference=["search_catalog(query='The Hobbit')"],
            owed=[Fact(value=3, label="search_catalog.available_copies")])]),
        task("3", "multi", [
            Turn(messages=user("Please register Zoe Quinn (zoe.quinn@example.org) with home "
                               "branch RIV. What is her card number?"),
                 reference=["register_member(name='Zoe Quinn', email='zoe.quinn@example.org', "
                            "home_branch='RIV')"],
                 owed=[Fact(value="C-1015", label="register_member.card_number")]),
            Turn(messages=user("Now put a hold on Dune (ISBN 9780441172719) for her, pickup "
                               "at Central (CEN)."),
                 reference=["place_hold(card_number='C-1015', isbn='9780441172719', "
                            "pickup_branch='CEN')"]),
        ]),
        task("4", "write", [Turn(
            messages=user("Dana Kowalski (card C-1004) wants to pay off her whole fine."),
            reference=["get_member(card_number='C-1004')",
                       "pay_fine(card_number='C-1004', amount_cents=350)"])]),
        task("5", "multi", [
            Turn(messages=user("Renew the loan on copy B10004 please."),
                 reference=["renew_loan(barcode='B10004')"],
                 owed=[Fact(value="2026-04-20", label="renew_loan.due_on")]),
            Turn(messages=user("And cancel Farah Haddad's (C-1006) hold on Pride and Prejudice "
                               "(9780141439518)."),
                 reference=["cancel_hold(card_number='C-1006', isbn='9780141439518')"]),
        ]),
    ]


def bfcl_v3(categories: Sequence[str] | None = None, version: str | None = None) -> list[Task]:
    from eigencore.bfcl.suite import bfcl_tasks

    return bfcl_tasks(categories, version)


def bfcl_v3_repaired(categories: Sequence[str] | None = None) -> list[Task]:
    from eigencore.audit.repaired_suite import repaired_tasks

    return repaired_tasks(categories)


SUITES: dict[str, Callable[..., list[Task]]] = {
    "library-demo": lambda categories=None: [
        t for t in library_demo() if not categories or t.category in categories],
    "bfcl-v3": bfcl_v3,
    "bfcl-v3-repaired": bfcl_v3_repaired,
}


def load_suite(name: str, categories: Sequence[str] | None = None) -> list[Task]:
    """A named suite, or a task file (`file:PATH` or `*.jsonl`, e.g. synthesized tasks)."""
    if name.startswith("file:") or name.endswith(".jsonl"):
        from eigencore.agents.data.export import load_task_file

        return load_task_file(name.removeprefix("file:"), categories)
    try:
        loader = SUITES[name]
    except KeyError:
        raise KeyError(f"unknown suite {name!r}; known: {sorted(SUITES)}") from None
    return loader(categories=categories)
