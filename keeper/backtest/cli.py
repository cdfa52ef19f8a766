"""`keeper backtest`: run one strategy, or compare several on the same paths, and write charts and JSON.

    keeper backtest --strategy leverage_band --paths gbm --n-paths 1000 --steps 2000 --seed 7 \\
        --params target_leverage=2 recenter_speed=0.1 --plot out/band.png --json out/band.json
    keeper backtest --compare leverage_band,vol_target,kelly --paths data/eth.csv
    keeper backtest --list

Errors in inputs (a bad CSV row, a parameter out of range) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import fields
from pathlib import Path
from typing import Any, TextIO

from keeper.backtest.config import MarketSettings, VaultRules
from keeper.backtest.engine import EngineConfig, SimResult, simulate
from keeper.backtest.metrics import summarize
from keeper.backtest.paths import GENERATORS, GenParams, PricePaths, generate, load_csv
from keeper.market_math import MathError
from keeper.strategies import STRATEGIES, DangerousStrategyWarning, OverlayParams, StrategyError, get_strategy
from keeper.strategies.base import ParamError, parse_params
from keeper.strategies.estimators import EstimatorConfig

EXIT_USAGE = 2
PROGRESS_MIN_WORK = 200_000  # path-steps below which no bar is drawn
EXACT_COST = 100  # an exact (integer) path-step costs about this many float ones


class ProgressBar:
    """A one-line stderr bar: `[#####.....]  48%  480/1001 steps  1.2 s`."""

    def __init__(self, label: str, stream: TextIO = sys.stderr, width: int = 30):
        self.label, self.stream, self.width = label, stream, width
        self.start = time.monotonic()
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        pct = done * 100 // total
        if pct == self.last and done != total:
            return
        self.last = pct
        fill = done * self.width // total
        bar = "#" * fill + "." * (self.width - fill)
        elapsed = time.monotonic() - self.start
        self.stream.write(f"\r{self.label} [{bar}] {pct:3d}%  {done}/{total} steps  {elapsed:.1f} s")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def register(subparsers: Any) -> None:
    """Add the `backtest` subcommand to the `keeper` CLI (see keeper/cli.py)."""
    p = subparsers.add_parser(
        "backtest",
        help="backtest strategies on CSV or generated price paths",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--strategy", metavar="NAME", help="one strategy (see --list)")
    what.add_argument("--compare", metavar="S1,S2,...", help="several strategies on the same paths")
    what.add_argument("--list", action="store_true", help="list the strategies and their parameters")
    p.add_argument("--paths", default="gbm", metavar="SRC", help="a CSV file, or one of: " + ", ".join(GENERATORS))
    p.add_argument("--assets", type=int, default=1, help="generated assets (default 1)")
    p.add_argument("--steps", type=int, default=1000, help="generated steps (default 1000)")
    p.add_argument("--n-paths", type=int, default=1, help="Monte Carlo paths (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    kv = {"nargs": "+", "action": "extend", "default": [], "metavar": "K=V"}
    p.add_argument("--params", **kv, help="strategy parameters; with --compare, NAME.K=V targets one strategy")
    p.add_argument("--gen", **kv, help=f"generator parameters: {_names(GenParams)}")
    p.add_argument("--rules", **kv, help=f"vault rules: {_names(VaultRules)}")
    p.add_argument("--market", **kv, help=f"market settings: {_names(MarketSettings)}")
    p.add_argument("--overlay", **kv, help=f"liquidation overlay: {_names(OverlayParams)}")
    p.add_argument("--estimators", **kv, help=f"estimator half-lives (seconds): {_names(EstimatorConfig)}")
    p.add_argument("--equity", type=float, default=1_000_000.0, help="initial equity, collateral units")
    p.add_argument("--min-trade", type=float, default=0.01, help="smallest trade sent, fraction of equity")
    p.add_argument("--gas-price", type=float, default=20.0, help="gas price in gwei for the gas cost")
    p.add_argument(
        "--engine",
        choices=("auto", "exact", "float"),
        default="auto",
        help="exact = market_math integers, float = vectorised approximation; auto = exact for one path",
    )
    p.add_argument("--plot", metavar="OUT.png", help="write charts (with --compare: one file per strategy)")
    p.add_argument("--json", metavar="OUT.json", help="write metrics as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def _names(cls: type) -> str:
    return ", ".join(f.name for f in fields(cls))


def _split_params(names: list[str], pairs: list[str]) -> dict[str, list[str]]:
    """Route `K=V` to every strategy that has K and `NAME.K=V` to NAME only."""
    routed: dict[str, list[str]] = {n: [] for n in names}
    for pair in pairs:
        key, sep, _ = pair.partition("=")
        if not sep:
            raise ParamError(f"{pair!r}: expected key=value")
        scope, dot, field_name = key.partition(".")
        if dot:
            if scope not in routed:
                raise ParamError(f"{key}: strategy {scope!r} is not being run (running: {', '.join(names)})")
            routed[scope].append(pair[len(scope) + 1 :])
            continue
        takers = [n for n in names if key.strip() in {f.name for f in fields(get_strategy(n).params)}]
        if not takers and len(names) > 1:
            raise ParamError(f"{key}: no strategy in {', '.join(names)} has this parameter")
        for n in takers or names:
            routed[n].append(pair)
    return routed


def _load_paths(args: argparse.Namespace) -> PricePaths:
    if args.paths in GENERATORS:
        g = parse_params(GenParams, args.gen)
        return generate(args.paths, args.n_paths, args.steps, args.assets, g, args.seed)
    if args.gen:
        raise ParamError("--gen: generator parameters only apply to generated paths, not to a CSV file")
    if not Path(args.paths).exists():
        raise StrategyError(
            f"--paths: {args.paths!r} is neither a file nor a generator ({', '.join(GENERATORS)})"
        )
    return load_csv(args.paths)


def _make_params(name: str, pairs: list[str], stream: TextIO) -> Any:
    spec = get_strategy(name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DangerousStrategyWarning)
        params = parse_params(spec.params, pairs)
    for w in caught:
        stream.write(f"keeper backtest: WARNING: {w.message}\n")
    return params


def _list(out: TextIO) -> int:
    for spec in STRATEGIES.values():
        flag = " [DANGEROUS]" if spec.dangerous else ""
        out.write(f"{spec.name}{flag}: {spec.summary}\n    params: {_names(spec.params)}\n")
    return 0


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.list:
        return _list(out)
    names = [args.strategy] if args.strategy else [s.strip() for s in args.compare.split(",") if s.strip()]
    for n in names:
        get_strategy(n)
    routed = _split_params(names, args.params)
    params = {n: _make_params(n, routed[n], err) for n in names}
    rules = parse_params(VaultRules, args.rules)
    overlay = parse_params(OverlayParams, args.overlay)
    est = parse_params(EstimatorConfig, args.estimators)
    settings = parse_params(MarketSettings, args.market)
    paths = _load_paths(args)
    market = settings.build(paths.prices[0, 0])
    exact = args.engine == "exact" or (args.engine == "auto" and paths.n_paths == 1)
    cfg = EngineConfig(
        initial_equity=args.equity, min_trade=args.min_trade, exact=exact, estimators=est, overlay=overlay
    )
    from keeper.backtest.report import comparison_table, plot_report, write_json  # matplotlib: only when needed

    work = paths.n_paths * paths.n_steps * len(names) * (EXACT_COST if exact else 1)
    show_bar = not args.quiet and err.isatty() and work >= PROGRESS_MIN_WORK
    results: list[SimResult] = []
    for n in names:
        bar = ProgressBar(n, err) if show_bar else None
        results.append(simulate(paths, get_strategy(n), params[n], rules, market, cfg, bar))
    summaries = [summarize(r, args.gas_price) for r in results]
    engine = "exact (market_math integers)" if exact else "float (vectorised approximation)"
    out.write(
        f"paths: {paths.source}, {paths.n_paths} path(s) x {paths.n_steps} steps x {paths.n_assets} asset(s); "
        f"engine: {engine}\n"
    )
    out.write(comparison_table(summaries) + "\n")
    if args.plot:
        for r in results:
            target = Path(args.plot)
            if len(results) > 1:
                target = target.with_name(f"{target.stem}-{r.strategy}{target.suffix or '.png'}")
            out.write(f"wrote {plot_report(r, target)}\n")
    if args.json:
        payload: dict[str, Any] = {
            "paths": {
                "source": paths.source,
                "n_paths": paths.n_paths,
                "steps": paths.n_steps,
                "assets": list(paths.assets),
            },
            "engine": "exact" if exact else "float",
            "rules": {f.name: getattr(rules, f.name) for f in fields(rules)},
            "results": summaries,
        }
        if len(summaries) > 1:
            payload["table"] = comparison_table(summaries).splitlines()
        out.write(f"wrote {write_json(payload, args.json)}\n")
    return 0


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        return _run(args, out, err)
    except (StrategyError, MathError) as exc:
        err.write(f"keeper backtest: error: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:
        err.write(f"keeper backtest: error: {exc.filename or ''}: {exc.strerror or exc}\n")
        return EXIT_USAGE
