"""Plays a scripted scenario (keeper/scenarios.py) against a deployment on a local chain.

The runner owns chain time and the mock feeds; depositors act as the scenario says; a keeper (the same code as
`keeper run`, passed in as `keeper_step`) handles the blocks after every step. It records what a user wants to
see - leverage against the band, margin, equity, actions - prints a live status line per step, and returns a
summary (actions by kind, gas, leverage path, liquidations, P&L per depositor) plus the data for a chart.

Optional parts, for tests and "what if" runs: stop the keeper after a number of steps (`stop_keeper_after`), let a
third party pull the ripcord whenever the vault asks for it (`ripcord_caller`), audit every transaction of the
keeper signers (`keeper_addresses`: reverted or landing without a Rebalanced/Ripcord event), and look at the chain
after each step (`on_step`).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

from keeper.chain.deployer import Deployment
from keeper.scenarios import Scenario, Step, UserAction

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


@dataclass(frozen=True)
class UserActionResult:
    """One depositor action as it went: amounts in token units; the vault's totalAssets (token units),
    totalSupply (share units) and the head block just before and after it."""

    step: int  # scenario step index (-1: the initial deposits)
    kind: str  # "deposit" | "withdraw"
    who: str
    ok: bool
    assets: int  # deposited, or received by the redeem
    shares: int  # minted, or burnt
    before: tuple[int, int, int]  # (totalAssets, totalSupply, block)
    after: tuple[int, int, int]
    error: str = ""


@dataclass(frozen=True)
class RipcordCall:
    """A permissionless ripcord pulled by the runner's `ripcord_caller` (not a keeper)."""

    step: int
    caller: str
    tx_hash: str
    reward: int  # token units, from the Ripcord event
    balance_delta: int  # token units the caller's balance grew by
    leverage_before: int  # WAD, from the event
    leverage_after: int  # WAD, from the event


@dataclass(frozen=True)
class KeeperTx:
    """One transaction sent by an audited keeper signer during the run."""

    tx_hash: str
    sender: str
    block: int
    status: int  # receipt status: 1 success, 0 reverted
    gas_used: int
    effective: bool  # emitted Rebalanced or Ripcord (else it reverted or landed as a no-op)


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
    noop_keeper_txs: int = 0  # audited keeper transactions that succeeded without a Rebalanced/Ripcord event
    keeper_tx_audit: list[KeeperTx] = field(default_factory=list)
    third_party_ripcords: list[RipcordCall] = field(default_factory=list)
    user_actions: list[UserActionResult] = field(default_factory=list)
    paid_units: dict[str, int] = field(default_factory=dict)  # name -> token units deposited
    withdrawn_units: dict[str, int] = field(default_factory=dict)  # name -> token units received from exits
    start_block: int = 0
    end_block: int = 0

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
        keeper_addresses: Sequence[str] = (),
        stop_keeper_after: int | None = None,
        ripcord_caller: Any = None,
        on_step: Callable[[int, Step, Row], None] | None = None,
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
        self.keeper_addresses = {a.lower() for a in keeper_addresses}
        self.stop_keeper_after = stop_keeper_after  # the keeper handles the start and steps [0, k) only
        self.ripcord_caller = ripcord_caller
        self.on_step = on_step
        self.paid: Counter[str] = Counter()
        self.withdrawn: Counter[str] = Counter()
        self.user_actions: list[UserActionResult] = []
        self.ripcords: list[RipcordCall] = []
        self._step_index = -1
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

    def _totals(self) -> tuple[int, int, int]:
        return int(self.vault.totalAssets()), int(self.vault.totalSupply()), int(self.chain.blocks.head.number)

    def _act(self, a: UserAction) -> str:
        who = self.actors[a.who]
        totals = self._totals()
        shares_before = int(self.vault.balanceOf(who))
        try:
            if a.kind == "deposit":
                amount = int(a.amount * self.unit)
                self.token.mint(who, amount, sender=self.gov)
                self.token.approve(self.vault, MAX_UINT, sender=who)
                self.vault.deposit(amount, who, sender=who)
                self.paid[a.who] += amount
                self._record(a, True, amount, int(self.vault.balanceOf(who)) - shares_before, totals)
                return f"{a.who} deposits {a.amount:,.0f}"
            shares = int(shares_before * a.fraction)
            before = int(self.token.balanceOf(who))
            self.vault.redeem(shares, who, who, sender=who)
            got = int(self.token.balanceOf(who)) - before
            self.withdrawn[a.who] += got
            self._record(a, True, got, shares, totals)
            return f"{a.who} redeems {a.fraction:.0%} for {got / self.unit:,.0f}"
        except Exception as exc:  # a refused user action is part of the story (e.g. exits during an outage)
            reason = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
            self._record(a, False, 0, 0, totals, f"{type(exc).__name__}: {reason}")
            return f"{a.who} {a.kind} refused: {reason}"

    def _record(
        self, a: UserAction, ok: bool, assets: int, shares: int, before: tuple[int, int, int], error: str = ""
    ) -> None:
        self.user_actions.append(
            UserActionResult(self._step_index, a.kind, a.who, ok, assets, shares, before, self._totals(), error)
        )

    def _keeper(self) -> list[str]:
        done: list[str] = []
        stopped = self.stop_keeper_after is not None and self._step_index >= self.stop_keeper_after
        if self.keeper_step is None or stopped:
            return done
        for _ in range(self.keeper_ticks):
            self.chain.mine()
            done += self.keeper_step(int(self.chain.blocks.head.number))
        return done

    def _third_party_ripcord(self) -> list[str]:
        """The ripcord is permissionless: `ripcord_caller` pulls it whenever shouldRebalance says RIPCORD."""
        if self.ripcord_caller is None or int(self.vault.shouldRebalance()[0]) != 3:
            return []
        caller = self.ripcord_caller
        before = int(self.token.balanceOf(caller))
        receipt = self.vault.ripcord(sender=caller)
        event = receipt.decode_logs(self.vault.Ripcord)[0]
        call = RipcordCall(
            step=self._step_index,
            caller=str(caller.address),
            tx_hash=str(receipt.txn_hash),
            reward=int(event.reward),
            balance_delta=int(self.token.balanceOf(caller)) - before,
            leverage_before=int(event.leverageBefore),
            leverage_after=int(event.leverageAfter),
        )
        self.ripcords.append(call)
        return [
            f"third party ripcord {call.leverage_before / WAD:.2f}x -> {call.leverage_after / WAD:.2f}x, "
            f"reward {call.reward / self.unit:,.2f}"
        ]

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
        self._step_index = -1
        notes = [self._act(UserAction("deposit", who, amount=amt)) for who, amt in scenario.depositors.items()]
        notes += self._keeper()
        rows = [self._observe("start", prices, notes)]
        self.out.write(
            f"scenario {scenario.name}: {scenario.description}\n"
            f"band {band[0]:.2f}x-{band[2]:.2f}x, target {band[1]:.2f}x, ripcord {band[3]:.2f}x\n"
        )
        self._print(rows[0], band)
        for index, step in enumerate(scenario.steps):
            self._step_index = index
            self._advance(step.dt)
            if step.prices is not None:
                self._push_prices(step.prices)
                prices = dict(step.prices)
            notes = [self._act(a) for a in step.actions]
            notes += self._keeper()
            notes += self._third_party_ripcord()
            row = self._observe(step.phase, prices, notes)
            rows.append(row)
            self._print(row, band)
            if self.on_step is not None:
                self.on_step(index, step, row)
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
        end = int(self.chain.blocks.head.number)
        audit = self._audit_keeper_txs(start, end, {h.lower() for h in hashes})
        reverted += sum(1 for t in audit if t.status == 0)
        noops = sum(1 for t in audit if t.status == 1 and not t.effective)
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
            noop_keeper_txs=noops,
            keeper_tx_audit=audit,
            third_party_ripcords=list(self.ripcords),
            user_actions=list(self.user_actions),
            paid_units=dict(self.paid),
            withdrawn_units=dict(self.withdrawn),
            start_block=start,
            end_block=end,
        )

    def _audit_keeper_txs(self, start: int, end: int, effective: set[str]) -> list[KeeperTx]:
        """Every transaction from an audited keeper signer in blocks (start, end]: its receipt status and whether it
        emitted Rebalanced/Ripcord (a Rebalanced/Ripcord transaction never reverts, so the event tally alone
        cannot see reverted or no-op keeper transactions)."""
        if not self.keeper_addresses:
            return []
        w3 = self.chain.provider.web3
        out: list[KeeperTx] = []
        for number in range(start + 1, end + 1):
            for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
                if str(tx["from"]).lower() not in self.keeper_addresses:
                    continue
                tx_hash = "0x" + bytes(tx["hash"]).hex()
                receipt = w3.eth.get_transaction_receipt(tx["hash"])
                out.append(
                    KeeperTx(
                        tx_hash=tx_hash,
                        sender=str(tx["from"]),
                        block=number,
                        status=int(receipt["status"]),
                        gas_used=int(receipt["gasUsed"]),
                        effective=tx_hash.lower() in effective,
                    )
                )
        return out


def render_summary(s: Summary) -> str:
    lo, hi = s.leverage_range
    lines = [
        f"\n== summary: {s.scenario}",
        "actions: " + (", ".join(f"{k} {v}" for k, v in sorted(s.actions.items())) or "none"),
        f"keeper/ripcord transactions: {s.keeper_txs}, gas {s.keeper_gas:,}, reverted {s.reverted_keeper_txs}"
        + (f", landed without effect {s.noop_keeper_txs}" if s.noop_keeper_txs else ""),
        f"leverage path: {lo:.2f}x .. {hi:.2f}x (band {s.band[0]:.2f}x-{s.band[2]:.2f}x, ripcord {s.band[3]:.2f}x); "
        f"final {s.rows[-1].leverage:.2f}x",
        f"liquidations of the vault: {s.liquidations or 'none'}; ripcord rewards paid: {s.ripcord_rewards:,.2f}",
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
