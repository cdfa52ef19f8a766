"""Plays a scripted scenario (keeper/scenarios.py) against a deployment on a local chain.

The runner owns chain time and the mock feeds; depositors act as the scenario says; a keeper (the same code as
`keeper run`, passed in as `keeper_step`) handles the blocks after every step. It records what a user wants to
see - leverage against the band, margin, equity, actions - prints a live status line per step, and returns a
summary (actions by kind, gas, leverage path, liquidations, P&L per depositor) plus the data for a chart.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

from keeper.chain.deployer import Deployment
from keeper.scenarios import Scenario, UserAction

WAD = 10**18
MAX_UINT = 2**256 - 1
ACTION_NAMES = {0: "none", 1: "rebalance", 2: "iterate", 3: "ripcord"}


@dataclass
class Row:
    t: int  # seconds since the start
    phase: str
    prices: dict[str, float]
    leverage: float
    equity: float  # collateral units
    share_price: float  # collateral units per share (1e18 shares)
    margin_ratio: float
    prices_ok: bool
    actions: list[str] = field(default_factory=list)


@dataclass
class Summary:
    scenario: str
    rows: list[Row]
    actions: Counter[str]
    keeper_gas: int
    keeper_txs: int
    reverted_keeper_txs: int
    liquidations: int
    ripcord_rewards: float
    pnl: dict[str, tuple[float, float]]  # name -> (paid in, value now incl. withdrawn)
    band: tuple[float, float, float, float]  # min, target, max, ripcord

    @property
    def leverage_range(self) -> tuple[float, float]:
        levs = [r.leverage for r in self.rows if r.prices_ok and r.leverage > 0]
        return (min(levs), max(levs)) if levs else (0.0, 0.0)


class ScenarioRunner:
    def __init__(
        self,
        project: Any,
        chain: Any,
        accounts: Any,
        deployment: Deployment,
        *,
        vault_index: int = 0,
        keeper_step: Callable[[int], list[str]] | None = None,
        keeper_ticks: int = 3,
        out: TextIO = sys.stdout,
    ) -> None:
        self.project = project
        self.chain = chain
        self.d = deployment
        self.gov = accounts.test_accounts[0]
        self.actors = {name: accounts.test_accounts[6 + i] for i, name in enumerate(("alice", "bob", "carol", "dave"))}
        self.market = project.PerpMarket.at(deployment.market)
        self.token = project.MockERC20.at(deployment.collateral)
        self.vault = project.ScalingVault.at(deployment.vaults[vault_index]["address"])
        self.lens = project.VaultLens.at(deployment.lens)
        self.feeds = {s: project.MockAggregator.at(a["feed"]) for s, a in deployment.assets.items()}
        self.feed_decimals = {s: int(f.decimals()) for s, f in self.feeds.items()}
        self.unit = 10**deployment.collateral_decimals
        self.share_unit = 10 ** int(self.vault.decimals())
        self.keeper_step = keeper_step
        self.keeper_ticks = keeper_ticks
        self.out = out
        self.paid: Counter[str] = Counter()
        self.withdrawn: Counter[str] = Counter()
        self.start_block = int(chain.blocks.head.number)
        self.t0 = int(chain.pending_timestamp)

    # --- chain control -----------------------------------------------------------------------------------

    def _advance(self, dt: int) -> None:
        if dt > 0:
            self.chain.mine(timestamp=int(self.chain.pending_timestamp) + dt)

    def _push_prices(self, prices: dict[str, float]) -> None:
        for symbol, price in prices.items():
            answer = int(round(price * 10 ** self.feed_decimals[symbol]))
            self.feeds[symbol].setAnswer(answer, sender=self.gov)

    def _act(self, a: UserAction) -> str:
        who = self.actors[a.who]
        try:
            if a.kind == "deposit":
                amount = int(a.amount * self.unit)
                self.token.mint(who, amount, sender=self.gov)
                self.token.approve(self.vault, MAX_UINT, sender=who)
                self.vault.deposit(amount, who, sender=who)
                self.paid[a.who] += amount
                return f"{a.who} deposits {a.amount:,.0f}"
            shares = int(self.vault.balanceOf(who) * a.fraction)
            before = int(self.token.balanceOf(who))
            self.vault.redeem(shares, who, who, sender=who)
            got = int(self.token.balanceOf(who)) - before
            self.withdrawn[a.who] += got
            return f"{a.who} redeems {a.fraction:.0%} for {got / self.unit:,.0f}"
        except Exception as exc:  # a refused user action is part of the story (e.g. exits during an outage)
            reason = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
            return f"{a.who} {a.kind} refused: {reason}"

    def _keeper(self) -> list[str]:
        done: list[str] = []
        if self.keeper_step is None:
            return done
        for _ in range(self.keeper_ticks):
            self.chain.mine()
            done += self.keeper_step(int(self.chain.blocks.head.number))
        return done

    # --- observation ---------------------------------------------------------------------------------------

    def _observe(self, phase: str, prices: dict[str, float], notes: list[str]) -> Row:
        v = self.lens.getVault(self.vault.address)
        account = v.account
        supply = int(v.totalSupply)
        total = int(v.totalAssets)
        row = Row(
            t=int(self.chain.pending_timestamp) - self.t0,
            phase=phase,
            prices=dict(prices),
            leverage=int(account.leverage) / WAD if account.pricesOk and int(account.leverage) < 2**255 else float("nan"),
            equity=int(account.equity) / WAD,
            share_price=(total * self.share_unit / supply / self.unit) if supply else 1.0,
            margin_ratio=min(int(v.marginRatio) / WAD, 1e6),
            prices_ok=bool(account.pricesOk),
            actions=notes,
        )
        return row

    def _print(self, row: Row, band: tuple[float, float, float, float]) -> None:
        h, m = divmod(row.t // 60, 60)
        prices = " ".join(f"{s} {p:>9,.0f}" for s, p in row.prices.items())
        lev = f"{row.leverage:5.2f}x" if row.prices_ok else "  --- "
        mark = " " if band[0] <= row.leverage <= band[2] else ("!" if row.prices_ok else "?")
        margin = f"{row.margin_ratio:7.1f}" if row.prices_ok else "    ---"
        notes = "; ".join(dict.fromkeys(row.actions))  # repeated notes of one step once
        equity = f"{row.equity:>11,.0f}" if row.prices_ok else "        ---"
        self.out.write(
            f"{h:3d}:{m:02d} {row.phase:<14} {prices} | lev {lev}{mark} margin/maint {margin} "
            f"| equity {equity} | {notes}\n"
        )
        self.out.flush()

    # --- the run -----------------------------------------------------------------------------------------

    def run(self, scenario: Scenario) -> Summary:
        params = self.vault.params()
        band = (
            int(params.minLeverage) / WAD,
            int(params.targetLeverage) / WAD,
            int(params.maxLeverage) / WAD,
            int(params.ripcordLeverage) / WAD,
        )
        self._push_prices(scenario.start_prices)
        prices = dict(scenario.start_prices)
        notes = [self._act(UserAction("deposit", who, amount=amt)) for who, amt in scenario.depositors.items()]
        notes += self._keeper()
        rows = [self._observe("start", prices, notes)]
        self.out.write(
            f"scenario {scenario.name}: {scenario.description}\n"
            f"band {band[0]:.2f}x-{band[2]:.2f}x, target {band[1]:.2f}x, ripcord {band[3]:.2f}x\n"
        )
        self._print(rows[0], band)
        for step in scenario.steps:
            self._advance(step.dt)
            if step.prices is not None:
                self._push_prices(step.prices)
                prices = dict(step.prices)
            notes = [self._act(a) for a in step.actions]
            notes += self._keeper()
            row = self._observe(step.phase, prices, notes)
            rows.append(row)
            self._print(row, band)
        return self._summarize(scenario, rows, band)

    def _summarize(self, scenario: Scenario, rows: list[Row], band: tuple[float, float, float, float]) -> Summary:
        actions: Counter[str] = Counter()
        gas = 0
        txs = 0
        reverted = 0
        hashes: set[str] = set()
        start = self.start_block
        for log in self.vault.Rebalanced.range(start, int(self.chain.blocks.head.number) + 1):
            actions[ACTION_NAMES.get(int(log.action), str(log.action))] += 1
            hashes.add(str(log.transaction_hash))
        rewards = 0
        for log in self.vault.Ripcord.range(start, int(self.chain.blocks.head.number) + 1):
            actions["ripcord"] += 1
            rewards += int(log.reward)
            hashes.add(str(log.transaction_hash))
        for h in hashes:
            receipt = self.chain.provider.get_receipt(h)
            gas += int(receipt.gas_used)
            txs += 1
            reverted += int(receipt.failed)
        liquidations = sum(
            1
            for log in self.market.AccountLiquidated.range(start, int(self.chain.blocks.head.number) + 1)
            if log.account.lower() == self.vault.address.lower()
        )
        pnl = {}
        for name, who in self.actors.items():
            paid = self.paid[name]
            if paid == 0:
                continue
            value = int(self.vault.convertToAssets(self.vault.balanceOf(who))) + self.withdrawn[name]
            pnl[name] = (paid / self.unit, value / self.unit)
        return Summary(
            scenario=scenario.name,
            rows=rows,
            actions=actions,
            keeper_gas=gas,
            keeper_txs=txs,
            reverted_keeper_txs=reverted,
            liquidations=liquidations,
            ripcord_rewards=rewards / self.unit,
            pnl=pnl,
            band=band,
        )


def render_summary(s: Summary) -> str:
    lo, hi = s.leverage_range
    lines = [
        f"\n== summary: {s.scenario}",
        "actions: " + (", ".join(f"{k} {v}" for k, v in sorted(s.actions.items())) or "none"),
        f"keeper/ripcord transactions: {s.keeper_txs}, gas {s.keeper_gas:,}, reverted {s.reverted_keeper_txs}",
        f"leverage path: {lo:.2f}x .. {hi:.2f}x (band {s.band[0]:.2f}x-{s.band[2]:.2f}x, ripcord {s.band[3]:.2f}x); "
        f"final {s.rows[-1].leverage:.2f}x",
        f"liquidations of the vault: {s.liquidations or 'none'}",
        "P&L per depositor (paid in -> value now incl. withdrawals):",
    ]
    for name, (paid, value) in s.pnl.items():
        lines.append(f"  {name:<6} {paid:>12,.2f} -> {value:>12,.2f}  ({(value / paid - 1) * 100:+.2f}%)")
    return "\n".join(lines)


def plot_summary(s: Summary, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [r.t / 3600 for r in s.rows]
    fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    symbols = list(s.rows[0].prices)
    for sym in symbols:
        base = s.rows[0].prices[sym]
        axes[0].plot(hours, [r.prices[sym] / base for r in s.rows], label=sym)
    stale = [h for h, r in zip(hours, s.rows) if not r.prices_ok]
    for h in stale:
        axes[0].axvspan(h - 0.25, h + 0.25, color="tab:orange", alpha=0.2, lw=0)
    axes[0].set_ylabel("price / start")
    axes[0].legend(loc="upper right")
    axes[0].set_title(f"scenario {s.scenario} (orange: oracle outage)")
    axes[1].plot(hours, [r.leverage for r in s.rows], color="black", label="leverage")
    for level, label, style in zip(s.band, ("min", "target", "max", "ripcord"), (":", "--", ":", "-.")):
        axes[1].axhline(level, ls=style, lw=0.9, color="tab:red" if label == "ripcord" else "tab:gray", label=label)
    for h, r in zip(hours, s.rows):
        if any(k in " ".join(r.actions) for k in ("rebalance", "iterate", "ripcord")):
            axes[1].plot([h], [r.leverage], "o", color="tab:green", ms=4)
    axes[1].set_ylabel("gross leverage")
    axes[1].legend(loc="upper right", fontsize=8)
    axes[2].plot(hours, [r.share_price for r in s.rows], color="tab:blue")
    axes[2].set_ylabel("share price")
    axes[2].set_xlabel("hours")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
