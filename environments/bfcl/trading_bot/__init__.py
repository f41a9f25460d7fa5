"""BFCL-V3 `TradingBot` ported to SQLite: stocks, orders, a trading account and a watch list."""

from environments.bfcl.common import BfclBundle, scenario
from environments.bfcl.trading_bot import tools
from environments.bfcl.trading_bot.loader import load, project
from environments.contract import read_text, tools_in
from environments.rules import ComparisonRules, TableRule

BUNDLE = BfclBundle(
    name="bfcl/trading_bot",
    description=(
        "A stock trading bot: look up stocks and sectors, place and cancel orders, fund and "
        "withdraw from the trading account, keep a watch list and review order and "
        "transaction history (BFCL-V3 TradingBot)."
    ),
    schema_sql=read_text(__file__, "schema.sql"),
    tools=tools_in(tools),
    rules=ComparisonRules(
        tables={
            # The draw counter only replays the generator; the timestamps it produced are
            # compared in `transactions`.
            "meta": TableRule(natural_key=("id",), ignore=frozenset({"random_draws"})),
            "account": TableRule(natural_key=("id",)),
            "stocks": TableRule(natural_key=("symbol",)),
            "orders": TableRule(natural_key=("order_key",)),
            "transactions": TableRule(natural_key=("position",)),
            "watch_list": TableRule(natural_key=("position",)),
        }
    ),
    default_scenario=scenario(),
    loader=load,
    class_name="TradingBot",
    module="trading_bot",
    project=project,
)
