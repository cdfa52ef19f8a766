"""The planner: from a Snapshot and strategy targets to the keeper calls worth sending, never one the vault would
refuse.

Two stages (docs/KEEPER.md has the formulas):

1. `select` - vectorised over every vault with numpy (no per-vault Python loop). Per vault it evaluates the
   vault's triggers from the snapshot arrays, in priority order
       liquidation avoidance > ripcord > outside-band rebalance > chunk iteration > strategy retarget,
   the aim of a rebalance (the strategy's target projected onto what the vault accepts), whether the move
   increases risk, hysteresis (a risk-increasing trigger must hold `confirm_blocks` consecutive blocks) and a
   minimum benefit against the estimated gas cost for risk-increasing moves only. Vaults with an action in
   flight (executor.busy_vaults()) and vaults without usable prices are skipped. Output: the few candidates.

2. `finalize` - a loop over the candidates only: exact integer adjustments from the records, then
   keeper.vault_rules predicts the vault's answer with the venue's fill, fee, slippage, open-interest and margin
   checks. A refused rebalance whose failure depends on size is shrunk (halved, up to `shrink_steps` times); a
   ripcord the venue's slippage would refuse falls back to a chunked delevering rebalance; anything else is
   dropped with its predicted error. Candidates are simulated in order on a running copy of the venue's open
   interest, so calls in one batch (or one block) see each other's skew.

Nothing here touches the network; the runtime hands in the snapshot, the venue state and a gas price.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from keeper import vault_rules as R
from keeper.strategies import OverlayParams, StrategyError, StrategySpec, decide, get_strategy, parse_params
from keeper.strategies.base import Estimates, MarketView, State
from keeper.strategies.base import Snapshot as StrategySnapshot
from keeper.strategies.estimators import EstimatorConfig, EstimatorState, estimates, init_estimators, update_estimators
from keeper.snapshot import (
    WAD,
    BoolArray,
    FloatArray,
    IntArray,
    MarketAsset,
    MarketInfo,
    PriceHistory,
    Snapshot,
    VaultArrays,
)

# Trigger classes (why a vault acts), in priority order; the value is also the metric / log label.
NONE_CLASS = 0
LIQUIDATION = 1  # liquidation avoidance: close to the maintenance requirement
RIPCORD_CLASS = 2
OUT_OF_BAND = 3
ITERATE_CLASS = 4
RETARGET = 5
CLASS_NAMES = ("none", "liquidation", "ripcord", "out_of_band", "iterate", "retarget")

# Why a vault that wanted to act does not (select stage), for logs and tests.
HELD_BUSY = "busy"
HELD_HYSTERESIS = "hysteresis"
HELD_GAS = "gas"
HELD_COOLDOWN = "cooldown"


@dataclass(frozen=True)
class PlannerSettings:
    """Guards of the planner (leverage in x, fractions as floats, gas in gas units)."""

    liquidation_distance: float = 0.05  # act as "liquidation avoidance" below this uniform adverse price move
    confirm_blocks: int = 2  # consecutive blocks a risk-increasing trigger must hold (hysteresis)
    retarget_threshold: float = 0.05  # min |aim - leverage| (x) for a strategy retarget inside the band
    min_trade_fraction: float = 0.001  # trades below this fraction of equity are not worth sending
    aim_margin: float = 0.2  # aim this fraction inside the outcome window (fees and impact lower equity)
    max_gas_share: float = 0.01  # risk-increasing: gas cost <= this share of the notional moved
    native_price: float = 0.0  # collateral units per native token; 0 disables the gas check
    gas_per_call: int = 450_000  # gas estimate of one vault call, for the benefit check
    shrink_steps: int = 4  # exact stage: halvings of a size-dependent refused rebalance

    def __post_init__(self) -> None:
        if not 0.0 <= self.liquidation_distance < 1.0:
            raise ValueError(f"liquidation_distance: must be in [0, 1), got {self.liquidation_distance}")
        if self.confirm_blocks < 1:
            raise ValueError(f"confirm_blocks: must be >= 1, got {self.confirm_blocks}")
        if not 0.0 <= self.aim_margin < 1.0:
            raise ValueError(f"aim_margin: must be in [0, 1), got {self.aim_margin}")
        if self.max_gas_share <= 0.0:
            raise ValueError(f"max_gas_share: must be > 0, got {self.max_gas_share}")


@dataclass
class PlannerMemory:
    """Per-vault state across blocks: hysteresis streaks, updated at most once per block (idempotent)."""

    n: int
    streak: IntArray = field(init=False)
    last_block: int = -1

    def __post_init__(self) -> None:
        self.streak = np.zeros(self.n, dtype=np.int64)

    def observe(self, block: int, trigger: BoolArray) -> IntArray:
        """Streaks including `block`; a block seen before changes nothing."""
        if block > self.last_block:
            self.streak = np.where(trigger, self.streak + 1, 0).astype(np.int64)
            self.last_block = block
        return self.streak


@dataclass(frozen=True)
class Selection:
    """Output of `select`: per-vault decisions (arrays over all n vaults) and the indices that act."""

    action: IntArray  # (n,) vault_rules action code (NONE / REBALANCE / ITERATE / RIPCORD)
    cls: IntArray  # (n,) trigger class (LIQUIDATION ...)
    urgency: FloatArray  # (n,) 0..1
    risk_increasing: BoolArray  # (n,)
    aim: FloatArray  # (n, A) aimed signed notional per slot (collateral units), for REBALANCE
    held: dict[int, str]  # vault index -> why a wanted action is held back
    indices: IntArray  # vaults that act, in priority order (class, then urgency)


@dataclass(frozen=True)
class PlannedAction:
    index: int
    vault: str
    action: int  # vault_rules action code
    cls: int
    urgency: float
    adjustments: tuple[tuple[int, int, int], ...]  # REBALANCE only
    outcome: R.Outcome
    risk_increasing: bool

    @property
    def kind(self) -> str:
        return {R.REBALANCE: "rebalance", R.ITERATE: "iterate", R.RIPCORD: "ripcord"}.get(self.action, "none")

    @property
    def reason(self) -> str:
        return CLASS_NAMES[self.cls]


@dataclass(frozen=True)
class Dropped:
    index: int
    vault: str
    action: int
    cls: int
    error: str


# --- stage 1: vectorised selection ----------------------------------------------------------------------------


def policy_targets(a: VaultArrays) -> FloatArray:
    """The vault's own policy: weight * targetLeverage per slot (signed leverage per asset)."""
    return np.where(a.slot, a.weight * a.target_leverage[:, None], 0.0)


def _gross(x: FloatArray) -> FloatArray:
    return np.asarray(np.abs(x).sum(axis=1), dtype=np.float64)


def aim_notional(a: VaultArrays, target: FloatArray, settings: PlannerSettings) -> tuple[FloatArray, FloatArray]:
    """Project the strategy's signed leverage per slot onto what `rebalance` accepts; returns (aim notional per
    slot in collateral units, aimed gross leverage).

    With E = equity, T_j = w_j * targetLeverage * E (the vault's per-asset target notional), c_j the current
    notional and s_j = target_j * E, the aim is a_j = T_j + k (s_j - T_j) with the largest k in [0, 1] such that
      - every leg moves no further from T_j:        |a_j - T_j| <= |c_j - T_j|
      - the outcome check passes with a margin:      |L(a) - L*| <= max(tol, d0 - minImprovement) * (1 - margin)
        where L(a) - L* = k * sum_j sign(w_j) (s_j - T_j) / E while signs follow the weights,
    then clamped to the notional caps and to the weights' signs (0 for a zero weight)."""
    e = np.where(a.equity > 0.0, a.equity, 0.0)[:, None]
    t_notional = a.weight * a.target_leverage[:, None] * e
    s_notional = np.where(np.isfinite(target), target, a.weight * a.target_leverage[:, None]) * e
    cur = a.size * a.price
    dev = np.where(a.slot, s_notional - t_notional, 0.0)
    radius = np.abs(cur - t_notional)
    absdev = np.abs(dev)
    k_asset = np.where(absdev > 0.0, radius / np.where(absdev > 0.0, absdev, 1.0), np.inf).min(axis=1)
    d0 = np.abs(a.leverage - a.target_leverage)
    allow = np.maximum(a.tolerance, d0 - a.min_improvement) * (1.0 - settings.aim_margin)
    lin = np.abs((np.sign(a.weight) * dev).sum(axis=1)) / np.where(e[:, 0] > 0.0, e[:, 0], 1.0)
    k_gross = np.where(lin > 0.0, allow / np.where(lin > 0.0, lin, 1.0), np.inf)
    k = np.clip(np.minimum(np.minimum(k_asset, k_gross), 1.0), 0.0, 1.0)
    aim = t_notional + k[:, None] * dev
    aim = np.clip(aim, -a.notional_cap, a.notional_cap)
    sign_ok = np.where(a.weight > 0.0, aim >= 0.0, np.where(a.weight < 0.0, aim <= 0.0, False))
    aim = np.where(a.slot & sign_ok, aim, 0.0)
    lev_aim = _gross(aim) / np.where(e[:, 0] > 0.0, e[:, 0], 1.0)
    return aim, lev_aim


def select(
    snap: Snapshot,
    target: FloatArray,
    memory: PlannerMemory,
    settings: PlannerSettings,
    busy: BoolArray | None = None,
    gas_price_wei: Callable[[], int] | None = None,
) -> Selection:
    """Stage 1 over all vaults (see the module docstring). `target` is the strategy's signed leverage per slot,
    (n, A); NaN entries follow the vault's policy."""
    a = snap.arrays
    n = a.n
    now = float(snap.block.timestamp)
    busy = np.zeros(n, dtype=np.bool_) if busy is None else busy
    lev = a.leverage
    has_pos = a.gross > 0.0
    alive = a.ok & ((a.equity > 0.0) | has_pos)

    # triggers (float mirrors of the vault's conditions; the exact check comes in finalize)
    threshold = a.maintenance * (1.0 + a.ripcord_margin_buffer)
    rip_trigger = (lev >= a.ripcord_leverage) | (has_pos & (a.equity < threshold))
    rip_ready = now >= a.last_trade_at + a.ripcord_cooldown
    danger = has_pos & (a.liquidation_distance < settings.liquidation_distance)
    above = lev > a.max_leverage
    below = lev < a.min_leverage
    in_band = ~above & ~below
    cool_ok = now >= a.last_trade_at + a.chunk_cooldown
    interval_ok = now >= a.last_trade_at + a.rebalance_interval
    rebalance_ok = np.where(in_band, interval_ok, cool_ok)

    aim, lev_aim = aim_notional(a, target, settings)
    e_pos = np.where(a.equity > 0.0, a.equity, 1.0)
    cur_notional = a.size * a.price
    moved = np.abs(aim - cur_notional).sum(axis=1)
    big_enough = moved >= settings.min_trade_fraction * e_pos
    gross_aim = _gross(aim)
    rebalance_up = gross_aim > a.gross

    # iterate: risk direction from the stored exposures
    pend_slots = ((a.pending_mask[:, None] >> np.arange(a.slot.shape[1])) & 1).astype(bool) & a.slot
    pend_expo = np.where(pend_slots, a.pending_exposure, a.exposure)
    iterate_up = _gross(pend_expo) > _gross(a.exposure)

    liq_rip = alive & danger & rip_trigger & rip_ready
    liq_reb = alive & danger & ~rip_trigger & rebalance_ok & big_enough & ~rebalance_up & (a.equity > 0.0)
    ripcord = alive & rip_trigger & rip_ready
    oob = alive & (above | below) & cool_ok & big_enough & (a.equity > 0.0)
    iterate = alive & a.pending & cool_ok
    d_now = np.abs(lev - a.target_leverage)
    d_aim = np.abs(lev_aim - a.target_leverage)
    outcome_ok = (d_aim <= a.tolerance) | (d_now - d_aim >= a.min_improvement)
    retarget = (
        alive & in_band & interval_ok & ~a.pending & big_enough & outcome_ok & (a.equity > 0.0)
        & (np.abs(lev_aim - lev) > np.maximum(settings.retarget_threshold, 0.0))
        & ((d_now > a.tolerance) | np.isfinite(target).any(axis=1))
    )

    cls = np.select(
        [liq_rip | liq_reb, ripcord, oob, iterate, retarget],
        [LIQUIDATION, RIPCORD_CLASS, OUT_OF_BAND, ITERATE_CLASS, RETARGET],
        NONE_CLASS,
    ).astype(np.int64)
    action = np.select(
        [liq_rip, liq_reb, ripcord, oob, iterate, retarget],
        [R.RIPCORD, R.REBALANCE, R.RIPCORD, R.REBALANCE, R.ITERATE, R.REBALANCE],
        R.NONE,
    ).astype(np.int64)
    risk_up = np.where(action == R.REBALANCE, rebalance_up, np.where(action == R.ITERATE, iterate_up, False))
    urgency = np.select(
        [cls == LIQUIDATION, cls == RIPCORD_CLASS, (cls == OUT_OF_BAND) & above, cls == OUT_OF_BAND, cls == ITERATE_CLASS],
        [1.0, 0.9, 0.6, 0.2, np.where(iterate_up, 0.2, 0.5)],
        0.1,
    )

    # hysteresis and minimum benefit: risk-increasing moves only
    streak = memory.observe(snap.block.number, risk_up & (action != R.NONE))
    confirmed = streak >= settings.confirm_blocks
    gas_ok = np.ones(n, dtype=np.bool_)
    wants_up = risk_up & (action != R.NONE) & confirmed & ~busy
    if settings.native_price > 0.0 and gas_price_wei is not None and wants_up.any():
        cost = settings.gas_per_call * float(gas_price_wei()) / 1e18 * settings.native_price
        benefit = np.where(action == R.REBALANCE, np.abs(gross_aim - a.gross), moved)
        gas_ok = ~risk_up | (cost <= settings.max_gas_share * benefit)
    held: dict[int, str] = {}
    wanted = action != R.NONE
    for reason, mask in (
        (HELD_BUSY, wanted & busy),
        (HELD_HYSTERESIS, wanted & ~busy & risk_up & ~confirmed),
        (HELD_GAS, wanted & ~busy & risk_up & confirmed & ~gas_ok),
    ):
        for i in np.flatnonzero(mask):
            held[int(i)] = reason
    go = wanted & ~busy & (~risk_up | (confirmed & gas_ok))
    action = np.where(go, action, R.NONE).astype(np.int64)
    cls = np.where(go, cls, NONE_CLASS).astype(np.int64)
    idx = np.flatnonzero(go)
    order = np.lexsort((-urgency[idx], cls[idx]))
    return Selection(action, cls, urgency, risk_up, aim, held, idx[order].astype(np.int64))


# --- stage 2: exact integers, only for the vaults that act ------------------------------------------------------


def exact_adjustments(snap: Snapshot, index: int, aim_row: FloatArray, follow_policy: bool) -> list[tuple[int, int, int]]:
    """Integer adjustments toward the aimed notionals. On the policy path (no strategy deviation) the target is
    computed exactly as the vault does (weight * target * equity, clamped to the cap)."""
    r = snap.records[index]
    equity = r.account.equity
    out: list[tuple[int, int, int]] = []
    for j, pos in enumerate(r.positions):
        if pos.price == 0:
            continue
        if follow_policy:
            t = R.mul_div_to_zero(R.policy_exposure(pos.weight, r.params.target_leverage), max(equity, 0), WAD)
            if abs(t) > pos.notional_cap:
                t = pos.notional_cap if t > 0 else -pos.notional_cap
        else:
            t = int(round(float(aim_row[j]) * 1e18))
        delta = R.mul_div_to_zero(t, WAD, pos.price) - pos.size
        if delta != 0:
            out.append((pos.asset_id, delta, 0))
    return out


# errors that a smaller trade can cure
_SIZE_DEPENDENT = {"SlippageExceeded", "OpenInterestCapExceeded", "InsufficientMargin", "LeverageAboveMax", "LeverageAboveCap", "NotionalCapExceeded"}


def _scaled(adjustments: Sequence[tuple[int, int, int]], num: int, den: int) -> list[tuple[int, int, int]]:
    out = []
    for asset_id, delta, limit in adjustments:
        d = R.mul_div_to_zero(delta, num, den)
        if d != 0:
            out.append((asset_id, d, limit))
    return out


def _apply_oi(assets: dict[int, MarketAsset], out: R.Outcome) -> None:
    """Move the running venue's open interest by the predicted legs (the next simulated call sees the new skew)."""
    for leg in out.legs:
        m = assets.get(leg.asset_id)
        if m is None:
            continue
        old, new = leg.size, leg.size + leg.delta
        assets[leg.asset_id] = MarketAsset(
            m.asset_id, m.skew_scale, m.max_open_interest, m.initial_margin_ratio, m.maintenance_margin_ratio,
            m.trading_fee, m.max_funding_rate,
            m.long_open_interest - max(old, 0) + max(new, 0), m.short_open_interest - max(-old, 0) + max(-new, 0),
        )


def finalize(
    snap: Snapshot,
    sel: Selection,
    market: MarketInfo,
    settings: PlannerSettings,
    target: FloatArray | None = None,
    now: int | None = None,
) -> tuple[list[PlannedAction], list[Dropped]]:
    """Stage 2 (see the module docstring). `now` is the timestamp the calls are checked at (default: the
    snapshot's block; later blocks only relax the vault's time rules)."""
    ts = snap.block.timestamp if now is None else now
    planned: list[PlannedAction] = []
    dropped: list[Dropped] = []
    running = replace(market, assets=dict(market.assets))  # its asset dict is updated in place below
    for i in (int(x) for x in sel.indices):
        r = snap.records[i]
        action = int(sel.action[i])
        follow = target is None or not np.isfinite(target[i]).any()
        adjustments: list[tuple[int, int, int]] = []
        if action == R.REBALANCE:
            adjustments = exact_adjustments(snap, i, sel.aim[i], follow)
            out = R.simulate_rebalance(r, adjustments, running, ts)
            steps = 0
            while not out.ok and out.error in _SIZE_DEPENDENT and steps < settings.shrink_steps and adjustments:
                adjustments = _scaled(adjustments, 1, 2)
                out = R.simulate_rebalance(r, adjustments, running, ts) if adjustments else out
                steps += 1
        elif action == R.RIPCORD:
            out = R.simulate_ripcord(r, running, ts)
            if not out.ok and out.error == "SlippageExceeded":
                # the venue cannot absorb the ripcord's cut at ripcordSlippage: delever in a smaller rebalance
                fallback = exact_adjustments(snap, i, sel.aim[i], True)
                fallback = [adj for adj in fallback if R.is_reduce_only(_size(r, adj[0]), adj[1])]
                for _ in range(settings.shrink_steps + 1):
                    if not fallback:
                        break
                    trial = R.simulate_rebalance(r, fallback, running, ts)
                    if trial.ok:
                        action, adjustments, out = R.REBALANCE, fallback, trial
                        break
                    if trial.error not in _SIZE_DEPENDENT:
                        break
                    fallback = _scaled(fallback, 1, 2)
        else:
            # an iterate that trades nothing still ends the stale plan (cheap), as shouldRebalance asks for it
            out = R.simulate_iterate(r, running, ts)
        if not out.ok:
            dropped.append(Dropped(i, r.vault, action, int(sel.cls[i]), out.describe))
            continue
        _apply_oi(running.assets, out)
        planned.append(
            PlannedAction(
                index=i,
                vault=r.vault,
                action=action,
                cls=int(sel.cls[i]),
                urgency=float(sel.urgency[i]),
                adjustments=tuple(adjustments),
                outcome=out,
                risk_increasing=bool(sel.risk_increasing[i]),
            )
        )
    return planned, dropped


def _size(r: object, asset_id: int) -> int:
    for p in getattr(r, "positions"):
        if p.asset_id == asset_id:
            return int(p.size)
    return 0


def market_from_snapshot(snap: Snapshot, template: MarketInfo) -> MarketInfo:
    """For synthetic snapshots: a venue whose open interest is the vaults' own positions."""
    assets: dict[int, MarketAsset] = {}
    for asset_id, m in template.assets.items():
        long_oi = short_oi = 0
        for r in snap.records:
            for p in r.positions:
                if p.asset_id == asset_id:
                    long_oi += max(p.size, 0)
                    short_oi += max(-p.size, 0)
        assets[asset_id] = replace(m, long_open_interest=long_oi, short_open_interest=short_oi)
    return replace(template, assets=assets)


# --- strategies ----------------------------------------------------------------------------------------------------

POLICY_NAMES = ("policy", "scaling")  # follow each vault's own policy target ("scaling": KeeperConfig's default)


def _param_text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


@dataclass
class _Group:
    assets: tuple[int, ...]
    index: IntArray  # vault indices
    est: EstimatorState | None = None
    state: State | None = None
    last_block: int = -1
    peak: FloatArray | None = None


class StrategyRunner:
    """Runs one registered strategy (keeper.strategies) over the snapshot, vaults grouped by their asset list so
    each group is one (n_g, a) array problem; estimators are updated once per block from the snapshot's prices.

    targets(snap) returns the signed target leverage per vault and slot, (n, MAX_ASSETS); NaN = follow the vault's
    policy (the 'policy' strategy, vaults without usable prices, or a group not warmed up)."""

    def __init__(
        self,
        name: str = "policy",
        params: Mapping[str, Any] | None = None,
        overlay: OverlayParams | None = None,
        estimator: EstimatorConfig | None = None,
    ) -> None:
        self.name = name
        self.spec: StrategySpec[Any] | None = None
        self.params: Any = None
        if name not in POLICY_NAMES:
            self.spec = get_strategy(name)
            if "options" in self.spec.needs or "implied_vol" in self.spec.needs:
                raise StrategyError(f"strategy {name}: needs {', '.join(sorted(self.spec.needs))}, which the chain snapshot does not carry")
            self.params = parse_params(self.spec.params, {k: _param_text(v) for k, v in (params or {}).items()})
        elif params:
            raise StrategyError(f"strategy {name}: takes no params, got {', '.join(params)}")
        self.overlay = overlay or OverlayParams()
        self.estimator = estimator or EstimatorConfig()
        self._groups: dict[tuple[int, ...], _Group] = {}
        self._n = -1

    @property
    def follows_policy(self) -> bool:
        return self.spec is None

    def layout(self, snap: Snapshot) -> None:
        """Group the vaults by asset list (once; again only if the vault count changes)."""
        if self._n == snap.n:
            return
        members: dict[tuple[int, ...], list[int]] = {}
        for i, r in enumerate(snap.records):
            if r.ok and r.positions:
                members.setdefault(r.asset_ids, []).append(i)
        self._groups = {k: _Group(k, np.array(v, dtype=np.int64)) for k, v in members.items()}
        self._n = snap.n

    def observe(self, snap: Snapshot) -> None:
        """Feed the block's prices to every group's estimators (idempotent per block)."""
        if self.spec is None:
            return
        self.layout(snap)
        for key, g in self._groups.items():
            if snap.block.number <= g.last_block:
                continue
            prices = np.array([[snap.prices.get(a, 0.0) for a in key]])
            if not (prices > 0.0).all():
                continue
            if g.est is None:
                g.est = init_estimators(prices, float(snap.block.timestamp), self.estimator)
            else:
                g.est = update_estimators(g.est, prices, float(snap.block.timestamp), self.estimator)
            g.last_block = snap.block.number

    def warm_up(self, history: PriceHistory) -> int:
        """Replay a persisted price history into fresh estimators (after a restart); returns blocks replayed."""
        if self.spec is None or not self._groups:
            return 0
        replayed = 0
        for key, g in self._groups.items():
            series = [history.series(a) for a in key]
            if any(len(s[0]) == 0 for s in series):
                continue
            common = set(series[0][0].tolist())
            for s in series[1:]:
                common &= set(s[0].tolist())
            for block in sorted(common):
                row = []
                ts = 0.0
                for blocks, times, prices in series:
                    k = int(np.searchsorted(blocks, block))
                    row.append(prices[k])
                    ts = float(times[k])
                p = np.array([row])
                g.est = init_estimators(p, ts, self.estimator) if g.est is None else update_estimators(g.est, p, ts, self.estimator)
                g.last_block = block
                replayed += 1
        return replayed

    def targets(self, snap: Snapshot, market: MarketInfo | None) -> FloatArray:
        a = snap.arrays
        out = np.full(a.slot.shape, np.nan)
        if self.spec is None:
            return out
        self.layout(snap)
        for key, g in self._groups.items():
            if g.est is None:
                continue
            k = len(key)
            idx = g.index
            ok = a.ok[idx]
            if not ok.any():
                continue
            idx = idx[ok]
            est = estimates(g.est, self.estimator)
            n_g = len(idx)
            equity = a.equity[idx]
            if g.peak is None or len(g.peak) != len(g.index):
                g.peak = a.equity[g.index].copy()
            g.peak = np.maximum(g.peak, a.equity[g.index])
            peak = g.peak[ok]
            mm = np.array([market.assets[x].maintenance_margin_ratio / 1e18 if market and x in market.assets else 0.05 for x in key])
            im = np.array([market.assets[x].initial_margin_ratio / 1e18 if market and x in market.assets else 0.1 for x in key])
            fee = np.array([market.assets[x].trading_fee / 1e18 if market and x in market.assets else 0.0 for x in key])
            view = MarketView(
                maintenance_margin=mm,
                initial_margin=im,
                liquidation_fee_ratio=(market.liquidation_fee_ratio / 1e18) if market else 0.0,
                min_keeper_fee=(market.min_keeper_fee / 1e18) if market else 0.0,
                max_keeper_fee=(market.max_keeper_fee / 1e18) if market else 0.0,
                taker_fee=fee,
            )
            strat_snap = StrategySnapshot(
                time=float(snap.block.timestamp),
                prices=np.broadcast_to(a.price[idx, :k], (n_g, k)).copy(),
                equity=equity.copy(),
                exposure=a.exposure[idx, :k].copy(),
                peak_equity=peak.copy(),
                est=Estimates(
                    vol=np.broadcast_to(est.vol, (n_g, k)).copy(),
                    drift=np.broadcast_to(est.drift, (n_g, k)).copy(),
                    n_eff=np.broadcast_to(est.n_eff, (n_g,)).copy(),
                    cov=np.broadcast_to(est.cov, (n_g, k, k)).copy(),
                    trend=np.broadcast_to(est.trend, (n_g, k)).copy(),
                    zscore=np.broadcast_to(est.zscore, (n_g, k)).copy(),
                ),
                market=view,
            )
            if g.state is None or _state_rows(g.state) not in (-1, n_g):
                g.state = self.spec.init_state(strat_snap, self.params)
            target, g.state = decide(self.spec, strat_snap, self.params, g.state, self.overlay)
            out[idx, :k] = target
        return out


def _state_rows(state: State) -> int:
    for v in state.values():
        return int(np.asarray(v).shape[0]) if np.asarray(v).ndim else -1
    return -1
