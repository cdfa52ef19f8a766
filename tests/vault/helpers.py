"""Deployment and operation helpers for ScalingVault tests and gas cases (no pytest dependency).

Units: WAD (1e18) for leverage, weights, prices, sizes and notionals; token units for ERC-4626 amounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keeper.deploy_config import VAULT_PARAM_FIELDS, default_vault_params
from keeper.snapshot import ACTIONS as SNAPSHOT_ACTIONS
from keeper.snapshot import REASONS as SNAPSHOT_REASONS

WAD = 10**18

ACTIONS, REASONS = list(SNAPSHOT_ACTIONS), list(SNAPSHOT_REASONS)  # IScalingVault enums, declaration order
PARAM_FIELDS = VAULT_PARAM_FIELDS  # IScalingVault.Params, in declaration order


def default_params(decimals: int, **overrides: int) -> dict[str, int]:
    """Target 2x, band 1.7-2.3, ripcord 2.7x, cap 3x (the ETH2x-FLI shape: the deploy config's defaults)."""
    p = default_vault_params(decimals)
    p.update(overrides)
    return p


def params_tuple(p: dict[str, int]) -> tuple[int, ...]:
    return tuple(p[k] for k in PARAM_FIELDS)


def params_dict(raw: Any) -> dict[str, int]:
    """Params struct returned by ape (tuple-like) -> dict."""
    return {k: int(v) for k, v in zip(PARAM_FIELDS, raw)}


@dataclass
class VaultEnv:
    """Everything a vault scenario needs: ape objects for the project, chain and deployed stack."""

    project: Any
    chain: Any
    stack: Any  # keeper.chain.deployer.Deployment
    governance: Any
    keeper: Any
    token: Any
    market: Any
    feeds: dict[str, Any]
    decimals: int
    prices: dict[str, int] = field(default_factory=dict)  # last set WAD price per symbol

    @classmethod
    def from_stack(cls, project: Any, chain: Any, stack: Any, governance: Any, keeper: Any) -> "VaultEnv":
        feeds = {sym: project.MockAggregator.at(a["feed"]) for sym, a in stack.assets.items()}
        env = cls(
            project=project,
            chain=chain,
            stack=stack,
            governance=governance,
            keeper=keeper,
            token=project.MockERC20.at(stack.collateral),
            market=project.PerpMarket.at(stack.market),
            feeds=feeds,
            decimals=int(stack.collateral_decimals),
        )
        env.sync_prices()
        return env

    def sync_prices(self) -> None:
        """Re-read every feed's latest answer (the chain may have been reverted under us)."""
        for sym, feed in self.feeds.items():
            _, answer, _, _, _ = feed.latestRoundData()
            self.prices[sym] = int(answer) * 10 ** (18 - int(feed.decimals()))

    def asset_id(self, symbol: str) -> int:
        return int(self.stack.assets[symbol]["id"])

    def units(self, amount: float | int) -> int:
        return int(round(amount * 10**self.decimals))

    # --- deployment -----------------------------------------------------------------------

    def deploy_module(self, symbols: list[str]) -> Any:
        ids = [self.asset_id(s) for s in symbols]
        return self.project.ScalingVaultPerpModule.deploy(self.market, ids, sender=self.governance)

    def deploy_vault(
        self,
        weights: dict[str, float] | None = None,
        params: dict[str, int] | None = None,
        caps: dict[str, int] | None = None,
        module: Any = None,
        name: str = "Scaled 2x",
    ) -> Any:
        weights = weights or {"ETH": 0.6, "BTC": 0.4}
        symbols = list(weights)
        assets = [
            (self.asset_id(s), int(round(w * WAD)), (caps or {}).get(s, 50_000_000 * WAD)) for s, w in weights.items()
        ]
        module = module or self.deploy_module(symbols)
        p = params or default_params(self.decimals)
        vault = self.project.ScalingVault.deploy(
            self.market, name, "sv2x", self.governance, assets, params_tuple(p), module, sender=self.governance
        )
        vault.grantRole(vault.KEEPER_ROLE(), self.keeper, sender=self.governance)
        return vault

    # --- operations -----------------------------------------------------------------------

    def fund(self, account: Any, amount: int, spender: Any) -> None:
        self.token.mint(account, amount, sender=self.governance)
        self.token.approve(spender, 2**256 - 1, sender=account)

    def deposit(self, vault: Any, account: Any, amount: int) -> Any:
        self.fund(account, amount, vault)
        return vault.deposit(amount, account, sender=account)

    def set_price(self, symbol: str, price_wad: int) -> None:
        feed = self.feeds[symbol]
        self.prices[symbol] = price_wad
        feed.setAnswer(price_wad // 10 ** (18 - int(feed.decimals())), sender=self.governance)

    def refresh_prices(self) -> None:
        for sym, price in self.prices.items():
            self.set_price(sym, price)

    def warp(self, seconds: int, refresh: bool = True) -> None:
        """Advance time; refresh every feed at the new time so prices stay fresh (max age 3600 s)."""
        self.chain.pending_timestamp += seconds
        if refresh:
            self.refresh_prices()
        else:
            self.chain.mine()

    def plan(self, vault: Any) -> tuple[str, str, list[int]]:
        action, reason, sizes = vault.shouldRebalance()
        return ACTIONS[int(action)], REASONS[int(reason)], [int(s) for s in sizes]

    def adjustments(self, vault: Any, sizes: list[int], limits: list[int] | None = None) -> list[tuple[int, int, int]]:
        ids = [int(i) for i in vault.assetIds()]
        return [(ids[i], s, (limits or [0] * len(sizes))[i]) for i, s in enumerate(sizes) if s != 0]

    def rebalance_to_target(self, vault: Any) -> Any:
        action, reason, sizes = self.plan(vault)
        assert action == "REBALANCE", (action, reason)
        return vault.rebalance(self.adjustments(vault, sizes), sender=self.keeper)

    def scale_prices(self, percent: int) -> None:
        """Multiply every price by percent / 100 (e.g. 88 = -12%)."""
        for sym in list(self.prices):
            self.set_price(sym, self.prices[sym] * percent // 100)

    def target_adjustments(self, vault: Any) -> list[tuple[int, int, int]]:
        """Full deltas to weight * target leverage * equity for every asset (what a keeper would send)."""
        equity = self.equity(vault)
        target = int(vault.params().targetLeverage)
        out = []
        symbols = {self.asset_id(s): s for s in self.stack.assets}
        for a in vault.assetParams():
            aid = int(a.assetId)
            price = self.prices[symbols[aid]]
            notional = int(a.weight) * target // WAD * equity // WAD
            size = abs(notional) * WAD // price * (1 if notional >= 0 else -1)
            delta = size - int(self.market.position(vault, aid).size)
            if delta != 0:
                out.append((aid, delta, 0))
        return out

    def leverage(self, vault: Any) -> int:
        return int(vault.accountView().leverage)

    def equity(self, vault: Any) -> int:
        return int(vault.accountView().equity)
