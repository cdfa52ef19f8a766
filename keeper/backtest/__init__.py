"""Backtester: price paths, the vault rules and market settlement (exact via keeper.market_math, or a
vectorised float approximation), metrics and reports. The strategies it runs are the live keeper's
(keeper.strategies); see docs/STRATEGIES.md."""

from __future__ import annotations

from keeper.backtest.config import DEFAULT_GAS, MarketConfig, MarketParams, MarketSettings, VaultRules
from keeper.backtest.engine import EngineConfig, SimResult, simulate
from keeper.backtest.metrics import series_metrics, summarize
from keeper.backtest.paths import CsvError, GenParams, PricePaths, generate, load_csv

__all__ = [
    "DEFAULT_GAS",
    "CsvError",
    "EngineConfig",
    "GenParams",
    "MarketConfig",
    "MarketParams",
    "MarketSettings",
    "PricePaths",
    "SimResult",
    "VaultRules",
    "generate",
    "load_csv",
    "series_metrics",
    "simulate",
    "summarize",
]
