"""A straightforward per-vault Python loop with the same decisions as keeper.planner.select (the vectorised one):
the test suite checks both agree vault by vault, and bench/bench_keeper.py times one against the other."""

from __future__ import annotations

import math

from keeper import vault_rules as R
from keeper.planner import ITERATE_CLASS, LIQUIDATION, NONE_CLASS, OUT_OF_BAND, RETARGET, RIPCORD_CLASS, PlannerSettings
from keeper.snapshot import Snapshot


def select_loop(snap: Snapshot, streak_before: list[int], settings: PlannerSettings, busy: list[bool] | None = None) -> list[tuple[int, int, bool]]:
    """Per vault: (action, class, risk_increasing) after hysteresis and busy; policy targets, no gas check."""
    a = snap.arrays
    now = float(snap.block.timestamp)
    out: list[tuple[int, int, bool]] = []
    for i, r in enumerate(snap.records):
        eq = float(a.equity[i])
        lev = float(a.leverage[i])
        gross = float(a.gross[i])
        has_pos = gross > 0.0
        alive = bool(a.ok[i]) and (eq > 0.0 or has_pos)
        p = r.params
        target = p.target_leverage / 1e18
        mn, mx = p.min_leverage / 1e18, p.max_leverage / 1e18
        tol, mi = p.tolerance / 1e18, p.min_improvement / 1e18
        last = float(r.state.last_trade_at)
        maint = float(a.maintenance[i])
        rip_trigger = lev >= p.ripcord_leverage / 1e18 or (has_pos and eq < maint * (1.0 + p.ripcord_margin_buffer / 1e18))
        rip_ready = now >= last + p.ripcord_cooldown
        danger = has_pos and float(a.liquidation_distance[i]) < settings.liquidation_distance
        above, below = lev > mx, lev < mn
        in_band = not above and not below
        cool_ok = now >= last + p.chunk_cooldown
        interval_ok = now >= last + p.rebalance_interval
        rebalance_ok = interval_ok if in_band else cool_ok
        e = eq if eq > 0.0 else 0.0
        aims = []
        moved = 0.0
        cur_gross = 0.0
        for pos in r.positions:
            w = pos.weight / 1e18
            price = pos.price / 1e18
            t = w * target * e
            cap = pos.notional_cap / 1e18
            aim = max(-cap, min(cap, t))
            if not ((w > 0 and aim >= 0) or (w < 0 and aim <= 0)):
                aim = 0.0
            cur = pos.size / 1e18 * price
            moved += abs(aim - cur)
            cur_gross += abs(cur)
            aims.append(aim)
        gross_aim = sum(abs(x) for x in aims)
        lev_aim = gross_aim / e if e > 0 else 0.0
        big_enough = moved >= settings.min_trade_fraction * (eq if eq > 0 else 1.0)
        rebalance_up = gross_aim > gross
        pend_now = 0.0
        pend_after = 0.0
        for j, pos in enumerate(r.positions):
            x = pos.exposure / 1e18
            pend_now += abs(x)
            pend_after += abs(pos.pending_exposure / 1e18) if r.state.pending_mask >> j & 1 else abs(x)
        iterate_up = pend_after > pend_now
        d_now = abs(lev - target)
        d_aim = abs(lev_aim - target)
        outcome_ok = d_aim <= tol or d_now - d_aim >= mi
        action, cls = R.NONE, NONE_CLASS
        if alive and danger and rip_trigger and rip_ready:
            action, cls = R.RIPCORD, LIQUIDATION
        elif alive and danger and not rip_trigger and rebalance_ok and big_enough and not rebalance_up and eq > 0:
            action, cls = R.REBALANCE, LIQUIDATION
        elif alive and rip_trigger and rip_ready:
            action, cls = R.RIPCORD, RIPCORD_CLASS
        elif alive and (above or below) and cool_ok and big_enough and eq > 0:
            action, cls = R.REBALANCE, OUT_OF_BAND
        elif alive and r.state.pending_mask and cool_ok:
            action, cls = R.ITERATE, ITERATE_CLASS
        elif (
            alive and in_band and interval_ok and not r.state.pending_mask and big_enough and outcome_ok and eq > 0
            and abs(lev_aim - lev) > settings.retarget_threshold and d_now > tol
        ):
            action, cls = R.REBALANCE, RETARGET
        risk_up = rebalance_up if action == R.REBALANCE else (iterate_up if action == R.ITERATE else False)
        wanted = action != R.NONE
        streak = streak_before[i] + 1 if (risk_up and wanted) else 0
        is_busy = bool(busy[i]) if busy is not None else False
        go = wanted and not is_busy and (not risk_up or streak >= settings.confirm_blocks)
        if math.isnan(lev):
            go = False
        out.append((action if go else R.NONE, cls if go else NONE_CLASS, bool(risk_up)))
    return out
