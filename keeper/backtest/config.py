"""Vault rules, market parameters and gas constants the backtester simulates.

VaultRules mirrors what the on-chain ScalingVault enforces (leverages as plain multiples, times in seconds,
notionals in collateral units). MarketParams / MarketConfig hold the perp market's parameters as the chain
stores them (WAD integers, see keeper.market_math); the float engine reads their float views.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from keeper.market_math import WAD
from keeper.strategies.base import FloatArray, MarketView, ParamError, check_range

# Gas per keeper action; measured receipts replace these (the lead updates them).
DEFAULT_GAS: dict[str, int] = {"rebalance": 120_000, "iterate": 110_000, "ripcord": 150_000}

DAY = 86_400.0


@dataclass(frozen=True)
class VaultRules:
    """Ordering: 0 <= min <= target <= max < ripcord <= cap; interval >= chunk_cooldown >= ripcord_cooldown."""

    min_leverage: float = 0.0
    target_leverage: float = 2.0
    max_leverage: float = 3.0
    ripcord_leverage: float = 3.5
    leverage_cap: float = 5.0
    rebalance_interval: float = DAY
    chunk_cooldown: float = 3_600.0
    ripcord_cooldown: float = 600.0
    max_trade_notional: float = 2_000_000.0
    ripcord_max_trade_notional: float = 4_000_000.0
    max_slippage: float = 0.01
    ripcord_slippage: float = 0.05

    def __post_init__(self) -> None:
        check_range("leverage_cap", self.leverage_cap, 0.0, 100.0, lo_open=True)
        check_range("ripcord_leverage", self.ripcord_leverage, 0.0, self.leverage_cap, lo_open=True)
        check_range("max_leverage", self.max_leverage, 0.0, self.ripcord_leverage, lo_open=True, hi_open=True)
        check_range("target_leverage", self.target_leverage, 0.0, self.max_leverage, lo_open=True)
        check_range("min_leverage", self.min_leverage, 0.0, self.target_leverage)
        check_range("rebalance_interval", self.rebalance_interval, 0.0, 365 * DAY)
        check_range("chunk_cooldown", self.chunk_cooldown, 0.0, self.rebalance_interval)
        check_range("ripcord_cooldown", self.ripcord_cooldown, 0.0, self.chunk_cooldown)
        check_range("max_trade_notional", self.max_trade_notional, 0.0, 1e18, lo_open=True)
        check_range("ripcord_max_trade_notional", self.ripcord_max_trade_notional, 0.0, 1e18, lo_open=True)
        check_range("max_slippage", self.max_slippage, 0.0, 1.0, lo_open=True)
        check_range("ripcord_slippage", self.ripcord_slippage, self.max_slippage, 1.0)


def to_wad(x: float) -> int:
    return int(round(x * WAD))


@dataclass(frozen=True)
class MarketParams:
    """One perp market, as stored on-chain (WAD integers)."""

    skew_scale: int  # asset units (WAD) of skew at which the price premium is 100 %
    taker_fee: int  # WAD fraction of the fill notional
    maintenance_margin_ratio: int
    initial_margin_ratio: int
    max_funding_rate: int  # WAD fraction per day at |skew| >= skew_scale

    def __post_init__(self) -> None:
        check_range("skew_scale", self.skew_scale, 0, 10**40, lo_open=True)
        check_range("taker_fee", self.taker_fee, 0, WAD // 10)
        check_range("maintenance_margin_ratio", self.maintenance_margin_ratio, 0, WAD, lo_open=True)
        check_range("initial_margin_ratio", self.initial_margin_ratio, self.maintenance_margin_ratio, WAD)
        check_range("max_funding_rate", self.max_funding_rate, 0, WAD)


@dataclass(frozen=True)
class MarketConfig:
    markets: tuple[MarketParams, ...]
    liquidation_fee_ratio: int = to_wad(0.001)
    min_keeper_fee: int = to_wad(5.0)  # collateral, WAD
    max_keeper_fee: int = to_wad(1_000.0)
    collateral_decimals: int = 6
    background_skew: tuple[int, ...] = field(default_factory=tuple)  # WAD size per market; empty = none

    def __post_init__(self) -> None:
        if not self.markets:
            raise ParamError("markets: need at least one market, got 0")
        check_range("liquidation_fee_ratio", self.liquidation_fee_ratio, 0, WAD)
        check_range("min_keeper_fee", self.min_keeper_fee, 0, self.max_keeper_fee)
        check_range("collateral_decimals", self.collateral_decimals, 0, 18)
        if self.background_skew and len(self.background_skew) != len(self.markets):
            raise ParamError(
                f"background_skew: expected {len(self.markets)} values (one per market), "
                f"got {len(self.background_skew)}"
            )

    @property
    def assets(self) -> int:
        return len(self.markets)

    def floats(self, name: str) -> FloatArray:
        """Per-market field as floats, e.g. floats("taker_fee") -> (a,) fractions."""
        return np.array([getattr(m, name) / WAD for m in self.markets], dtype=np.float64)

    def skew_background(self) -> FloatArray:
        if not self.background_skew:
            return np.zeros(self.assets)
        return np.array([s / WAD for s in self.background_skew], dtype=np.float64)

    def view(self) -> MarketView:
        return MarketView(
            maintenance_margin=self.floats("maintenance_margin_ratio"),
            initial_margin=self.floats("initial_margin_ratio"),
            liquidation_fee_ratio=self.liquidation_fee_ratio / WAD,
            min_keeper_fee=self.min_keeper_fee / WAD,
            max_keeper_fee=self.max_keeper_fee / WAD,
            taker_fee=self.floats("taker_fee"),
        )


@dataclass(frozen=True)
class MarketSettings:
    """Plain-number market settings (the CLI's --market k=v); build() turns them into a MarketConfig with the
    same parameters for every asset, the skew scale given as a notional at each asset's initial price."""

    skew_scale_notional: float = 2e9
    taker_fee: float = 0.0005
    maintenance_margin: float = 0.05
    initial_margin: float = 0.1
    max_funding_rate: float = 0.1  # per day
    liquidation_fee_ratio: float = 0.001
    min_keeper_fee: float = 5.0  # collateral units
    max_keeper_fee: float = 1_000.0
    collateral_decimals: int = 6

    def __post_init__(self) -> None:
        check_range("skew_scale_notional", self.skew_scale_notional, 0.0, 1e30, lo_open=True)
        check_range("taker_fee", self.taker_fee, 0.0, 0.1)
        check_range("maintenance_margin", self.maintenance_margin, 0.0, 1.0, lo_open=True)
        check_range("initial_margin", self.initial_margin, self.maintenance_margin, 1.0)
        check_range("max_funding_rate", self.max_funding_rate, 0.0, 1.0)
        check_range("liquidation_fee_ratio", self.liquidation_fee_ratio, 0.0, 1.0)
        check_range("max_keeper_fee", self.max_keeper_fee, 0.0, 1e15)
        check_range("min_keeper_fee", self.min_keeper_fee, 0.0, self.max_keeper_fee)
        check_range("collateral_decimals", self.collateral_decimals, 0, 18)

    def build(self, initial_prices: FloatArray) -> MarketConfig:
        markets = tuple(
            MarketParams(
                skew_scale=to_wad(self.skew_scale_notional / float(p)),
                taker_fee=to_wad(self.taker_fee),
                maintenance_margin_ratio=to_wad(self.maintenance_margin),
                initial_margin_ratio=to_wad(self.initial_margin),
                max_funding_rate=to_wad(self.max_funding_rate),
            )
            for p in initial_prices
        )
        return MarketConfig(
            markets=markets,
            liquidation_fee_ratio=to_wad(self.liquidation_fee_ratio),
            min_keeper_fee=to_wad(self.min_keeper_fee),
            max_keeper_fee=to_wad(self.max_keeper_fee),
            collateral_decimals=self.collateral_decimals,
        )
