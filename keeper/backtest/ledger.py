"""Settlement of a vault's account on the perp market, for n simulated vaults at once.

Two ledgers with one interface, so the engine's loop is written once:

* ExactLedger settles with Python integers through keeper.market_math, i.e. the same formulas, units and
  rounding as the contracts (WAD sizes, prices and notionals; collateral in token units). It is a loop over
  vaults and markets and is meant for single paths and for checking the fast one.
* FloatLedger is the vectorised float64 *approximation* of the same formulas for Monte Carlo: it skips the
  integer rounding (a few wei per operation), everything else is identical. tests/unit/test_backtest_engine.py
  checks that both agree on short paths.

What they mirror from contracts/market/PerpMarket.sol (the vault is the only trader, so skew = its size plus
any configured background skew):
- funding: each market keeps a cumulative index written only when the market is touched (a trade or a
  liquidation); in between, the current index is the stored one plus funding_index_delta(rate from the skew,
  price now, time since the write), exactly as `_currentIndex` computes it for margin checks;
- a trade settles the position's funding (credit rounded down), the realised PnL (rounded down) and the fee
  (rounded up) into collateral;
- liquidation closes every position at the oracle price (PnL minus funding, rounded down, per position), pays
  the keeper reward keeper_fee / scale (rounded down); the rest of the collateral goes to the pool and the
  account is left with nothing. A shortfall below the reward is bad debt covered by insurance and the pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import numpy as np

from keeper import market_math as mm
from keeper.backtest.config import MarketConfig
from keeper.strategies.base import BoolArray, FloatArray, as_float_array

WAD = mm.WAD


@dataclass(frozen=True)
class Marks:
    equity: FloatArray  # (n,)
    notional: FloatArray  # (n, a) signed
    gross: FloatArray  # (n,)
    maintenance: FloatArray  # (n,) requirement incl. keeper fee
    initial: FloatArray  # (n,)


@dataclass(frozen=True)
class Totals:
    """Cumulative flows per vault, collateral units (positive = paid by the vault)."""

    fees: FloatArray
    funding: FloatArray  # settled plus owed on open positions
    realized: FloatArray  # PnL realised by trades and liquidations (before fees and funding)
    keeper_fees: FloatArray  # liquidation rewards paid from the vault's collateral
    seized: FloatArray  # collateral left at liquidation, taken by the pool
    bad_debt: FloatArray  # shortfall at liquidation, covered by insurance and the pool


class Ledger(Protocol):
    def sizes(self) -> FloatArray: ...

    def advance(self, time: float) -> None:
        """Move the clock (funding keeps accruing into the current index)."""
        ...

    def mark(self, prices: FloatArray) -> Marks: ...

    def trade(self, delta_size: FloatArray, prices: FloatArray) -> FloatArray:
        """Execute the size changes (zeros are skipped); returns the fee paid per vault."""
        ...

    def liquidate(self, mask: BoolArray, prices: FloatArray) -> None: ...

    def totals(self, prices: FloatArray) -> Totals: ...


def _keeper_fee(gross: FloatArray, cfg: MarketConfig) -> FloatArray:
    kf = np.clip(gross * (cfg.liquidation_fee_ratio / WAD), cfg.min_keeper_fee / WAD, cfg.max_keeper_fee / WAD)
    return as_float_array(np.where(gross > 0.0, kf, 0.0))


class FloatLedger:
    def __init__(self, n: int, collateral: float, cfg: MarketConfig):
        a = cfg.assets
        self.cfg = cfg
        self.now = 0.0
        self.collateral = np.full(n, float(collateral))
        self.size = np.zeros((n, a))
        self.open_notional = np.zeros((n, a))
        self.index = np.zeros((n, a))  # stored funding index of each path's market
        self.index_time = np.zeros((n, a))
        self.entry_index = np.zeros((n, a))
        self._skew_scale = cfg.floats("skew_scale")
        self._fee = cfg.floats("taker_fee")
        self._mmr = cfg.floats("maintenance_margin_ratio")
        self._imr = cfg.floats("initial_margin_ratio")
        self._max_rate = cfg.floats("max_funding_rate")
        self._background = cfg.skew_background()
        self._flows = {k: np.zeros(n) for k in ("fees", "funding", "realized", "keeper_fees", "seized", "bad_debt")}

    def sizes(self) -> FloatArray:
        return self.size

    def advance(self, time: float) -> None:
        self.now = time

    def _current_index(self, prices: FloatArray) -> FloatArray:
        rate = np.clip((self.size + self._background) / self._skew_scale, -1.0, 1.0) * self._max_rate
        return as_float_array(self.index + rate * prices * ((self.now - self.index_time) / mm.SECONDS_PER_DAY))

    def mark(self, prices: FloatArray) -> Marks:
        owed = self.size * (self._current_index(prices) - self.entry_index)
        notional = self.size * prices
        equity = self.collateral + (notional - self.open_notional - owed).sum(axis=1)
        size = np.abs(notional)
        gross = size.sum(axis=1)
        kf = _keeper_fee(gross, self.cfg)
        return Marks(
            equity=as_float_array(equity),
            notional=as_float_array(notional),
            gross=as_float_array(gross),
            maintenance=as_float_array((size * self._mmr).sum(axis=1) + kf),
            initial=as_float_array((size * self._imr).sum(axis=1) + kf),
        )

    def _touch(self, moved: BoolArray, index: FloatArray) -> None:
        self.index = np.where(moved, index, self.index)
        self.index_time = np.where(moved, self.now, self.index_time)
        self.entry_index = np.where(moved, index, self.entry_index)

    def trade(self, delta_size: FloatArray, prices: FloatArray) -> FloatArray:
        d = delta_size
        moved = d != 0.0
        index = self._current_index(prices)
        owed = np.where(moved, self.size * (index - self.entry_index), 0.0)
        self._touch(moved, index)
        size, on = self.size, self.open_notional
        fill = prices * (1.0 + (2.0 * (size + self._background) + d) / (2.0 * self._skew_scale))
        fee = np.abs(d) * fill * self._fee
        same = (size == 0.0) | ((size > 0.0) == (d > 0.0))
        partial = ~same & (np.abs(d) <= np.abs(size))
        removed = on * (-d) / np.where(size == 0.0, 1.0, size)
        realized = np.where(same | ~moved, 0.0, np.where(partial, -d * fill - removed, size * fill - on))
        new_on = np.where(same, on + d * fill, np.where(partial, on - removed, (size + d) * fill))
        self.open_notional = np.where(moved, new_on, on)
        self.size = size + d
        fee_row = fee.sum(axis=1)
        self.collateral = self.collateral + (realized - owed).sum(axis=1) - fee_row
        self._flows["fees"] += fee_row
        self._flows["funding"] += owed.sum(axis=1)
        self._flows["realized"] += realized.sum(axis=1)
        return as_float_array(fee_row)

    def liquidate(self, mask: BoolArray, prices: FloatArray) -> None:
        if not mask.any():
            return
        index = self._current_index(prices)
        owed = (self.size * (index - self.entry_index)).sum(axis=1)
        pnl = (self.size * prices - self.open_notional).sum(axis=1)
        reward = _keeper_fee(np.abs(self.size * prices).sum(axis=1), self.cfg)
        left = self.collateral + pnl - owed
        m = mask
        flows = self._flows
        for key, amount in (
            ("realized", pnl),
            ("funding", owed),
            ("keeper_fees", reward),
            ("seized", np.maximum(left - reward, 0.0)),
            ("bad_debt", np.maximum(reward - left, 0.0)),
        ):
            flows[key] = np.where(m, flows[key] + amount, flows[key])
        self.collateral = np.where(m, 0.0, self.collateral)
        rows = m[:, None] & (self.size != 0.0)
        self._touch(rows, index)
        self.size = np.where(rows, 0.0, self.size)
        self.open_notional = np.where(rows, 0.0, self.open_notional)

    def totals(self, prices: FloatArray) -> Totals:
        f = self._flows
        open_owed = (self.size * (self._current_index(prices) - self.entry_index)).sum(axis=1)
        return Totals(
            fees=f["fees"].copy(),
            funding=as_float_array(f["funding"] + open_owed),
            realized=f["realized"].copy(),
            keeper_fees=f["keeper_fees"].copy(),
            seized=f["seized"].copy(),
            bad_debt=f["bad_debt"].copy(),
        )


@dataclass
class ExactAccount:
    """One vault's account and its markets in chain units: collateral in token units, the rest WAD."""

    collateral: int
    size: list[int]
    open_notional: list[int]
    entry_index: list[int]
    index: list[int]  # stored funding index of the market (this path's copy)
    index_time: list[int]  # seconds, when it was written
    fees: int = 0
    funding_settled: int = 0
    realized: int = 0
    keeper_fees: int = 0  # token units
    seized: int = 0  # token units
    bad_debt: int = 0  # token units
    dust: int = 0  # WAD lost to token rounding (always >= 0: rounding favours the market)


def to_wad_exact(x: float) -> int:
    """The decimal value a float prints as, in WAD (2040.5 -> 2040.5e18 exactly; float x * 1e18 is not)."""
    return int((Decimal(repr(float(x))) * WAD).to_integral_value())


def price_wad(price: float) -> int:
    return to_wad_exact(price)


class ExactLedger:
    """market_math-exact settlement; decisions still come in as floats and are rounded to WAD here."""

    def __init__(self, n: int, collateral: float, cfg: MarketConfig):
        a = cfg.assets
        self.cfg = cfg
        self.now = 0
        self.scale = mm.token_scale(cfg.collateral_decimals)
        token = int(Decimal(repr(float(collateral))) * 10**cfg.collateral_decimals)  # exact, no float scaling
        self.accounts = [ExactAccount(token, [0] * a, [0] * a, [0] * a, [0] * a, [0] * a) for _ in range(n)]
        self.background = list(cfg.background_skew) or [0] * a

    def advance(self, time: float) -> None:
        self.now = int(round(time))

    def current_index(self, acc: ExactAccount, j: int, price: int) -> int:
        """PerpMarket._currentIndex: the stored index plus the accrual since it was written."""
        elapsed = self.now - acc.index_time[j]
        if elapsed == 0:
            return acc.index[j]
        m = self.cfg.markets[j]
        rate = mm.funding_rate(acc.size[j] + self.background[j], m.skew_scale, m.max_funding_rate)
        return acc.index[j] + mm.funding_index_delta(rate, price, elapsed)

    def _owed(self, acc: ExactAccount, j: int, price: int) -> int:
        return mm.funding_owed(acc.size[j], self.current_index(acc, j, price), acc.entry_index[j])

    def _touch(self, acc: ExactAccount, j: int, price: int) -> None:
        acc.index[j] = acc.entry_index[j] = self.current_index(acc, j, price)
        acc.index_time[j] = self.now

    def state(self, i: int, prices: FloatArray) -> mm.MarginState:
        acc = self.accounts[i]
        p = [price_wad(x) for x in prices[i]]
        c = self.cfg
        marks = [
            mm.PositionMark(
                size=acc.size[j],
                open_notional=acc.open_notional[j],
                funding_owed=self._owed(acc, j, p[j]),
                price=p[j],
                initial_margin_ratio=m.initial_margin_ratio,
                maintenance_margin_ratio=m.maintenance_margin_ratio,
            )
            for j, m in enumerate(c.markets)
        ]
        return mm.margin_state(
            acc.collateral, self.scale, marks, c.liquidation_fee_ratio, c.min_keeper_fee, c.max_keeper_fee
        )

    def sizes(self) -> FloatArray:
        return np.array([[s / WAD for s in acc.size] for acc in self.accounts], dtype=np.float64)

    def mark(self, prices: FloatArray) -> Marks:
        n, a = prices.shape
        equity, gross, maint, init = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
        notional = np.zeros((n, a))
        for i, acc in enumerate(self.accounts):
            st = self.state(i, prices)
            equity[i], gross[i] = st.equity / WAD, st.gross_notional / WAD
            maint[i], init[i] = st.maintenance_requirement / WAD, st.initial_requirement / WAD
            for j in range(a):
                notional[i, j] = mm.mul_div_signed(acc.size[j], price_wad(prices[i, j]), WAD, False) / WAD
        return Marks(equity, notional, gross, maint, init)

    def _settle(self, acc: ExactAccount, amount_wad: int) -> int:
        """Credit (positive) rounded down or debit (negative) rounded up, into token collateral."""
        token = mm.wad_to_token_down(amount_wad, self.scale)
        acc.dust += amount_wad - token * self.scale
        acc.collateral += token
        return token

    def trade(self, delta_size: FloatArray, prices: FloatArray) -> FloatArray:
        n, a = delta_size.shape
        fees = np.zeros(n)
        for i, acc in enumerate(self.accounts):
            for j, m in enumerate(self.cfg.markets):
                d = to_wad_exact(delta_size[i, j])
                if d == 0:
                    continue
                p = price_wad(prices[i, j])
                owed = self._owed(acc, j, p)
                self._touch(acc, j, p)
                fill = mm.fill_price(p, acc.size[j] + self.background[j], d, m.skew_scale)
                fee = mm.trading_fee(d, fill, m.taker_fee)
                res = mm.apply_trade(acc.size[j], acc.open_notional[j], d, fill)
                acc.size[j], acc.open_notional[j] = res.new_size, res.new_open_notional
                self._settle(acc, -owed)
                self._settle(acc, res.realized_pnl)
                self._settle(acc, -fee)
                acc.fees += fee
                acc.funding_settled += owed
                acc.realized += res.realized_pnl
                fees[i] += fee / WAD
        return fees

    def liquidate(self, mask: BoolArray, prices: FloatArray) -> None:
        c = self.cfg
        for i in np.flatnonzero(mask):
            acc = self.accounts[int(i)]
            gross = self.state(int(i), prices).gross_notional
            for j in range(len(c.markets)):
                if acc.size[j] == 0:
                    continue
                p = price_wad(prices[i, j])
                pnl = mm.unrealized_pnl(acc.size[j], acc.open_notional[j], p)
                owed = self._owed(acc, j, p)
                self._touch(acc, j, p)
                self._settle(acc, pnl - owed)
                acc.realized += pnl
                acc.funding_settled += owed
                acc.size[j], acc.open_notional[j] = 0, 0
            reward = mm.wad_to_token_down(
                mm.keeper_fee(gross, c.liquidation_fee_ratio, c.min_keeper_fee, c.max_keeper_fee), self.scale
            )
            acc.keeper_fees += reward
            if acc.collateral >= reward:
                acc.seized += acc.collateral - reward
            else:
                acc.bad_debt += reward - acc.collateral
            acc.collateral = 0

    def unsettled_funding(self, acc: ExactAccount, prices: list[int]) -> int:
        return sum(self._owed(acc, j, p) for j, p in enumerate(prices))

    def totals(self, prices: FloatArray) -> Totals:
        def col(f: str, unit: int = WAD) -> FloatArray:
            return np.array([getattr(acc, f) / unit for acc in self.accounts], dtype=np.float64)

        token = 10**self.cfg.collateral_decimals
        funding = np.array(
            [
                (acc.funding_settled + self.unsettled_funding(acc, [price_wad(x) for x in prices[i]])) / WAD
                for i, acc in enumerate(self.accounts)
            ],
            dtype=np.float64,
        )
        return Totals(
            fees=col("fees"),
            funding=funding,
            realized=col("realized"),
            keeper_fees=col("keeper_fees", token),
            seized=col("seized", token),
            bad_debt=col("bad_debt", token),
        )
