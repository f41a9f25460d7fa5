"""BFCL-V3 multi-turn classes ported to SQLite-backed EigenData bundles (`bfcl/<module>`)."""

from __future__ import annotations

import importlib
from functools import cache

from environments.bfcl.common import BfclBundle

MODULES: dict[str, str] = {
    "GorillaFileSystem": "gorilla_file_system",
    "MathAPI": "math_api",
    "MessageAPI": "message_api",
    "TwitterAPI": "posting_api",
    "TicketAPI": "ticket_api",
    "TradingBot": "trading_bot",
    "TravelAPI": "travel_booking",
    "VehicleControlAPI": "vehicle_control",
}


@cache
def by_class() -> dict[str, BfclBundle]:
    """Class name -> ported bundle, for every class whose port is present."""
    out: dict[str, BfclBundle] = {}
    for class_name, module in MODULES.items():
        try:
            mod = importlib.import_module(f"environments.bfcl.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"environments.bfcl.{module}":
                raise
            continue
        bundle = getattr(mod, "BUNDLE", None)
        if isinstance(bundle, BfclBundle):
            out[class_name] = bundle
    return out


def bundles() -> dict[str, BfclBundle]:
    """Registry hook: the ported domains by bundle name."""
    return {b.name: b for b in by_class().values()}
