"""Reading and writing the TradingBot tables as the original's Python values.

The tools run the original's logic on these values, so every comparison, arithmetic result
and exception is Python's own; this module only moves values between rows and objects.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from environments.bfcl.trading_bot.records import ACCOUNT, ORDER, STOCK, TRANSACTION, RecordShape
from environments.contract import Db

CURRENT_TIME = datetime(2024, 9, 1, 10, 30)
"""The original's fixed clock (`trading_bot.CURRENT_TIME`, not a literal so not read from it)."""

MISSING: Any = object()
_INT64 = range(-(2**63), 2**63)


# -- scalar state ----------------------------------------------------------------------------
def meta(db: Db) -> Any:  # -> sqlite3.Row
    return db.execute("SELECT * FROM meta WHERE id = 1").fetchone()


def set_meta(db: Db, **values: Any) -> None:
    assignments = ", ".join(f"{name} = ?" for name in values)
    db.execute(f"UPDATE meta SET {assignments} WHERE id = 1", list(values.values()))


def authenticated(db: Db) -> bool:
    return bool(meta(db)["authenticated"])


def long_context(db: Db) -> bool:
    return bool(meta(db)["long_context"])


# -- generic record rows ---------------------------------------------------------------------
def _insert(db: Db, table: str, shape: RecordShape, value: Any, **keys: Any) -> None:
    row = {**keys, **shape.to_row(value)}
    db.execute(
        f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
        list(row.values()),
    )


def _update(db: Db, table: str, shape: RecordShape, value: Any, where: str, args: list) -> None:
    row = shape.to_row(value)
    assignments = ", ".join(f"{c} = ?" for c in row)
    db.execute(f"UPDATE {table} SET {assignments} WHERE {where}", [*row.values(), *args])


# -- account ---------------------------------------------------------------------------------
def account(db: Db) -> dict[str, Any]:
    return ACCOUNT.from_row(db.execute("SELECT * FROM account WHERE id = 1").fetchone())


def insert_account(db: Db, value: dict[str, Any]) -> None:
    _insert(db, "account", ACCOUNT, value, id=1)


def save_account(db: Db, value: dict[str, Any]) -> None:
    _update(db, "account", ACCOUNT, value, "id = 1", [])


# -- stocks ----------------------------------------------------------------------------------
def stock(db: Db, symbol: str) -> Any:
    """`stocks[symbol]`, or MISSING."""
    row = db.execute("SELECT * FROM stocks WHERE symbol = ?", (symbol,)).fetchone()
    return MISSING if row is None else STOCK.from_row(row)


def stocks(db: Db) -> dict[str, Any]:
    rows = db.execute("SELECT * FROM stocks ORDER BY position").fetchall()
    return {row["symbol"]: STOCK.from_row(row) for row in rows}


def insert_stock(db: Db, symbol: str, value: Any, position: int) -> None:
    _insert(db, "stocks", STOCK, value, symbol=symbol, position=position)


def save_stock(db: Db, symbol: str, value: Any) -> None:
    _update(db, "stocks", STOCK, value, "symbol = ?", [symbol])


# -- orders ----------------------------------------------------------------------------------
def order(db: Db, key: Any) -> Any:
    """`orders[key]`, or MISSING. Keys are ints (or strings from malformed configs)."""
    if type(key) is int and key not in _INT64:
        return MISSING  # no stored key is that large (the loader refuses such keys)
    row = db.execute("SELECT * FROM orders WHERE order_key = ?", (key,)).fetchone()
    return MISSING if row is None else ORDER.from_row(row)


def order_keys(db: Db) -> list[Any]:
    return [r[0] for r in db.execute("SELECT order_key FROM orders ORDER BY position")]


def orders(db: Db) -> dict[Any, Any]:
    rows = db.execute("SELECT * FROM orders ORDER BY position").fetchall()
    return {row["order_key"]: ORDER.from_row(row) for row in rows}


def put_order(db: Db, key: Any, value: Any) -> None:
    """`orders[key] = value`: replaces in place, or appends as a dict does."""
    if order(db, key) is MISSING:
        position = db.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM orders").fetchone()[0]
        _insert(db, "orders", ORDER, value, order_key=key, position=position)
    else:
        _update(db, "orders", ORDER, value, "order_key = ?", [key])


# -- transaction history ---------------------------------------------------------------------
def transactions(db: Db) -> list[Any]:
    rows = db.execute("SELECT * FROM transactions ORDER BY position").fetchall()
    return [TRANSACTION.from_row(row) for row in rows]


def append_transaction(db: Db, value: Any) -> None:
    position = db.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM transactions").fetchone()[0]
    _insert(db, "transactions", TRANSACTION, value, position=position)


# -- watch list ------------------------------------------------------------------------------
def watch_list(db: Db) -> list[str]:
    return [r[0] for r in db.execute("SELECT symbol FROM watch_list ORDER BY position")]


def save_watch_list(db: Db, symbols: list[str]) -> None:
    # Rewritten whole so positions stay 0..n-1 (the list is short).
    db.execute("DELETE FROM watch_list")
    db.executemany("INSERT INTO watch_list (position, symbol) VALUES (?, ?)", enumerate(symbols))


# -- the original's random transaction timestamps --------------------------------------------
def next_transaction_timestamp(db: Db) -> str:
    """`_generate_transaction_timestamp()`: the next draw of the instance's seeded generator."""
    m = meta(db)
    start = int(CURRENT_TIME.timestamp())
    end = int((CURRENT_TIME + timedelta(days=1)).timestamp())
    rng = random.Random(m["random_seed"])
    for _ in range(m["random_draws"]):  # replay earlier draws: same range, same consumption
        rng.randint(start, end)
    value = rng.randint(start, end)
    set_meta(db, random_draws=m["random_draws"] + 1)
    return datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")
