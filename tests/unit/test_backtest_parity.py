"""Parity: the backtester's exact ledger and the deployed market settle the same short path identically.

One trader (the only one in the market, like the backtester's vault) trades ETH and BTC over a path with price
moves and funding time; after every step the ledger's collateral, positions, cost bases and equity must equal
the contract's, to the wei (collateral in token units, the rest WAD). Runs for 6- and 18-decimal collateral.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keeper.backtest.config import MarketConfig, MarketParams
from keeper.backtest.ledger import ExactLedger

WAD = 10**18
MAX_UINT = 2**256 - 1

# (seconds after start, ETH price, BTC price, ETH size delta, BTC size delta): sizes in asset units.
PATH = [
    (60, 2000.0, 60_000.0, 40.0, -1.5),
    (3_600, 2_040.5, 59_100.25, 10.0, 0.0),
    (7_200, 1_980.75, 61_250.0, -25.0, 0.5),
    (7_260, 1_990.0, 61_000.0, 0.0, -2.0),
    (30_000, 2_101.125, 58_400.5, -45.0, 0.0),  # flips ETH short
    (60_000, 2_050.0, 59_000.0, 20.0, 2.5),  # closes ETH, flips BTC long
]


def _ledger_config(market: Any, decimals: int) -> MarketConfig:
    risk = market.riskParams()
    markets = []
    for asset_id in range(2):
        c = market.assetConfig(asset_id)
        markets.append(
            MarketParams(
                skew_scale=int(c.skewScale),
                taker_fee=int(c.tradingFee),
                maintenance_margin_ratio=int(c.maintenanceMarginRatio),
                initial_margin_ratio=int(c.initialMarginRatio),
                max_funding_rate=int(c.maxFundingRate),
            )
        )
    return MarketConfig(
        markets=tuple(markets),
        liquidation_fee_ratio=int(risk.liquidationFeeRatio),
        min_keeper_fee=int(risk.minKeeperFee),
        max_keeper_fee=int(risk.maxKeeperFee),
        collateral_decimals=decimals,
    )


def test_backtester_matches_the_deployed_market(
    market: Any, token: Any, eth_feed: Any, btc_feed: Any, trader: Any, governance: Any, chain: Any,
    collateral_decimals: int,
) -> None:
    deposit = 250_000
    token.mint(trader, deposit * 10**collateral_decimals, sender=governance)
    token.approve(market, MAX_UINT, sender=trader)
    market.depositMargin(deposit * 10**collateral_decimals, sender=trader)

    ledger = ExactLedger(1, float(deposit), _ledger_config(market, collateral_decimals))
    t0 = int(chain.pending_timestamp) + 10
    feeds = (eth_feed, btc_feed)
    for t, eth, btc, d_eth, d_btc in PATH:
        prices = np.array([[eth, btc]])
        # The feeds report in the block before the trades; each trade lands at exactly t0 + t.
        chain.pending_timestamp = t0 + t - 1
        for feed, p in zip(feeds, (eth, btc)):
            feed.setAnswer(int(round(p * 1e8)), sender=governance)
        for asset_id, d in ((0, d_eth), (1, d_btc)):
            if d == 0:
                continue
            chain.pending_timestamp = t0 + t
            market.modifyPosition(asset_id, int(round(d * WAD)), MAX_UINT if d > 0 else 0, t0 + t, sender=trader)
        ledger.advance(t)
        ledger.trade(np.array([[d_eth, d_btc]]), prices)

        acc = ledger.accounts[0]
        assert market.collateralOf(trader) == acc.collateral, f"collateral after t={t}"
        for asset_id in range(2):
            pos = market.position(trader, asset_id)
            assert (int(pos.size), int(pos.openNotional)) == (acc.size[asset_id], acc.open_notional[asset_id]), (
                f"position {asset_id} after t={t}"
            )
        # Equity at the trade block's timestamp (the view runs on the latest block).
        ledger.advance(int(chain.blocks.head.timestamp) - t0)
        onchain = market.marginState(trader)
        expected = ledger.state(0, prices)
        assert int(onchain.equity) == expected.equity, f"equity after t={t}"
        assert int(onchain.maintenanceRequirement) == expected.maintenance_requirement, f"maintenance after t={t}"

    assert any(acc_size != 0 for acc_size in ledger.accounts[0].size)  # the path ends with open positions
