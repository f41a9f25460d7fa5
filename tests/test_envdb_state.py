"""The environment layer without MCP: transactions, isolation of copies, snapshots, diffs."""

from __future__ import annotations

import sqlite3

import pytest

from environments.contract import DomainBundle, tool
from environments.envdb import EnvDb, build_database
from environments.rules import ComparisonRules, TableRule, values_equal
from environments.state import StateReader, compare, diff_since, table_meta


def content(db: sqlite3.Connection) -> list[str]:
    return list(db.iterdump())


def test_failing_write_rolls_back_byte_equal(notes: DomainBundle) -> None:
    env = EnvDb.open(notes)
    before = content(env.db)
    out = env.call("add_then_fail", {"title": "second"})
    assert not out.ok and out.error == {"kind": "not_allowed", "message": "refused after writing"}
    assert content(env.db) == before
    assert env.diff().empty


def test_constraint_violation_is_structured_and_changes_nothing(notes: DomainBundle) -> None:
    env = EnvDb.open(notes)
    before = content(env.db)
    out = env.call("add_note", {"title": "first"})  # UNIQUE(title)
    assert not out.ok and out.error["kind"] == "constraint_violation"
    assert "UNIQUE" in out.error["message"]
    assert content(env.db) == before


def test_read_only_tool_cannot_write(notes: DomainBundle) -> None:
    env = EnvDb.open(notes)
    out = env.call("sneaky_read", {})
    assert not out.ok and out.error["kind"] == "read_only_violation"
    assert env.call("count_notes", {}).value == 1
    assert env.call("add_note", {"title": "after"}).ok  # the connection is writable again


@pytest.mark.parametrize(
    "args, field",
    [
        ({"title": 5}, "title"),  # wrong type
        ({}, "title"),  # missing
        ({"title": "x", "colour": "red"}, "colour"),  # extra
        ({"title": ""}, "title"),  # out of range
    ],
)
def test_invalid_arguments_name_the_field(notes: DomainBundle, args: dict, field: str) -> None:
    env = EnvDb.open(notes)
    before = content(env.db)
    out = env.call("add_note", args)
    assert not out.ok and out.error["kind"] == "invalid_arguments"
    assert field in out.error["message"]
    assert content(env.db) == before


def test_sql_looking_strings_are_data(library: DomainBundle) -> None:
    env = EnvDb.open(library)
    before = content(env.db)
    evil = "x'); DROP TABLE members; --"
    assert env.call("search_catalog", {"query": evil}).value == []
    out = env.call("get_member", {"card_number": evil})
    assert not out.ok and out.error["kind"] == "invalid_arguments"
    assert content(env.db) == before


def test_episodes_are_private_copies(library: DomainBundle) -> None:
    a, b = EnvDb.open(library), EnvDb.open(library)
    assert a.call("return_copy", {"barcode": "B10007"}).ok
    assert b.call("get_book", {"isbn": "9780544003415"}).value.copies[0].status == "on_loan"
    assert not a.diff().empty and b.diff().empty


def test_diff_applies_rules(notes: DomainBundle) -> None:
    env = EnvDb.open(notes)
    env.db.execute("UPDATE notes SET body = 'hello   WORLD', score = 25.0")  # same by the rules
    assert env.diff().empty
    env.db.execute("UPDATE notes SET score = 25.5, note_id = 99")  # note_id is bookkeeping
    d = env.diff()
    assert [(c.kind, list(c.columns)) for c in d.changes] == [("updated", ["score"])]
    assert d.changes[0].key == {"title": "first"}
    assert "score: old 25.0 -> new 25.5" in d.to_text()


def test_values_equal_semantics() -> None:
    assert values_equal(25, 25.0) and not values_equal(25, 25.01)
    assert values_equal(1.0, 1.0 + 1e-9)
    assert values_equal("A  b,", "a b", free_text=True) and not values_equal("A", "a")
    assert not values_equal(None, 0) and values_equal(None, None)


def test_diff_since_checkpoint_sees_only_later_changes(library: DomainBundle) -> None:
    env = EnvDb.open(library)
    env.call("pay_fine", {"card_number": "C-1004", "amount_cents": 100})
    cp = env.checkpoint()
    env.call("pay_fine", {"card_number": "C-1004", "amount_cents": 50})
    d = env.diff(cp)
    member = [c for c in d.changes if c.table == "members"]
    assert member[0].columns["fines_cents"].old == 250
    assert member[0].columns["fines_cents"].new == 200
    assert len([c for c in d.changes if c.table == "payments"]) == 1


def test_natural_keys_match_rows_with_different_surrogate_ids(library: DomainBundle) -> None:
    """The same members created in two episodes, with different surrogate ids: same outcome."""
    a, b = EnvDb.open(library), EnvDb.open(library)
    reg = {"name": "Zoe Quinn", "email": "zoe@example.org", "home_branch": "RIV"}
    reg2 = {"name": "Yan Li", "email": "yan@example.org", "home_branch": "CEN"}
    assert a.call("register_member", reg).ok and a.call("register_member", reg2).ok
    assert b.call("register_member", reg).ok and b.call("register_member", reg2).ok
    b.db.execute("UPDATE members SET member_id = member_id + 1000 WHERE card_number > 'C-1014'")
    d = compare(a.reader, b.reader)
    assert d.empty, d.to_text()
    a.call("checkout", {"card_number": "C-1015", "barcode": "B10003"})
    d = compare(a.reader, b.reader)
    assert {c.table for c in d.changes} == {"loans", "copies"}
    assert d.labels == ("expected", "got")
    loan = next(c for c in d.changes if c.table == "loans")
    assert loan.kind == "deleted" and loan.row["member_id"] == "C-1015"  # FK shown by key


def test_snapshot_is_canonical(library: DomainBundle) -> None:
    env = EnvDb.open(library)
    snap = env.snapshot_json()
    isbns = [r["isbn"] for r in snap["books"]]
    assert isbns == sorted(isbns)
    assert snap["copies"][0]["book_id"] == "9780141439518"  # FK rewritten to natural key
    assert "_eigen_changes" not in snap


def test_change_capture_reads_only_changed_rows(tmp_path) -> None:
    """A diff reads the change log and the touched rows, not the table."""

    @tool
    def noop(db):  # pragma: no cover - never called
        """No-op."""

    big = DomainBundle(
        name="big", description="", tools=[noop.__eigen_tool__],
        schema_sql="CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);",
        rules=ComparisonRules(tables={"t": TableRule()}),
        loader=lambda db, sc: db.executemany(
            "INSERT INTO t (id, v) VALUES (?, ?)", ((i, i) for i in range(50_000))),
    )
    db = build_database(big, {})
    reader = StateReader(db, big.rules, table_meta(db, big.rules))
    db.execute("UPDATE t SET v = -1 WHERE id IN (3, 30000)")
    db.execute("DELETE FROM t WHERE id = 7")
    db.execute("INSERT INTO t (id, v) VALUES (999999, 1)")
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    d = diff_since(reader, 0)
    db.set_trace_callback(None)
    assert [(c.kind, c.key["id"]) for c in d.changes] == [
        ("updated", 3), ("deleted", 7), ("updated", 30000), ("inserted", 999999)]
    # One log read plus one lookup per changed row; never a scan of `t`.
    assert all("WHERE" in s for s in statements if 'FROM "t"' in s)
    assert len(statements) <= 1 + 4 * 2


@pytest.mark.parametrize("calls_a, calls_b", [
    ([], []),
    ([("return_copy", {"barcode": "B10007"})], []),
    ([], [("delete_member", {"card_number": "C-1014"})]),
    ([("pay_fine", {"card_number": "C-1004", "amount_cents": 100})],
     [("pay_fine", {"card_number": "C-1004", "amount_cents": 150})]),
    ([("register_member", {"name": "A B", "email": "a@b.org", "home_branch": "CEN"})],
     [("register_member", {"name": "A B", "email": "a@b.org", "home_branch": "RIV"}),
      ("set_member_status", {"card_number": "C-1001", "status": "suspended"})]),
])
def test_compare_diffs_matches_live_comparison(library: DomainBundle, calls_a, calls_b) -> None:
    """Comparing two change logs (what a remote episode reports) equals comparing the live
    databases directly."""
    from environments.state import compare_diffs

    a, b = EnvDb.open(library), EnvDb.open(library)
    for env, calls in ((a, calls_a), (b, calls_b)):
        for name, args in calls:
            assert env.call(name, args).ok
    live = compare(a.reader, b.reader)
    from_logs = compare_diffs(a.diff(), b.diff(), library.rules)
    norm = lambda d: sorted((c.table, str(c.key), c.kind, sorted(c.columns)) for c in d.changes)  # noqa: E731
    assert norm(from_logs) == norm(live)
    assert from_logs.empty == (calls_a == calls_b)
