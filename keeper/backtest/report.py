"""Backtest reports: PNG charts (matplotlib, Agg backend), JSON and a text comparison table."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keeper.backtest.engine import SimResult  # noqa: E402
from keeper.backtest.planner import Action  # noqa: E402

DAY = 86_400.0


def plot_report(result: SimResult, out: str | Path, path_index: int = 0) -> Path:
    """Five stacked panels for one recorded path: price, equity, leverage against band and ripcord,
    margin ratio against maintenance, drawdown. Markers show keeper actions and liquidations."""
    s = result.series
    if s.equity.shape[0] <= path_index:
        raise ValueError(f"path_index: path {path_index} was not recorded (recorded: {s.equity.shape[0]})")
    days = (result.times - result.times[0]) / DAY
    rules = result.rules
    eq = s.equity[path_index]
    fig, axes = plt.subplots(5, 1, figsize=(11, 13), sharex=True)
    ax_p, ax_e, ax_l, ax_m, ax_d = axes

    prices = s.prices[:, path_index, :]
    for j, name in enumerate(result.assets):
        ax_p.plot(days, prices[:, j] / prices[0, j], lw=1, label=name)
    ax_p.set_ylabel("price / initial")
    ax_p.legend(loc="upper left", fontsize=8)
    ax_p.set_title(f"{result.strategy} on {result.paths_source} (path {path_index})")

    ax_e.plot(days, eq, lw=1, color="tab:blue")
    ax_e.set_ylabel("equity")

    act = s.action[path_index]
    ax_l.plot(days, s.leverage[path_index], lw=1, color="black", label="leverage")
    for level, label, style in (
        (rules.min_leverage, "min", ":"),
        (rules.target_leverage, "target", "--"),
        (rules.max_leverage, "max", ":"),
        (rules.ripcord_leverage, "ripcord", "-."),
    ):
        ax_l.axhline(level, ls=style, lw=0.8, color="tab:red" if label == "ripcord" else "tab:gray", label=label)
    for code, color in ((Action.REBALANCE, "tab:green"), (Action.ITERATE, "tab:olive"), (Action.RIPCORD, "tab:red")):
        hit = act == code
        ax_l.scatter(days[hit], s.leverage[path_index][hit], s=10, color=color, label=code.name.lower(), zorder=3)
    liq = act == Action.LIQUIDATED
    if liq.any():
        for d in days[liq]:
            for ax in axes:
                ax.axvline(d, color="tab:red", lw=1.5)
    ax_l.set_ylabel("gross leverage")
    ax_l.legend(loc="upper left", fontsize=7, ncol=4)

    ax_m.plot(days, s.margin_ratio[path_index], lw=1, label="equity / gross notional")
    ax_m.plot(days, s.maintenance_ratio[path_index], lw=1, color="tab:red", label="maintenance / gross notional")
    ax_m.set_ylabel("margin ratio")
    ax_m.legend(loc="upper left", fontsize=8)

    peak = np.fmax.accumulate(eq)
    ax_d.fill_between(days, 0.0, -(1.0 - eq / peak) * 100.0, color="tab:red", alpha=0.4)
    ax_d.set_ylabel("drawdown %")
    ax_d.set_xlabel("days")
    fig.tight_layout()
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=90)
    plt.close(fig)
    return out_path


def _clean(x: Any) -> Any:
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        return _clean(x.item())
    return x


def write_json(data: Any, out: str | Path) -> Path:
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(_clean(data), indent=2, sort_keys=False) + "\n")
    return out_path


TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("strategy", "strategy", "{}"),
    ("total_return", "return", "{:+.2%}"),
    ("volatility", "vol", "{:.1%}"),
    ("sharpe", "Sharpe", "{:.2f}"),
    ("sortino", "Sortino", "{:.2f}"),
    ("max_drawdown", "max DD", "{:.1%}"),
    ("time_under_water", "under water", "{:.0%}"),
    ("turnover", "turnover", "{:.1f}x"),
    ("actions", "actions", "{:.1f}"),
    ("gas_cost_eth", "gas ETH", "{:.4f}"),
    ("p_liquidation", "P(liq)", "{:.2%}"),
    ("min_liq_distance", "min dist", "{:.1%}"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return fmt.format(value)


def comparison_table(summaries: Sequence[dict[str, Any]]) -> str:
    """Fixed-width text table, one row per strategy, columns from TABLE_COLUMNS."""
    head = [h for _, h, _ in TABLE_COLUMNS]
    rows = [[_cell(s.get(key), fmt) for key, _, fmt in TABLE_COLUMNS] for s in summaries]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths)))
    out = [line, "-" * len(line)]
    for r in rows:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)
