"""The backtest engine: exact settlement through keeper.market_math, value conservation, the float
approximation against the exact engine, the vault rules (planner) and liquidations."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper import market_math as mm
from keeper.backtest.config import MarketConfig, MarketSettings, VaultRules
from keeper.backtest.engine import EngineConfig, SimResult, simulate
from keeper.backtest.ledger import ExactLedger, FloatLedger, price_wad
from keeper.backtest.paths import GenParams, PricePaths, generate
from keeper.backtest.planner import BAND_CUSHION, Action, KeeperState, MarketFloats, plan
from keeper.strategies import STRATEGIES, DangerousStrategyWarning, FixedFractionParams, OverlayParams, ParamError
from keeper.strategies.base import FloatArray

WAD = mm.WAD
HOUR = 3_600.0


def _params(name: str, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DangerousStrategyWarning)
        return STRATEGIES[name].params(**kw)


def _path(prices: list[float], dt: float = HOUR) -> PricePaths:
    arr = np.asarray(prices, dtype=np.float64)[:, None, None]
    return PricePaths(prices=arr, times=np.arange(len(prices)) * dt, assets=("X",), source="test")


def _market(prices: FloatArray, **kw: Any) -> MarketConfig:
    return MarketSettings(**kw).build(prices)


NO_OVERLAY = OverlayParams(shock=0.0, buffer=0.0)


# --- exact settlement -----------------------------------------------------------------------------


def test_exact_ledger_trade_is_market_math() -> None:
    market = _market(np.array([2_000.0]))
    ledger = ExactLedger(1, 10_000.0, market)
    prices = np.array([[2_000.0]])
    ledger.trade(np.array([[2.5]]), prices)
    acc = ledger.accounts[0]
    m = market.markets[0]
    d = int(2.5 * WAD)
    fill = mm.fill_price(2_000 * WAD, 0, d, m.skew_scale)
    fee = mm.trading_fee(d, fill, m.taker_fee)
    res = mm.apply_trade(0, 0, d, fill)
    assert (acc.size[0], acc.open_notional[0]) == (res.new_size, res.new_open_notional)
    assert acc.collateral == 10_000 * 10**6 - mm.wad_to_token_up(fee, 10**12)
    # closing half at a higher price realises PnL pro rata on the average cost
    ledger.trade(np.array([[-1.25]]), np.array([[2_200.0]]))
    fill2 = mm.fill_price(2_200 * WAD, d, -d // 2, m.skew_scale)
    res2 = mm.apply_trade(res.new_size, res.new_open_notional, -d // 2, fill2)
    assert acc.realized == res2.realized_pnl > 0
    assert acc.size[0] == res2.new_size


def test_funding_accrues_like_perp_market_current_index() -> None:
    """The index is written only on a trade; in between it is stored + delta(rate, price now, elapsed)."""
    market = _market(np.array([2_000.0]), max_funding_rate=0.2, skew_scale_notional=1e7)
    exact = ExactLedger(1, 10_000.0, market)
    approx = FloatLedger(1, 10_000.0, market)
    for ledger in (exact, approx):
        ledger.advance(0.0)
        ledger.trade(np.array([[5.0]]), np.array([[2_000.0]]))
        ledger.advance(3 * 86_400.0)
    acc = exact.accounts[0]
    m = market.markets[0]
    rate = mm.funding_rate(acc.size[0], m.skew_scale, m.max_funding_rate)
    owed = mm.funding_owed(acc.size[0], mm.funding_index_delta(rate, 2_500 * WAD, 3 * 86_400), 0)
    assert exact._owed(acc, 0, 2_500 * WAD) == owed > 0  # one accrual at today's price, as the contract does
    e_exact = exact.mark(np.array([[2_500.0]])).equity[0]
    e_float = approx.mark(np.array([[2_500.0]])).equity[0]
    assert e_float == pytest.approx(e_exact, rel=1e-12)
    assert approx.totals(np.array([[2_500.0]])).funding[0] == pytest.approx(owed / WAD, rel=1e-12)


def test_exact_engine_calls_market_math(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, int] = {}
    for name in ("fill_price", "apply_trade", "trading_fee", "margin_state", "funding_rate", "funding_index_delta"):
        real = getattr(mm, name)

        def spy(*args: Any, _real: Any = real, _name: str = name) -> Any:
            calls[_name] = calls.get(_name, 0) + 1
            return _real(*args)

        monkeypatch.setattr(mm, name, spy)
    paths = generate("gbm", 1, 60, 1, GenParams(), seed=1)
    simulate(paths, STRATEGIES["vol_target"], _params("vol_target"), VaultRules(rebalance_interval=4 * HOUR,
             chunk_cooldown=HOUR, ripcord_cooldown=HOUR), _market(paths.prices[0, 0]), EngineConfig(exact=True))
    assert calls["fill_price"] >= 1 and calls["apply_trade"] == calls["fill_price"]
    assert calls["margin_state"] >= 61 and calls["funding_index_delta"] >= 60


@pytest.mark.parametrize("decimals", [6, 18])
def test_exact_engine_conserves_value(decimals: int) -> None:
    """equity_T - equity_0 == realised + unrealised PnL - fees - funding - rounding dust, to the wei."""
    paths = generate("garch", 1, 250, 2, GenParams(sigma=1.2), seed=7)
    market = _market(paths.prices[0, 0], collateral_decimals=decimals, skew_scale_notional=5e7, max_funding_rate=0.5)
    ledger = ExactLedger(1, 1_000_000.0, market)
    rules = VaultRules(rebalance_interval=2 * HOUR, chunk_cooldown=HOUR, ripcord_cooldown=HOUR, max_trade_notional=4e5)
    res = simulate(paths, STRATEGIES["mean_reversion"], _params("mean_reversion"), rules, market,
                   EngineConfig(exact=True), ledger=ledger)
    assert res.stats.rebalances[0] + res.stats.iterates[0] >= 10  # it really traded
    acc = ledger.accounts[0]
    scale = 10 ** (18 - decimals)
    final = ledger.state(0, paths.prices[-1])
    last = paths.prices[-1, 0]
    upnl = sum(mm.unrealized_pnl(s, o, price_wad(p)) for s, o, p in zip(acc.size, acc.open_notional, last))
    funding = acc.funding_settled + ledger.unsettled_funding(acc, [price_wad(p) for p in last])
    assert acc.funding_settled != 0 and acc.fees > 0
    start = 1_000_000 * 10**decimals * scale
    assert final.equity - start == acc.realized + upnl - acc.fees - funding - acc.dust
    trades = int(res.stats.rebalances[0] + res.stats.iterates[0] + res.stats.ripcords[0]) * 2
    assert 0 <= acc.dust < 3 * trades * scale
    if decimals == 18:
        assert acc.dust == 0


@pytest.mark.parametrize("name", ["vol_target", "mean_reversion", "risk_parity", "leverage_band", "kelly"])
def test_float_engine_agrees_with_exact_engine(name: str) -> None:
    paths = generate("garch", 1, 150, 2, GenParams(), seed=3)
    market = _market(paths.prices[0, 0], skew_scale_notional=2e8)
    rules = VaultRules(rebalance_interval=6 * HOUR, chunk_cooldown=HOUR, ripcord_cooldown=HOUR, max_trade_notional=5e5)
    p = _params(name)
    exact = simulate(paths, STRATEGIES[name], p, rules, market, EngineConfig(exact=True))
    approx = simulate(paths, STRATEGIES[name], p, rules, market, EngineConfig(exact=False))
    np.testing.assert_array_equal(exact.series.action, approx.series.action)
    np.testing.assert_allclose(approx.series.equity, exact.series.equity, rtol=1e-9)
    np.testing.assert_allclose(approx.stats.totals.fees, exact.stats.totals.fees, rtol=1e-9)
    np.testing.assert_allclose(approx.stats.totals.funding, exact.stats.totals.funding, rtol=1e-6, atol=1e-6)


def test_float_ledger_conserves_value() -> None:
    paths = generate("jump", 200, 300, 2, GenParams(), seed=9)
    market = _market(paths.prices[0, 0], skew_scale_notional=1e8, max_funding_rate=0.5)
    ledger = FloatLedger(200, 1e6, market)
    res = simulate(paths, STRATEGIES["trend_strength"], _params("trend_strength"), VaultRules(), market,
                   EngineConfig(), ledger=ledger)
    t = res.stats.totals
    upnl = (ledger.size * paths.prices[-1] - ledger.open_notional).sum(axis=1)
    change = res.stats.final_equity - 1e6
    flows = t.realized + upnl - t.fees - t.funding - t.keeper_fees - t.seized + t.bad_debt
    np.testing.assert_allclose(change, flows, rtol=0, atol=1e-6)


# --- the vault rules (planner) ------------------------------------------------------------------

MF = MarketFloats(
    skew_scale=np.array([1e9]), taker_fee=np.array([0.0005]), initial_margin=np.array([0.1]),
    background_skew=np.zeros(1), liquidation_fee_ratio=0.0, min_keeper_fee=0.0, max_keeper_fee=0.0,
)


def _plan(rules: VaultRules, ks: KeeperState, exposure: float, target: float, t: float, mf: MarketFloats = MF) -> Any:
    e = np.array([[exposure]])
    return plan(t, rules, ks, e, np.array([[target]]), np.array([1e6]), np.array([[100.0]]),
                e * 1e6 / 100.0, mf, np.array([True]), 0.01)


def test_chunked_rebalance_then_iterate_after_cooldown() -> None:
    rules = VaultRules(max_trade_notional=100_000.0, chunk_cooldown=HOUR, ripcord_cooldown=600.0)
    p = _plan(rules, KeeperState.start(1, 1), 0.0, 2.0, 0.0)
    assert p.action[0] == Action.REBALANCE and p.traded_notional[0] == pytest.approx(100_000.0)
    assert p.state.pending[0] and p.state.pending_target[0, 0] == 2.0
    early = _plan(rules, p.state, 0.1, 0.5, 1_800.0)  # a new strategy target does not interrupt the chunking
    assert early.action[0] == Action.NONE and early.state.pending[0]
    later = _plan(rules, p.state, 0.1, 0.5, HOUR)
    assert later.action[0] == Action.ITERATE and later.delta_size[0, 0] == pytest.approx(1_000.0)


def test_rebalance_only_after_interval_or_outside_band() -> None:
    rules = VaultRules(min_leverage=1.0)
    ks = KeeperState.start(1, 1)
    ks = KeeperState(np.zeros(1), np.zeros(1), np.full(1, -np.inf), ks.pending, ks.pending_target)
    assert _plan(rules, ks, 1.5, 2.5, HOUR).action[0] == Action.NONE  # in band, interval not passed
    assert _plan(rules, ks, 1.5, 2.5, rules.rebalance_interval).action[0] == Action.REBALANCE
    assert _plan(rules, ks, 0.5, 2.5, HOUR).action[0] == Action.REBALANCE  # below min_leverage
    clamped = _plan(rules, ks, 1.5, 9.0, rules.rebalance_interval)
    assert (1.5 + clamped.delta_size[0, 0] * 100.0 / 1e6) == pytest.approx(rules.max_leverage * (1 - BAND_CUSHION))


def test_ripcord_delevers_toward_max_and_drops_pending() -> None:
    rules = VaultRules(ripcord_max_trade_notional=300_000.0)
    ks = KeeperState.start(1, 1)
    ks = KeeperState(ks.last_rebalance, ks.last_trade, ks.last_ripcord, np.array([True]), np.array([[3.4]]))
    p = _plan(rules, ks, 3.6, 3.4, 0.0)
    assert p.action[0] == Action.RIPCORD and not p.state.pending[0]
    assert p.traded_notional[0] == pytest.approx(300_000.0) and p.delta_size[0, 0] < 0
    again = _plan(rules, p.state, 3.3 + 0.25, 3.4, 300.0)
    assert again.action[0] != Action.RIPCORD  # ripcord cooldown
    full = _plan(VaultRules(), KeeperState.start(1, 1), 3.6, 0.0, 0.0)
    assert 3.6 + full.delta_size[0, 0] * 100.0 / 1e6 == pytest.approx(3.0 * (1 - BAND_CUSHION))


def test_slippage_bound_limits_the_chunk() -> None:
    mf = MarketFloats(np.array([1e5]), MF.taker_fee, MF.initial_margin, MF.background_skew, 0.0, 0.0, 0.0)
    rules = VaultRules(max_slippage=0.01)
    p = _plan(rules, KeeperState.start(1, 1), 0.0, 2.0, 0.0, mf)
    d = p.delta_size[0, 0]
    assert d == pytest.approx(2 * 1e5 * 0.01)  # |2 skew + d| / (2 K) <= 1 %
    assert p.state.pending[0]


def test_vault_rejects_a_trade_that_leaves_the_band_farther_from_target() -> None:
    rules = VaultRules(min_leverage=1.0, max_trade_notional=1e6)
    p = _plan(rules, KeeperState.start(1, 1), 1.5, -1.5, 0.0)  # a flip would pass through 0.5x
    assert p.rejected[0] and p.action[0] == Action.NONE and p.delta_size[0, 0] == 0.0


@settings(max_examples=150, deadline=None)
@given(
    exposure=st.lists(st.floats(-4.0, 4.0), min_size=2, max_size=2),
    target=st.lists(st.floats(-6.0, 6.0), min_size=2, max_size=2),
    cap=st.floats(1e4, 5e6),
    t=st.sampled_from([0.0, 1_800.0, 86_400.0]),
)
def test_every_sent_trade_obeys_the_vault_rules(
    exposure: list[float], target: list[float], cap: float, t: float
) -> None:
    """Execute what the planner sends on a FloatLedger and check the outcome against the vault's rule."""
    rules = VaultRules(min_leverage=0.5, max_trade_notional=cap, ripcord_max_trade_notional=2 * cap)
    market = _market(np.array([100.0, 50.0]), skew_scale_notional=5e7)
    prices = np.array([[100.0, 50.0]])
    equity = 1e6
    ledger = FloatLedger(1, equity, market)
    ledger.trade(np.array(exposure)[None, :] * equity / prices, prices)
    marks = ledger.mark(prices)
    e0 = float(marks.equity[0])
    x = marks.notional / e0
    lev = float(np.abs(x).sum())
    mf = MarketFloats.of(market)
    ks = KeeperState(np.zeros(1), np.zeros(1), np.full(1, -np.inf), np.zeros(1, dtype=bool), np.zeros((1, 2)))
    p = plan(t, rules, ks, x, np.array([target]), marks.equity, prices, ledger.sizes(), mf, np.array([True]), 0.001)
    if p.action[0] == Action.NONE:
        return
    limit = rules.ripcord_max_trade_notional if p.action[0] == Action.RIPCORD else rules.max_trade_notional
    assert p.traded_notional[0] <= limit * (1 + 1e-9)
    ledger.trade(p.delta_size, prices)
    after = ledger.mark(prices)
    lev_after = float(after.gross[0] / after.equity[0])
    in_band = rules.min_leverage - 1e-9 <= lev_after <= rules.max_leverage + 1e-9
    closer = abs(lev_after - rules.target_leverage) < abs(lev - rules.target_leverage) + 1e-9
    assert in_band or closer
    assert lev_after <= rules.max_leverage + 1e-9 or lev_after < lev + 1e-9


def test_vault_rules_ordering_is_validated() -> None:
    with pytest.raises(ParamError, match=r"^max_leverage: must be in \(0, 3.5\), got 3.5$"):
        VaultRules(max_leverage=3.5)
    with pytest.raises(ParamError, match=r"^ripcord_cooldown: must be in \[0, 3600\], got 7200$"):
        VaultRules(ripcord_cooldown=7_200.0)
    with pytest.raises(ParamError, match=r"^min_leverage: must be in \[0, 2\], got 2.5$"):
        VaultRules(min_leverage=2.5)


# --- whole runs -----------------------------------------------------------------------------------


def _run(prices: list[float], lev: float, overlay: OverlayParams, exact: bool, **rules: Any) -> SimResult:
    paths = _path(prices)
    market = _market(paths.prices[0, 0], skew_scale_notional=1e12, max_funding_rate=0.0)
    cfg = EngineConfig(exact=exact, overlay=overlay)
    r = VaultRules(**({"max_trade_notional": 1e7} | rules))
    return simulate(paths, STRATEGIES["fixed_fraction"], FixedFractionParams(leverage=lev), r, market, cfg)


@pytest.mark.parametrize("exact", [False, True])
def test_crash_liquidates_an_unprotected_vault_and_the_overlay_prevents_it(exact: bool) -> None:
    prices = [100.0] * 10 + [60.0] * 10
    hit = _run(prices, 2.9, NO_OVERLAY, exact)
    assert hit.stats.liquidated[0] and hit.stats.liquidation_time[0] == 10 * HOUR
    assert hit.series.action[0, 10] == Action.LIQUIDATED
    # PerpMarket.liquidate: the account keeps nothing; here the loss exceeded the margin, so bad debt
    assert hit.stats.final_equity[0] == 0.0 and hit.stats.totals.bad_debt[0] > 0.0
    assert np.all(hit.series.action[0, 11:] == Action.NONE)  # a liquidated vault stays flat
    safe = _run(prices, 2.9, OverlayParams(shock=0.45, buffer=0.25), exact)
    assert not safe.stats.liquidated[0] and safe.stats.min_liq_distance[0] > 0.2


def test_ripcord_fires_on_a_drop() -> None:
    res = _run([100.0] * 5 + [90.0] * 5, 2.9, NO_OVERLAY, exact=True)
    acts = res.series.action[0]
    assert acts[0] == Action.REBALANCE and acts[5] == Action.RIPCORD
    assert res.series.leverage[0, 4] == pytest.approx(2.9, rel=3e-3)  # plus the opening fee
    assert res.series.leverage[0, 5] == pytest.approx(3.0, rel=3e-3)  # delevered to max_leverage
    assert res.series.leverage[0, 5] <= 3.0


def test_monotone_path_has_no_drawdown_and_metrics_match_series() -> None:
    from keeper.backtest.metrics import series_metrics, summarize

    prices = list(100.0 * 1.001 ** np.arange(200))
    res = _run(prices, 1.0, NO_OVERLAY, exact=False)
    s = summarize(res)
    assert s["max_drawdown"] == 0.0 and s["time_under_water"] == 0.0 and s["longest_under_water_days"] == 0.0
    assert s["total_return"] > 0.15 and s["sortino"] is None
    ref = series_metrics(res.series.equity[0], res.times)
    assert ref["max_drawdown"] == 0.0 and ref["sortino"] is None
    assert s["volatility"] == pytest.approx(ref["volatility"], rel=1e-9)
    # the summary's return is on the deposit, so it includes the opening trade's fee
    assert s["total_return"] == pytest.approx(res.stats.final_equity[0] / 1e6 - 1.0, rel=1e-12)
    assert s["total_return"] < ref["total_return"]


def test_engine_aggregates_equal_reference_metrics_on_a_random_path() -> None:
    from keeper.backtest.metrics import series_metrics, summarize

    paths = generate("gbm", 1, 400, 1, GenParams(), seed=12)
    res = simulate(paths, STRATEGIES["vol_target"], _params("vol_target"), VaultRules(), _market(paths.prices[0, 0]))
    s = summarize(res, gas_price_gwei=10.0)
    ref = series_metrics(res.series.equity[0], res.times)
    for key in ("volatility", "sharpe", "sortino", "max_drawdown", "time_under_water",
                "longest_under_water_days"):
        assert s[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-12), key
    gas = 120_000 * s["rebalances"] + 110_000 * s["iterates"] + 150_000 * s["ripcords"]
    assert s["gas_used"] == gas and s["gas_cost_eth"] == pytest.approx(gas * 10e-9)
    assert s["turnover"] == pytest.approx(res.stats.traded_notional[0] / 1e6)


def test_monte_carlo_probability_of_liquidation() -> None:
    from keeper.backtest.metrics import summarize

    paths = generate("jump", 300, 400, 1, GenParams(jump_rate=40.0, jump_mean=-0.12), seed=4)
    market = _market(paths.prices[0, 0])
    rules = VaultRules(max_leverage=6.0, ripcord_leverage=8.0, leverage_cap=10.0)
    risky = summarize(simulate(paths, STRATEGIES["fixed_fraction"], FixedFractionParams(leverage=6.0), rules, market,
                               EngineConfig(overlay=NO_OVERLAY)))
    careful = summarize(simulate(paths, STRATEGIES["fixed_fraction"], FixedFractionParams(leverage=6.0), rules, market,
                                 EngineConfig(overlay=OverlayParams(shock=0.4, buffer=0.5))))
    assert risky["p_liquidation"] > 0.2 and careful["p_liquidation"] == 0.0
    lo, hi = risky["p_liquidation_ci95"]
    assert lo < risky["p_liquidation"] < hi
