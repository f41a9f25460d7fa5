"""Loading a BFCL TradingBot config into the tables, and projecting the tables back.

`load` mirrors `TradingBot._load_scenario`: every attribute comes from the config or, when the
key is missing, from the release's `DEFAULT_STATE`; order keys that are digit strings become
ints. Long context does not change the state: the original only appends its long-context
extensions to some results (see tools.py). Config values of a type the original's behaviour
cannot sensibly have (e.g. a watch list that is not a list) are refused with ValueError.
"""

from __future__ import annotations

from typing import Any

from eigencore.audit.code_fixes import mark_repaired
from environments.bfcl.common import release_constant
from environments.bfcl.trading_bot import store
from environments.contract import Db, Scenario

MODULE = "trading_bot"


def _require(value: Any, kinds: tuple[type, ...], what: str) -> Any:
    if type(value) not in kinds:
        expected = " or ".join(k.__name__ for k in kinds)
        raise ValueError(
            f"TradingBot config: {what} must be {expected}, got {type(value).__name__}"
        )
    return value


def _fits(n: int) -> bool:
    return -(2**63) <= n < 2**63


def load(db: Db, scenario: Scenario) -> None:
    config: dict[str, Any] = scenario.get("config") or {}
    default = release_constant(MODULE, "DEFAULT_STATE")

    def get(key: str) -> Any:
        return config[key] if key in config else default[key]

    raw_orders = _require(get("orders"), (dict,), "orders")
    # As the original: digit-string keys become int keys (later duplicates overwrite in place).
    orders = {int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in raw_orders.items()}
    db.execute(
        "INSERT INTO meta (id, authenticated, market_status, order_counter, long_context, "
        "random_seed) VALUES (1, ?, ?, ?, ?, ?)",
        (
            _require(get("authenticated"), (bool,), "authenticated"),
            _require(get("market_status"), (str,), "market_status"),
            _require(get("order_counter"), (int,), "order_counter"),
            bool(scenario.get("long_context", False)),
            _require(get("random_seed"), (int, float, str), "random_seed"),
        ),
    )
    mark_repaired(db, "meta", scenario)  # repaired mode: eigencore.audit.code_fixes
    store.insert_account(db, _require(get("account_info"), (dict,), "account_info"))
    for position, (symbol, value) in enumerate(_require(get("stocks"), (dict,), "stocks").items()):
        store.insert_stock(db, _require(symbol, (str,), "a stock symbol"), value, position)
    for key, value in orders.items():
        if type(_require(key, (int, str), "an order key")) is int and not _fits(key):
            raise ValueError(f"TradingBot config: order id {key} exceeds 64 bits")
        store.put_order(db, key, value)
    for value in _require(get("transaction_history"), (list,), "transaction_history"):
        store.append_transaction(db, value)
    watch = _require(get("watch_list"), (list,), "watch_list")
    store.save_watch_list(db, [_require(s, (str,), "a watch-list symbol") for s in watch])


def project(db: Db) -> dict[str, Any]:
    """The instance's public attributes, as `ReferenceEpisode.state()["TradingBot"]`."""
    m = store.meta(db)
    return {
        "orders": store.orders(db),
        "account_info": store.account(db),
        "authenticated": bool(m["authenticated"]),
        "market_status": m["market_status"],
        "order_counter": m["order_counter"],
        "stocks": store.stocks(db),
        "watch_list": store.watch_list(db),
        "transaction_history": store.transactions(db),
        "long_context": bool(m["long_context"]),
    }
