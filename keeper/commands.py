"""`keeper run`, `keeper once` and `keeper status`: the keeper loop's command line (registered in keeper/cli.py).

Configuration is the executor's YAML file (keeper/config.py, docs/KEEPER_OPERATIONS.md) plus three keys the
loop owns, validated here with the same one-line errors and KEEPER_* environment overrides:

    batcher: "0x..."              KEEPER_BATCHER                  KeeperBatcher; all vault calls go through it
    planner:                      KEEPER_PLANNER_<FIELD>          see docs/KEEPER.md for meanings and ranges
      liquidation_distance, confirm_blocks, retarget_threshold, min_trade_fraction, max_gas_share,
      native_price, max_batch
    reader:                       KEEPER_READER_<FIELD>
      retries, backoff_seconds, max_vaults_per_call

Every error reaching the command line is printed as one line `keeper: error: ...` with exit status 2; no
tracebacks (configuration, signer, node, lens and strategy problems alike).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

import numpy as np
import yaml
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError

from keeper.chain import lens as L
from keeper.config import ConfigError, KeeperConfig, parse_config, read_config_file
from keeper.executor import ErrorDecoder, ExecutorError, Journal
from keeper.executor.factory import build_executor
from keeper.executor.signer import load_signer
from keeper.ops.balance import SignerBalanceWatch
from keeper.ops.breaker import CircuitBreaker
from keeper.ops.health import Health
from keeper.ops.logging import add_alert_listener, configure_logging, get_logger
from keeper.ops.metrics import KeeperMetrics, MetricsServer
from keeper.planner import CLASS_NAMES, PlannedAction, PlannerSettings, StrategyRunner
from keeper.reader import ChainReader, ReaderSettings, ReadError, StateStore
from keeper.runtime import ACTION_CODES, CoreSettings, Keeper, StepReport, calldata, describe_reason
from keeper.snapshot import ACTIONS, Snapshot
from keeper.strategies import StrategyError

EXIT_ERROR = 2
CORE_KEYS = ("batcher", "planner", "reader")


# --- configuration -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    name: str
    kind: str  # "decimal" | "int"
    lo: Decimal
    hi: Decimal
    lo_open: bool = False


_PLANNER = (
    _Spec("liquidation_distance", "decimal", Decimal(0), Decimal("0.99")),
    _Spec("confirm_blocks", "int", Decimal(1), Decimal(1000)),
    _Spec("retarget_threshold", "decimal", Decimal(0), Decimal(10)),
    _Spec("min_trade_fraction", "decimal", Decimal(0), Decimal(1)),
    _Spec("max_gas_share", "decimal", Decimal(0), Decimal(1), lo_open=True),
    _Spec("native_price", "decimal", Decimal(0), Decimal(10**12)),
    _Spec("max_batch", "int", Decimal(1), Decimal(200)),
)
_READER = (
    _Spec("retries", "int", Decimal(0), Decimal(20)),
    _Spec("backoff_seconds", "decimal", Decimal(0), Decimal(60)),
    _Spec("max_vaults_per_call", "int", Decimal(1), Decimal(10_000)),
)


def _value(spec: _Spec, raw: Any, name: str) -> Decimal:
    shown = f"{'(' if spec.lo_open else '['}{spec.lo}, {spec.hi}]"
    if isinstance(raw, bool):
        raise ConfigError(f"{name}: must be a number in {shown}, got {raw!r}")
    try:
        d = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ConfigError(f"{name}: must be a number in {shown}, got {raw!r}") from None
    if not d.is_finite() or (d <= spec.lo if spec.lo_open else d < spec.lo) or d > spec.hi:
        raise ConfigError(f"{name}: must be in {shown}, got {raw}")
    if spec.kind == "int" and d != d.to_integral_value():
        raise ConfigError(f"{name}: must be an integer in {shown}, got {raw}")
    return d


def _section(raw: Any, prefix: str, specs: tuple[_Spec, ...], env: Mapping[str, str]) -> dict[str, Decimal]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix}: must be a mapping, got {type(raw).__name__}")
    known = {s.name for s in specs}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{prefix}.{key}: unknown field (known: {', '.join(sorted(known))})")
    out: dict[str, Decimal] = {}
    for spec in specs:
        var = f"KEEPER_{prefix.upper()}_{spec.name.upper()}"
        if env.get(var, "").strip():
            out[spec.name] = _value(spec, env[var], f"{prefix}.{spec.name} ({var})")
        elif raw.get(spec.name) is not None:
            out[spec.name] = _value(spec, raw[spec.name], f"{prefix}.{spec.name}")
    return out


def parse_core(raw: Mapping[str, Any], env: Mapping[str, str]) -> CoreSettings:
    """The loop's own keys (see the module docstring) from the file mapping plus environment overrides."""
    batcher_raw = env.get("KEEPER_BATCHER", "").strip() or raw.get("batcher")
    batcher: str | None = None
    if batcher_raw not in (None, ""):
        name = "batcher (KEEPER_BATCHER)" if env.get("KEEPER_BATCHER", "").strip() else "batcher"
        if isinstance(batcher_raw, int) and not isinstance(batcher_raw, bool):
            raise ConfigError(f"{name}: YAML read an unquoted 0x... as a number; quote addresses, e.g. '0xabc...'")
        if not isinstance(batcher_raw, str) or not Web3.is_address(batcher_raw.strip()) or not batcher_raw.strip().startswith("0x"):
            raise ConfigError(f"{name}: must be a 0x-prefixed 20-byte hex address, got {batcher_raw!r}")
        batcher = to_checksum_address(batcher_raw.strip())
    p = _section(raw.get("planner"), "planner", _PLANNER, env)
    r = _section(raw.get("reader"), "reader", _READER, env)
    base = PlannerSettings()
    planner = PlannerSettings(
        liquidation_distance=float(p.get("liquidation_distance", base.liquidation_distance)),
        confirm_blocks=int(p.get("confirm_blocks", base.confirm_blocks)),
        retarget_threshold=float(p.get("retarget_threshold", base.retarget_threshold)),
        min_trade_fraction=float(p.get("min_trade_fraction", base.min_trade_fraction)),
        max_gas_share=float(p.get("max_gas_share", base.max_gas_share)),
        native_price=float(p.get("native_price", base.native_price)),
    )
    rb = ReaderSettings()
    reader = ReaderSettings(
        retries=int(r.get("retries", rb.retries)),
        backoff_seconds=float(r.get("backoff_seconds", rb.backoff_seconds)),
        max_vaults_per_call=int(r.get("max_vaults_per_call", rb.max_vaults_per_call)),
    )
    return CoreSettings(planner=planner, reader=reader, batcher=batcher, max_batch=int(p.get("max_batch", 20)))


def load(path: str | None, env: Mapping[str, str] | None = None, *, dry_run: bool = False) -> tuple[KeeperConfig, CoreSettings]:
    """Read and validate the file (`path`, else $KEEPER_CONFIG, else environment only)."""
    env = dict(os.environ if env is None else env)
    if dry_run:
        env["KEEPER_DRY_RUN"] = "true"
    raw: Any = read_config_file(path or None, env)
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"config: must be a mapping at the top level, got {type(raw).__name__}")
    raw = dict(raw or {})
    core = parse_core(raw, env)
    rest = {k: v for k, v in raw.items() if k not in CORE_KEYS}
    cfg = parse_config(rest, env)
    if cfg.lens is None:
        raise ConfigError("lens: required by the keeper loop (the VaultLens address; KEEPER_LENS)")
    return cfg, core


# --- assembly ------------------------------------------------------------------------------------------------------


def _web3(cfg: KeeperConfig) -> Web3:
    return Web3(Web3.HTTPProvider(cfg.rpc_url, request_kwargs={"timeout": 20}))


def _check_chain(w3: Web3, cfg: KeeperConfig) -> None:
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:
        raise ReadError(f"rpc_url {cfg.rpc_url}: node unreachable ({type(exc).__name__})") from None
    if chain_id != cfg.chain_id:
        raise ConfigError(f"chain_id: config says {cfg.chain_id}, the node at {cfg.rpc_url} says {chain_id}")


def _reader(w3: Web3, cfg: KeeperConfig, core: CoreSettings) -> ChainReader:
    assert cfg.lens is not None
    return ChainReader(w3, cfg.lens, cfg.vaults, core.reader)


def _runner(cfg: KeeperConfig) -> StrategyRunner:
    return StrategyRunner(cfg.strategy.name, dict(cfg.strategy.params))


@dataclass
class Assembled:
    keeper: Keeper
    close: Callable[[], None]


def assemble(cfg: KeeperConfig, core: CoreSettings, *, serve_metrics: bool = True) -> Assembled:
    """The full keeper for `run` (and `once` without --dry-run): signer, executor, journal, metrics, breaker."""
    w3 = _web3(cfg)
    _check_chain(w3, cfg)
    metrics = KeeperMetrics()
    add_alert_listener(metrics.on_alert)
    breaker = CircuitBreaker(
        cfg.breaker.failure_threshold, float(cfg.breaker.cooldown_seconds), on_change=lambda old, new: metrics.set_breaker(new)
    )
    health = Health(float(cfg.metrics.max_block_age_seconds), breaker_mode=lambda: breaker.mode)
    server: MetricsServer | None = None
    if serve_metrics and cfg.metrics.enabled:
        server = MetricsServer(metrics, health, cfg.metrics.host, cfg.metrics.port)
        server.start()
    decoder = ErrorDecoder([L.error_abi()])
    signer = load_signer(cfg.signer)
    executor = build_executor(cfg, w3, signer, is_benign=L.is_benign, decoder=decoder, listener=metrics.on_executor_event)
    store = StateStore(cfg.db)
    keeper = Keeper(
        w3, _reader(w3, cfg, core), executor, settings=core, runner=_runner(cfg), store=store, metrics=metrics,
        health=health, breaker=breaker, balance_watch=SignerBalanceWatch(cfg.min_signer_balance_wei, metrics),
        decoder=decoder,
    )

    def close() -> None:
        if server is not None:
            server.stop()
        store.close()

    return Assembled(keeper, close)


# --- commands ------------------------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    cfg, core = load(args.config)
    configure_logging(cfg.log_format, cfg.log_level)
    log = get_logger("keeper.core")
    log.event("config", **{k: v for k, v in cfg.describe().items() if k != "signer"}, batcher=core.batcher or "none")
    if cfg.dry_run:
        raise ConfigError("dry_run: `keeper run` sends transactions; use `keeper once --dry-run` to only print the plan")
    # one worker thread owns every SQLite connection (journal, state store) and runs every block
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="keeper-step")
    try:
        built = worker.submit(assemble, cfg, core).result()
        try:
            return asyncio.run(built.keeper.run(asyncio.Event(), float(cfg.poll_interval_seconds), worker))
        finally:
            worker.submit(built.close).result()
    finally:
        worker.shutdown(wait=True)


def cmd_once(args: argparse.Namespace) -> int:
    cfg, core = load(args.config, dry_run=args.dry_run)
    configure_logging(cfg.log_format, cfg.log_level)
    out: IO[str] = sys.stdout
    if not args.dry_run:
        built = assemble(cfg, core, serve_metrics=False)
        try:
            built.keeper.start()
            report = built.keeper.step(built.keeper.reader.head())
        finally:
            built.close()
        _print_report(report, out, sent=True)
        return 0
    w3 = _web3(cfg)
    _check_chain(w3, cfg)
    keeper = Keeper(w3, _reader(w3, cfg, core), None, settings=core, runner=_runner(cfg))
    head = keeper.reader.head()
    report = keeper.step(head)
    sender = args.sender or _signer_address(cfg)
    sims = _simulate(w3, core, report.planned, sender) if sender else {}
    _print_report(report, out, sent=False, simulations=sims, sender=sender)
    return 0


def _signer_address(cfg: KeeperConfig) -> str | None:
    if not cfg.signer.private_key:
        return None
    try:
        return str(load_signer(cfg.signer).address)
    except ExecutorError:
        return None


def _simulate(w3: Web3, core: CoreSettings, planned: list[PlannedAction], sender: str) -> dict[str, str]:
    """eth_call of each planned call (or of the batch) from `sender`; vault -> 'ok' or the decoded error."""
    decoder = ErrorDecoder([L.error_abi()])
    out: dict[str, str] = {}
    if not planned:
        return out
    if core.batcher:
        calls = [(p.vault, ACTION_CODES[p.action], p.adjustments) for p in planned]
        try:
            raw = w3.eth.call({"from": to_checksum_address(sender), "to": core.batcher, "data": L.encode_execute(calls, False)}, "latest")
        except ContractLogicError as exc:
            return {p.vault: f"batch reverted: {decoder.from_exception(exc).describe()}" for p in planned}
        for p, (ok, data) in zip(planned, L.decode_execute_results(bytes(raw))):
            out[p.vault] = "ok" if ok else decoder.decode(data).describe()
        return out
    for p in planned:
        try:
            w3.eth.call({"from": to_checksum_address(sender), "to": p.vault, "data": calldata(p)}, "latest")
            out[p.vault] = "ok"
        except ContractLogicError as exc:
            out[p.vault] = decoder.from_exception(exc).describe()
    return out


def _short(addr: str) -> str:
    return addr[:6] + ".." + addr[-4:]


def _print_report(
    report: StepReport, out: IO[str], *, sent: bool, simulations: dict[str, str] | None = None, sender: str | None = None
) -> None:
    if report.status != "processed":
        print(f"block {report.block}: {report.status}: {report.detail}", file=out)
        return
    snap = report.snapshot
    n = snap.n if snap else 0
    print(f"block {report.block}: {n} vault(s), {len(report.planned)} action(s) planned", file=out)
    if report.stale:
        print(f"  oracle stale (no transaction): {', '.join(report.stale)}", file=out)
    for vault, why in sorted(report.held.items()):
        print(f"  held {vault}: {why}", file=out)
    for d in report.dropped:
        print(f"  dropped {d.vault} {CLASS_NAMES[d.cls]}: the vault would refuse: {d.error}", file=out)
    for p in report.planned:
        adj = "; ".join(f"asset {a} {'+' if s > 0 else ''}{s / 1e18:.6g}" for a, s, _ in p.adjustments) or "-"
        line = (
            f"  {p.kind:<9} {p.vault}  reason={p.reason} urgency={p.urgency:.1f} sizes=[{adj}]"
            f"  leverage {p.outcome.leverage_before / 1e18:.4f} -> {p.outcome.leverage_after / 1e18:.4f}"
        )
        print(line, file=out)
        print(f"            calldata 0x{calldata(p).hex()[:74]}{'...' if len(calldata(p)) > 36 else ''}", file=out)
        if simulations is not None:
            sim = simulations.get(p.vault)
            print(f"            simulation from {sender}: {sim}" if sim else "            not simulated (no --from address and no signer key)", file=out)
    if sent:
        print(f"submitted {len(report.submitted)} intent(s); failures: {len(report.failures)}", file=out)
        for f in report.failures:
            print(f"  failure: {f}", file=out)
    else:
        print(f"dry run: would send {len(report.planned)} call(s); sent nothing", file=out)


def cmd_status(args: argparse.Namespace) -> int:
    cfg, core = load(args.config, dry_run=True)
    w3 = _web3(cfg)
    _check_chain(w3, cfg)
    reader = _reader(w3, cfg, core)
    snap = reader.read(reader.head())
    pending = _journal_pending(cfg.db)
    print_status(snap, pending, sys.stdout)
    return 0


def _journal_pending(db: Path) -> dict[str, str]:
    """vault -> 'kind status nonce tx' of its in-flight intent (empty when there is no journal yet)."""
    if not Path(db).is_file():
        return {}
    journal = Journal(db)
    try:
        out: dict[str, str] = {}
        for rec in journal.in_flight():
            txs = journal.txs(rec.id)
            tx = txs[-1].hash[:10] + ".." if txs else "-"
            for v in rec.intent.all_vaults:
                out[v.lower()] = f"{rec.intent.kind} {rec.status.value} nonce {rec.nonce} {tx}"
        return out
    finally:
        journal.close()


def _age(now: int, ts: int) -> str:
    if ts == 0:
        return "never"
    s = max(0, now - ts)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit} ago"
    return f"{s}s ago"


def _fmt_ratio(x: float, pct: bool = False) -> str:
    if not np.isfinite(x):
        return "inf"
    return f"{x * 100:.1f}%" if pct else f"{x:.2f}"


def print_status(snap: Snapshot, pending: Mapping[str, str], out: IO[str]) -> None:
    """One row per vault: equity, leverage vs band, margin ratio, distance to liquidation, last action, pending."""
    a = snap.arrays
    now = snap.block.timestamp
    head = ("vault", "equity", "leverage [min-max] target", "margin", "liq dist", "lens says", "last action", "pending")
    rows: list[tuple[str, ...]] = []
    for i, r in enumerate(snap.records):
        if not r.ok:
            rows.append((r.vault, "-", "unreadable", "-", "-", "-", "-", "-"))
            continue
        st = r.state
        last_kind, last_ts = max(
            (("rebalance", st.last_rebalance_at), ("iterate", st.last_iterate_at), ("ripcord", st.last_ripcord_at)),
            key=lambda kv: kv[1],
        )
        lev = "stale price" if not a.ok[i] else (
            "inf" if not np.isfinite(a.leverage[i]) else f"{a.leverage[i]:.3f}x"
        )
        band = f"{lev} [{a.min_leverage[i]:.2f}-{a.max_leverage[i]:.2f}] {a.target_leverage[i]:.2f}"
        flag = ""
        if a.ok[i] and np.isfinite(a.leverage[i]) and (a.leverage[i] < a.min_leverage[i] or a.leverage[i] > a.max_leverage[i]):
            flag = " OUT"
        says = f"{ACTIONS[r.action] if r.action < len(ACTIONS) else r.action}/{describe_reason(r.reason)}"
        chunk = " +chunk" if st.pending_mask else ""
        paused = " paused" if st.paused else ""
        rows.append((
            r.vault,
            f"{a.equity[i]:,.2f}",
            band + flag,
            _fmt_ratio(float(a.margin_ratio[i])),
            _fmt_ratio(float(a.liquidation_distance[i]), pct=True),
            says + paused,
            f"{last_kind} {_age(now, last_ts)}" if last_ts else "never",
            (pending.get(r.vault.lower(), "-")) + chunk,
        ))
    widths = [max(len(h), *(len(row[k]) for row in rows)) if rows else len(h) for k, h in enumerate(head)]
    print(f"block {snap.block.number} ({time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(now))} UTC), {snap.n} vault(s)", file=out)
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)), file=out)


# --- registration --------------------------------------------------------------------------------------------------

_ERRORS = (ConfigError, ExecutorError, ReadError, StrategyError, OSError, ValueError)


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except KeyboardInterrupt:
            return 0
        except _ERRORS as exc:
            print(f"keeper: error: {' '.join(str(exc).split())}", file=sys.stderr)
            return EXIT_ERROR
        except Exception as exc:  # the last line of defence: still one line, never a traceback
            print(f"keeper: error: unexpected {type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
            return EXIT_ERROR

    return run


def register(subparsers: Any) -> None:
    config_help = "keeper YAML file (default: $KEEPER_CONFIG); secrets only from KEEPER_PRIVATE_KEY / KEEPER_KEYFILE_PASSWORD"
    run = subparsers.add_parser(
        "run",
        help="run the keeper loop: read every vault each block, decide, send, until SIGINT/SIGTERM",
        description=(
            "Run the keeper loop. Every new block: one VaultLens eth_call for all vaults, strategy targets, the "
            "planner's guards (liquidation avoidance > ripcord > out-of-band rebalance > chunk iteration > "
            "retarget), then transactions through the executor (journalled, replaced when stuck). SIGINT/SIGTERM "
            "finish the current block and exit 0. Metrics on /metrics, liveness on /health."
        ),
        epilog="example: KEEPER_PRIVATE_KEY=0x... keeper run --config keeper.yaml   (docs/KEEPER.md)",
    )
    run.add_argument("--config", metavar="FILE", help=config_help)
    run.set_defaults(handler=_guard(cmd_run))

    once = subparsers.add_parser(
        "once",
        help="handle the latest block once; with --dry-run print what would be sent and send nothing",
        description=(
            "Read the latest block, decide, and either send (like one iteration of `run`) or, with --dry-run, print "
            "each planned call with its predicted outcome and an eth_call simulation, without signing anything."
        ),
        epilog="example: keeper once --config keeper.yaml --dry-run --from 0xYourKeeperAddress",
    )
    once.add_argument("--config", metavar="FILE", help=config_help)
    once.add_argument("--dry-run", action="store_true", help="print the plan and simulations; send nothing (no signer needed)")
    once.add_argument("--from", dest="sender", metavar="ADDRESS", help="simulate the calls as this address (default: the signer)")
    once.set_defaults(handler=_guard(cmd_once))

    status = subparsers.add_parser(
        "status",
        help="print a table per vault: equity, leverage vs band, margin, liquidation distance, last action, pending tx",
        description="Read every configured vault at the latest block (one eth_call) and the executor journal, and print a table.",
    )
    status.add_argument("--config", metavar="FILE", help=config_help)
    status.set_defaults(handler=_guard(cmd_status))


__all__ = ["cmd_once", "cmd_run", "cmd_status", "load", "parse_core", "print_status", "register"]
