"""Strategy library: pure, vectorised decision functions shared by the live keeper and the backtester.

A strategy maps a Snapshot (prices, estimators, position, equity) plus typed params and its own state to the
signed target leverage per asset, shape (n vaults, a assets); see keeper.strategies.base for the convention.
`decide` runs a registered strategy and then the liquidation-avoidance overlay, which every target passes.
Formulas are in each module's docstring and in docs/STRATEGIES.md.
"""

from __future__ import annotations

from typing import Any

from keeper.strategies.allocation import (
    AllocationParams,
    RiskParityParams,
    inverse_variance,
    inverse_variance_weights,
    risk_parity,
    risk_parity_weights,
)
from keeper.strategies.base import (
    DangerousStrategyWarning,
    Decision,
    Estimates,
    FloatArray,
    MarketView,
    OptionBook,
    ParamError,
    Snapshot,
    State,
    StrategyError,
    StrategySpec,
    make_snapshot,
    parse_params,
    zero_insolvent,
)
from keeper.strategies.greeks import Greeks, bs_greeks
from keeper.strategies.hedging import DeltaHedgeParams, band_rebalance, delta_hedge, whalley_wilmott_half_width
from keeper.strategies.overlay import OverlayParams, liquidation_overlay, overlay_factor
from keeper.strategies.scaling import (
    FeedbackParams,
    MartingaleParams,
    MeanReversionParams,
    PyramidParams,
    ScaleOutParams,
    TrendParams,
    feedback,
    feedback_init,
    martingale_dangerous,
    martingale_init,
    mean_reversion,
    pyramid,
    pyramid_init,
    scale_out,
    scale_out_init,
    trend_strength,
)
from keeper.strategies.sizing import (
    FixedFractionParams,
    ImpliedVolTargetParams,
    KellyParams,
    LeverageBandParams,
    VolTargetParams,
    fixed_fraction,
    kelly,
    leverage_band,
    recenter,
    vol_target,
    vol_target_implied,
)

_SPECS: list[StrategySpec[Any]] = [
    StrategySpec("fixed_fraction", fixed_fraction, FixedFractionParams, "constant leverage split by weights"),
    StrategySpec(
        "leverage_band", leverage_band, LeverageBandParams, "Index Coop FLI band: recenter when leverage leaves it"
    ),
    StrategySpec("vol_target", vol_target, VolTargetParams, "leverage = target vol / EWMA realised vol"),
    StrategySpec(
        "vol_target_implied",
        vol_target_implied,
        ImpliedVolTargetParams,
        "vol targeting on a blend of implied and realised vol",
        needs=frozenset({"implied_vol"}),
    ),
    StrategySpec("kelly", kelly, KellyParams, "fractional Kelly with drift/variance shrunk toward a prior"),
    StrategySpec(
        "pyramid", pyramid, PyramidParams, "anti-martingale: add on gains, trailing stop", init_state=pyramid_init
    ),
    StrategySpec("scale_out", scale_out, ScaleOutParams, "take profit in tranches", init_state=scale_out_init),
    StrategySpec("mean_reversion", mean_reversion, MeanReversionParams, "fade z-score in capped steps"),
    StrategySpec(
        "martingale_DANGEROUS",
        martingale_dangerous,
        MartingaleParams,
        "DANGEROUS: doubles into losses, hard-capped",
        init_state=martingale_init,
        dangerous=True,
    ),
    StrategySpec(
        "feedback", feedback, FeedbackParams, "scale adapts to realised P&L and drawdown", init_state=feedback_init
    ),
    StrategySpec("trend_strength", trend_strength, TrendParams, "leverage = cap * tanh(trend score)"),
    StrategySpec("inverse_variance", inverse_variance, AllocationParams, "weights 1/variance"),
    StrategySpec("risk_parity", risk_parity, RiskParityParams, "equal risk contributions from the covariance"),
    StrategySpec(
        "delta_hedge",
        delta_hedge,
        DeltaHedgeParams,
        "hedge option legs inside a Whalley-Wilmott band",
        needs=frozenset({"options"}),
    ),
]

STRATEGIES: dict[str, StrategySpec[Any]] = {spec.name: spec for spec in _SPECS}


def get_strategy(name: str) -> StrategySpec[Any]:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise StrategyError(f"strategy: unknown name {name!r} (known: {', '.join(STRATEGIES)})") from None


def decide(
    spec: StrategySpec[Any], snap: Snapshot, params: Any, state: State, overlay: OverlayParams
) -> Decision:
    """One decision: the strategy, then no exposure for insolvent vaults, then the overlay."""
    target, new_state = spec.fn(snap, params, state)
    return liquidation_overlay(zero_insolvent(snap, target), snap, overlay), new_state


__all__ = [
    "STRATEGIES",
    "AllocationParams",
    "DangerousStrategyWarning",
    "Decision",
    "DeltaHedgeParams",
    "Estimates",
    "FeedbackParams",
    "FixedFractionParams",
    "FloatArray",
    "Greeks",
    "ImpliedVolTargetParams",
    "KellyParams",
    "LeverageBandParams",
    "MarketView",
    "MartingaleParams",
    "MeanReversionParams",
    "OptionBook",
    "OverlayParams",
    "ParamError",
    "PyramidParams",
    "RiskParityParams",
    "ScaleOutParams",
    "Snapshot",
    "State",
    "StrategyError",
    "StrategySpec",
    "TrendParams",
    "VolTargetParams",
    "band_rebalance",
    "bs_greeks",
    "decide",
    "get_strategy",
    "inverse_variance_weights",
    "liquidation_overlay",
    "make_snapshot",
    "overlay_factor",
    "parse_params",
    "recenter",
    "risk_parity_weights",
    "whalley_wilmott_half_width",
]
