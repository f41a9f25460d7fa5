"""TradingBot tools: market data, orders, the trading account, watch list and history.

Each tool is one public method of BFCL's `TradingBot`, with the same name, parameters, results
and error dicts. The method's logic runs on the Python values read from the tables (see
store.py), so comparisons, arithmetic and result types are exactly the original's. Where the
original raises (malformed input or data), the tool raises `ToolError` with the same message,
and the call changes nothing.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from datetime import datetime, time
from typing import Annotated, Any, TypeVar

from pydantic import Field, StrictFloat, StrictInt

from eigencore.audit.code_fixes import is_repaired
from environments.bfcl.common import release_constant
from environments.bfcl.trading_bot import store
from environments.bfcl.trading_bot.store import CURRENT_TIME, MISSING
from environments.contract import Db, ToolError, tool

# Strict: the original keeps numbers as given (5 and 5.0 print differently in its results), so
# a coerced value ("5" -> 5, 5.0 -> 5, True -> 1) would answer a call the original never saw.
Number = StrictInt | StrictFloat
Symbol = Annotated[str, Field(description="Stock ticker symbol, e.g. 'AAPL'.")]
OrderId = Annotated[StrictInt, Field(description="Numeric order id, e.g. 12446.")]

_MARKET_OPENS = time(9, 30)
_MARKET_CLOSES = time(16, 0)
_SYMBOLS_BY_NAME = {
    "Apple": "AAPL",
    "Google": "GOOG",
    "Tesla": "TSLA",
    "Microsoft": "MSFT",
    "Nvidia": "NVDA",
    "Zeta Corp": "ZETA",
    "Alpha Tech": "ALPH",
    "Omega Industries": "OMEG",
    "Quasar Ltd.": "QUAS",
    "Neptune Systems": "NEPT",
    "Synex Solutions": "SYNX",
    "Amazon": "AMZN",
}

F = TypeVar("F", bound=Callable[..., Any])


def _raises_like_original(fn: F) -> F:
    """Report what the original would raise as a ToolError with the exception's message
    (BFCL shows `str(exception)`); database errors stay port failures."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ToolError, sqlite3.Error):
            raise
        except Exception as e:
            raise ToolError(str(e), kind="execution_error") from e

    return wrapper  # type: ignore[return-value]


def _long_context(name: str) -> Any:
    return release_constant("long_context", name)


@tool(read_only=True)
@_raises_like_original
def get_current_time(db: Db) -> dict[str, str]:
    """Tell the trading system's current time of day (its clock is fixed).

    Returns the time as 'HH:MM AM/PM'.
    """
    return {"current_time": CURRENT_TIME.strftime("%I:%M %p")}


@tool(idempotent=True)
@_raises_like_original
def update_market_status(db: Db, current_time_str: str) -> dict[str, str]:
    """Open or close the market according to a time of day (open 9:30 AM to 4:00 PM).

    Args:
        current_time_str: The time of day in 'HH:MM AM/PM' form, e.g. '10:30 AM'.
    """
    current = datetime.strptime(current_time_str, "%I:%M %p").time()
    status = "Open" if _MARKET_OPENS <= current <= _MARKET_CLOSES else "Closed"
    store.set_meta(db, market_status=status)
    return {"status": status}


@tool(read_only=True)
@_raises_like_original
def get_symbol_by_name(db: Db, name: str) -> dict[str, str]:
    """Look up the ticker symbol of a listed company.

    Args:
        name: The company's name as listed, e.g. 'Apple' or 'Zeta Corp'.
    """
    return {"symbol": _SYMBOLS_BY_NAME.get(name, "Stock not found")}


@tool(read_only=True)
@_raises_like_original
def get_stock_info(db: Db, symbol: Symbol) -> Any:
    """Show a stock's price, percent change, volume and 5- and 20-day moving averages.

    Args:
        symbol: The stock's ticker symbol.
    """
    stock = store.stock(db, symbol)
    if stock is MISSING:
        return {"error": f"Stock with symbol '{symbol}' not found."}
    if store.long_context(db):
        stock = stock.copy()
        stock["MA(5)"] = _long_context("MA_5_EXTENSION")
        stock["MA(20)"] = _long_context("MA_20_EXTENSION")
    return stock


@tool(read_only=True)
@_raises_like_original
def get_order_details(db: Db, order_id: OrderId) -> Any:
    """Show one order: its type, symbol, price, number of shares and status.

    Args:
        order_id: The id of the order.
    """
    order = store.order(db, order_id)
    if order is MISSING:
        return {
            "error": f"Order with ID {order_id} not found."
            + "Here is the list of orders_id: "
            + str(store.order_keys(db))
        }
    if store.long_context(db):
        order = order.copy()
        symbol = order["symbol"]
        metadata = {}
        for key, value in _long_context("ORDER_DETAIL_EXTENSION").items():
            try:
                metadata[key] = value.format(symbol=symbol)
            except KeyError as e:
                return {"error": f"KeyError during formatting: {e!s}"}
        order["metadata"] = metadata
    return order


@tool(destructive=True, idempotent=True)
@_raises_like_original
def cancel_order(db: Db, order_id: OrderId) -> dict[str, Any]:
    """Cancel an order that has not been completed yet.

    Args:
        order_id: The id of the order to cancel.
    """
    order = store.order(db, order_id)
    if order is MISSING:
        return {"error": f"Order with ID {order_id} not found."}
    if order["status"] == "Completed":
        return {"error": f"Can't cancel order {order_id}. Order is already completed."}
    order["status"] = "Cancelled"
    store.put_order(db, order_id, order)
    return {"order_id": order_id, "status": "Cancelled"}


@tool
@_raises_like_original
def place_order(
    db: Db,
    order_type: Annotated[str, Field(description="'Buy' or 'Sell'.")],
    symbol: Symbol,
    price: Number,
    amount: StrictInt,
) -> dict[str, Any]:
    """Place a buy or sell order for a stock; requires being logged in.

    The order gets the next order id and is reported as pending.

    Args:
        order_type: Whether to buy or sell ('Buy' or 'Sell').
        symbol: Ticker symbol of the stock to trade.
        price: Price per share; must be positive.
        amount: Number of shares; must be positive.
    """
    if not store.authenticated(db):
        return {"error": "User not authenticated. Please log in to place an order."}
    if store.stock(db, symbol) is MISSING:
        return {"error": f"Invalid stock symbol: {symbol}"}
    if price <= 0 or amount <= 0:
        return {"error": "Price and amount must be positive values."}
    price = float(price)
    order_id = store.meta(db)["order_counter"]
    if is_repaired(db, "meta") and store.order(db, order_id) is not MISSING:
        # Repaired mode (code_fixes trading.place_order.fresh_id): the default counter names
        # an existing order, which the original silently overwrites.
        taken = [k for k in store.order_keys(db) if type(k) is int]
        order_id = max([order_id, *taken]) + 1
    store.put_order(db, order_id, {
        "id": order_id,
        "order_type": order_type,
        "symbol": symbol,
        "price": price,
        "amount": amount,
        "status": "Open",
    })
    store.set_meta(db, order_counter=order_id + 1)
    # The original reports "Pending" while storing "Open" (simulated execution delay).
    return {
        "order_id": order_id,
        "order_type": order_type,
        "status": "Pending",
        "price": price,
        "amount": amount,
    }


@tool
@_raises_like_original
def make_transaction(
    db: Db,
    account_id: StrictInt,
    xact_type: Annotated[str, Field(description="'deposit' or 'withdrawal'.")],
    amount: Number,
) -> dict[str, Any]:
    """Deposit to or withdraw from the trading account; requires being logged in and an
    open market.

    Args:
        account_id: The id of the trading account.
        xact_type: 'deposit' or 'withdrawal'.
        amount: The sum to move; must be positive, and a withdrawal at most the balance.
    """
    if not store.authenticated(db):
        return {"error": "User not authenticated. Please log in to make a transaction."}
    if store.meta(db)["market_status"] != "Open":
        return {"error": "Market is closed. Transactions are not allowed."}
    account = store.account(db)
    if account_id != account["account_id"]:
        return {"error": f"Account with ID {account_id} not found."}
    if amount <= 0:
        return {"error": "Transaction amount must be positive."}
    if xact_type == "deposit":
        account["balance"] += amount
        status = "Deposit successful"
    elif xact_type == "withdrawal":
        if amount > account["balance"]:
            return {"error": "Insufficient funds for withdrawal."}
        account["balance"] -= amount
        status = "Withdrawal successful"
    else:
        return {"error": "Invalid transaction type. Use 'deposit' or 'withdrawal'."}
    store.save_account(db, account)
    store.append_transaction(db, {
        "type": xact_type,
        "amount": amount,
        "timestamp": store.next_transaction_timestamp(db),
    })
    return {"status": status, "new_balance": account["balance"]}


@tool(read_only=True)
@_raises_like_original
def get_account_info(db: Db) -> dict[str, Any]:
    """Show the trading account's id, balance and bound card number; requires being
    logged in."""
    if not store.authenticated(db):
        return {"error": "User not authenticated. Please log in to view account information."}
    return store.account(db)


@tool(idempotent=True)
@_raises_like_original
def trading_login(db: Db, username: str, password: str) -> dict[str, str]:
    """Log in to the trading system (the credentials are not checked).

    Args:
        username: The user's login name.
        password: The user's password.
    """
    if store.authenticated(db):
        return {"status": "Already logged in"}
    store.set_meta(db, authenticated=True)
    return {"status": "Logged in successfully"}


@tool(read_only=True)
@_raises_like_original
def trading_get_login_status(db: Db) -> dict[str, bool]:
    """Tell whether a user is logged in to the trading system."""
    return {"status": store.authenticated(db)}


@tool(idempotent=True)
@_raises_like_original
def trading_logout(db: Db) -> dict[str, str]:
    """Log the current user out of the trading system."""
    if not store.authenticated(db):
        return {"status": "No user is currently logged in"}
    store.set_meta(db, authenticated=False)
    return {"status": "Logged out successfully"}


@tool
@_raises_like_original
def fund_account(db: Db, amount: Number) -> dict[str, Any]:
    """Add money to the trading account (recorded as a deposit); requires being logged in.

    Args:
        amount: The sum to add; must be positive.
    """
    if not store.authenticated(db):
        return {"error": "User not authenticated. Please log in to fund the account."}
    if amount <= 0:
        return {"error": "Funding amount must be positive."}
    account = store.account(db)
    account["balance"] += amount
    store.save_account(db, account)
    store.append_transaction(db, {
        "type": "deposit",
        "amount": amount,
        "timestamp": store.next_transaction_timestamp(db),
    })
    return {"status": "Account funded successfully", "new_balance": account["balance"]}


@tool(destructive=True, idempotent=True)
@_raises_like_original
def remove_stock_from_watchlist(db: Db, symbol: Symbol) -> dict[str, str]:
    """Stop watching a stock; requires being logged in.

    Args:
        symbol: Ticker symbol to take off the watch list.
    """
    if not store.authenticated(db):
        return {"error": "User not authenticated. Please log in to modify the watchlist."}
    watch_list = store.watch_list(db)
    if symbol not in watch_list:
        return {"error": f"Stock {symbol} not found in watchlist."}
    watch_list.remove(symbol)
    store.save_watch_list(db, watch_list)
    return {"status": f"Stock {symbol} removed from watchlist successfully."}


@tool(read_only=True)
@_raises_like_original
def get_watchlist(db: Db) -> dict[str, list[str]] | list[str]:
    """List the watched stock symbols; requires being logged in."""
    if not store.authenticated(db):
        return ["Error: User not authenticated. Please log in to view the watchlist."]
    watch_list = store.watch_list(db)
    if store.long_context(db):
        # The original returns a bare list here, not the dict.
        return watch_list + _long_context("WATCH_LIST_EXTENSION")
    return {"watchlist": watch_list}


@tool(read_only=True)
@_raises_like_original
def get_order_history(db: Db) -> dict[str, list[Any]] | list[dict[str, str]]:
    """List the ids of all orders, oldest first; requires being logged in."""
    if not store.authenticated(db):
        return [{"error": "User not authenticated. Please log in to view order history."}]
    return {"history": store.order_keys(db)}


@tool(read_only=True)
@_raises_like_original
def get_transaction_history(
    db: Db, start_date: str | None = None, end_date: str | None = None
) -> dict[str, list[Any]] | list[dict[str, str]]:
    """List the account's deposits and withdrawals, optionally within a date range;
    requires being logged in.

    Args:
        start_date: Earliest date, 'YYYY-MM-DD' (midnight); omit for no lower bound.
        end_date: Latest date, 'YYYY-MM-DD' (midnight, so that day itself is excluded);
            omit for no upper bound.
    """
    if not store.authenticated(db):
        return [{"error": "User not authenticated. Please log in to view transaction history."}]
    start = datetime.strptime(start_date, "%Y-%m-%d") if start_date else datetime.min
    end = datetime.strptime(end_date, "%Y-%m-%d") if end_date else datetime.max
    history = [
        transaction
        for transaction in store.transactions(db)
        if start <= datetime.strptime(transaction["timestamp"], "%Y-%m-%d %H:%M:%S") <= end
    ]
    if store.long_context(db):
        history.extend(_long_context("TRANSACTION_HISTORY_EXTENSION"))
    return {"transaction_history": history}


@tool
@_raises_like_original
def update_stock_price(db: Db, symbol: Symbol, new_price: Number) -> dict[str, Any]:
    """Set a stock's price; its percent change becomes the change from the old price.

    Args:
        symbol: Ticker symbol of the stock.
        new_price: The new price; must be positive.
    """
    stock = store.stock(db, symbol)
    if stock is MISSING:
        return {"error": f"Stock with symbol '{symbol}' not found."}
    if new_price <= 0:
        return {"error": "New price must be a positive value."}
    old_price = stock["price"]
    stock["price"] = new_price
    stock["percent_change"] = ((new_price - old_price) / old_price) * 100
    store.save_stock(db, symbol, stock)
    return {"symbol": symbol, "old_price": old_price, "new_price": new_price}


@tool(read_only=True)
@_raises_like_original
def get_available_stocks(db: Db, sector: str) -> dict[str, list[str]]:
    """List the stock symbols of a sector.

    Args:
        sector: The sector, e.g. 'Technology' or 'Automobile'.
    """
    sectors = {
        "Technology": ["AAPL", "GOOG", "MSFT", "NVDA"],
        "Automobile": ["TSLA", "F", "GM"],
    }
    if store.long_context(db):
        sectors["Technology"].extend(_long_context("TECHNOLOGY_EXTENSION"))
        sectors["Automobile"].extend(_long_context("AUTOMOBILE_EXTENSION"))
    return {"stock_list": sectors.get(sector, [])}


@tool(read_only=True)
@_raises_like_original
def filter_stocks_by_price(
    db: Db, stocks: list[str], min_price: Number, max_price: Number
) -> dict[str, list[str]]:
    """Keep the symbols whose price lies within a range (unknown symbols count as price 0).

    Args:
        stocks: Ticker symbols to filter, in the order wanted back.
        min_price: Lowest price to keep (inclusive).
        max_price: Highest price to keep (inclusive).
    """
    known = store.stocks(db)
    return {
        "filtered_stocks": [
            symbol
            for symbol in stocks
            if known.get(symbol, {}).get("price", 0) >= min_price
            and known.get(symbol, {}).get("price", 0) <= max_price
        ]
    }


@tool(idempotent=True)
@_raises_like_original
def add_to_watchlist(db: Db, stock: Symbol) -> dict[str, list[str]]:
    """Start watching a stock (unknown symbols are ignored); returns the whole watch list.

    Args:
        stock: Ticker symbol to add.
    """
    watch_list = store.watch_list(db)
    if stock not in watch_list and store.stock(db, stock) is not MISSING:
        watch_list.append(stock)
        store.save_watch_list(db, watch_list)
    return {"symbol": watch_list}


@tool(read_only=True)
@_raises_like_original
def notify_price_change(db: Db, stocks: list[str], threshold: Number) -> dict[str, str]:
    """Name the stocks whose absolute percent change reaches a threshold.

    Args:
        stocks: Ticker symbols to check.
        threshold: Minimum absolute percent change that counts as significant.
    """
    known = store.stocks(db)
    changed = [
        symbol
        for symbol in stocks
        if symbol in known and abs(known[symbol]["percent_change"]) >= threshold
    ]
    if changed:
        return {"notification": f"Stocks {', '.join(changed)} have significant price changes."}
    return {"notification": "No significant price changes in the selected stocks."}
