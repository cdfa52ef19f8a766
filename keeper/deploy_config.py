"""Deployment configuration: load, validate and describe what `ape run deploy` deploys.

A config file (YAML) names the collateral, the assets with their price feeds and market parameters, and the
global risk parameters. On local chains the collateral and feeds may be omitted: mocks are deployed instead.
Every problem is reported as one `ConfigError` line naming the field and the accepted range.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

WAD = 10**18
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class ConfigError(ValueError):
    """A configuration value is missing or out of range; the message is one line naming the field."""


def _wad(value: Any, name: str, lo: Decimal, hi: Decimal) -> int:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ConfigError(f"{name}: must be a number in [{lo}, {hi}], got {value!r}") from None
    if not lo <= d <= hi:
        raise ConfigError(f"{name}: must be in [{lo}, {hi}], got {value}")
    return int(d * WAD)


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: must be an integer in [{lo}, {hi}], got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{name}: must be in [{lo}, {hi}], got {value}")
    return value


def _address(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise ConfigError(f"{name}: must be a 0x-prefixed 20-byte hex address, got {value!r}")
    return value


def oracle_key(symbol: str) -> bytes:
    """bytes32 key of an asset in the oracle adapter: the ASCII symbol, right-padded with zeros."""
    raw = symbol.encode()
    if not 1 <= len(raw) <= 32:
        raise ConfigError(f"assets.symbol: must be 1 to 32 ASCII characters, got {symbol!r}")
    return raw.ljust(32, b"\0")


@dataclass(frozen=True)
class AssetSpec:
    symbol: str
    feed: str | None  # Chainlink aggregator; None on local chains = deploy a MockAggregator
    feed_decimals: int  # decimals of the mock feed (ignored with a real feed: read on-chain)
    initial_price: Decimal  # mock feed's first answer, collateral units per asset unit
    max_age: int  # seconds
    skew_scale: int  # WAD size
    max_open_interest: int  # WAD size per side
    initial_margin_ratio: int  # WAD
    maintenance_margin_ratio: int  # WAD
    trading_fee: int  # WAD
    max_funding_rate: int  # WAD per day

    def market_config(self) -> tuple[bytes, int, int, int, int, int, int]:
        return (
            oracle_key(self.symbol),
            self.skew_scale,
            self.max_open_interest,
            self.initial_margin_ratio,
            self.maintenance_margin_ratio,
            self.trading_fee,
            self.max_funding_rate,
        )


@dataclass(frozen=True)
class RiskSpec:
    liquidation_fee_ratio: int
    insurance_fee_share: int
    lp_reserve_ratio: int
    min_keeper_fee: int
    max_keeper_fee: int

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (
            self.liquidation_fee_ratio,
            self.insurance_fee_share,
            self.lp_reserve_ratio,
            self.min_keeper_fee,
            self.max_keeper_fee,
        )


VAULT_PARAM_FIELDS = (
    "minLeverage",
    "targetLeverage",
    "maxLeverage",
    "leverageCap",
    "tolerance",
    "minImprovement",
    "maxSlippage",
    "rebalanceInterval",
    "chunkCooldown",
    "maxTradeNotional",
    "ripcordLeverage",
    "ripcordSlippage",
    "ripcordCooldown",
    "ripcordMaxTradeNotional",
    "ripcordReward",
    "ripcordMarginBuffer",
)


@dataclass(frozen=True)
class VaultSpec:
    name: str
    symbol: str
    weights: tuple[tuple[str, int], ...]  # (asset symbol, signed WAD weight)
    notional_caps: tuple[tuple[str, int], ...]  # (asset symbol, WAD notional)
    params: dict[str, int]  # IScalingVault.Params by field name, on-chain units

    def params_tuple(self) -> tuple[int, ...]:
        return tuple(self.params[k] for k in VAULT_PARAM_FIELDS)


@dataclass(frozen=True)
class DeployConfig:
    collateral: str | None  # ERC-20 address; None = deploy MockERC20 (local chains only)
    collateral_decimals: int
    sequencer_feed: str | None
    sequencer_grace_period: int
    assets: tuple[AssetSpec, ...]
    risk: RiskSpec
    seed_liquidity: Decimal  # collateral units deposited as LP on local chains
    insurance_seed: Decimal
    vaults: tuple[VaultSpec, ...] = ()
    keeper: str | None = None  # address granted KEEPER_ROLE on every vault (local default: test account 1)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def uses_mocks(self) -> bool:
        return self.collateral is None or any(a.feed is None for a in self.assets)

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        d["assets"] = [
            {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(a).items()} for a in self.assets
        ]
        d["seed_liquidity"] = str(self.seed_liquidity)
        d["insurance_seed"] = str(self.insurance_seed)
        return d


DEFAULT_ASSET = {
    "feed_decimals": 8,
    "max_age": 3600,
    "skew_scale": 1_000_000,
    "max_open_interest": 100_000,
    "initial_margin_ratio": "0.04",
    "maintenance_margin_ratio": "0.02",
    "trading_fee": "0.0005",
    "max_funding_rate": "0.05",
}

DEFAULT_RISK = {
    "liquidation_fee_ratio": "0.002",
    "insurance_fee_share": "0.2",
    "lp_reserve_ratio": "0.1",
    "min_keeper_fee": "2",
    "max_keeper_fee": "1000",
}


DEFAULT_VAULT: dict[str, Any] = {
    "min_leverage": "1.7",
    "target_leverage": "2.0",
    "max_leverage": "2.3",
    "leverage_cap": "3.0",
    "tolerance": "0.05",
    "min_improvement": "0.05",
    "max_slippage": "0.01",
    "rebalance_interval": 86_400,
    "chunk_cooldown": 300,
    "max_trade_notional": 500_000,
    "ripcord_leverage": "2.7",
    "ripcord_slippage": "0.05",
    "ripcord_cooldown": 60,
    "ripcord_max_trade_notional": 1_000_000,
    "ripcord_reward": 10,
    "ripcord_margin_buffer": "0.5",
}


def _parse_vault(i: int, raw: Any, symbols: set[str], decimals: int) -> VaultSpec:
    where = f"vaults[{i}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping")
    v = {**DEFAULT_VAULT, **raw}
    weights_raw = v.get("weights")
    if not isinstance(weights_raw, dict) or not 1 <= len(weights_raw) <= 4:
        raise ConfigError(f"{where}.weights: must map 1 to 4 asset symbols to signed weights (sum of |w| = 1)")
    weights: list[tuple[str, int]] = []
    for sym, w in weights_raw.items():
        if sym not in symbols:
            raise ConfigError(f"{where}.weights: unknown asset {sym!r}; listed: {', '.join(sorted(symbols))}")
        weights.append((sym, _wad(w, f"{where}.weights.{sym}", Decimal(-1), Decimal(1))))
    if sum(abs(w) for _, w in weights) != WAD:
        raise ConfigError(f"{where}.weights: the absolute weights must sum to exactly 1")
    caps_raw = v.get("notional_caps") or {}
    if not isinstance(caps_raw, dict):
        raise ConfigError(f"{where}.notional_caps: must map asset symbols to collateral amounts")
    caps = tuple((sym, _wad(caps_raw.get(sym, 50_000_000), f"{where}.notional_caps.{sym}", Decimal(0), Decimal(10**15))) for sym, _ in weights)
    lev = Decimal(100)
    params = {
        "minLeverage": _wad(v["min_leverage"], f"{where}.min_leverage", Decimal("0.01"), lev),
        "targetLeverage": _wad(v["target_leverage"], f"{where}.target_leverage", Decimal("0.01"), lev),
        "maxLeverage": _wad(v["max_leverage"], f"{where}.max_leverage", Decimal("0.01"), lev),
        "leverageCap": _wad(v["leverage_cap"], f"{where}.leverage_cap", Decimal("0.01"), lev),
        "tolerance": _wad(v["tolerance"], f"{where}.tolerance", Decimal(0), Decimal(1)),
        "minImprovement": _wad(v["min_improvement"], f"{where}.min_improvement", Decimal(0), Decimal(1)),
        "maxSlippage": _wad(v["max_slippage"], f"{where}.max_slippage", Decimal(0), Decimal("0.05")),
        "rebalanceInterval": _int(v["rebalance_interval"], f"{where}.rebalance_interval", 0, 2**32 - 1),
        "chunkCooldown": _int(v["chunk_cooldown"], f"{where}.chunk_cooldown", 0, 2**32 - 1),
        "maxTradeNotional": _wad(v["max_trade_notional"], f"{where}.max_trade_notional", Decimal("0.000001"), Decimal(10**12)),
        "ripcordLeverage": _wad(v["ripcord_leverage"], f"{where}.ripcord_leverage", Decimal("0.01"), lev),
        "ripcordSlippage": _wad(v["ripcord_slippage"], f"{where}.ripcord_slippage", Decimal(0), Decimal("0.1")),
        "ripcordCooldown": _int(v["ripcord_cooldown"], f"{where}.ripcord_cooldown", 0, 2**32 - 1),
        "ripcordMaxTradeNotional": _wad(v["ripcord_max_trade_notional"], f"{where}.ripcord_max_trade_notional", Decimal("0.000001"), Decimal(10**12)),
        "ripcordReward": int(Decimal(str(v["ripcord_reward"])) * 10**decimals),
        "ripcordMarginBuffer": _wad(v["ripcord_margin_buffer"], f"{where}.ripcord_margin_buffer", Decimal(0), Decimal(10)),
    }
    p = params
    order = [("min_leverage", "minLeverage"), ("target_leverage", "targetLeverage"), ("max_leverage", "maxLeverage")]
    for (lo_name, lo), (hi_name, hi) in zip(order, order[1:]):
        if p[lo] > p[hi]:
            raise ConfigError(f"{where}.{lo_name}: must be <= {hi_name} ({p[hi] / WAD})")
    if not p["maxLeverage"] < p["ripcordLeverage"] <= p["leverageCap"]:
        raise ConfigError(f"{where}.ripcord_leverage: must be in (max_leverage, leverage_cap] = ({p['maxLeverage'] / WAD}, {p['leverageCap'] / WAD}]")
    if not p["rebalanceInterval"] >= p["chunkCooldown"] >= p["ripcordCooldown"]:
        raise ConfigError(f"{where}.chunk_cooldown: must satisfy rebalance_interval >= chunk_cooldown >= ripcord_cooldown")
    name = v.get("name", f"Scaled vault {i}")
    symbol = v.get("symbol", f"sv{i}")
    if not isinstance(name, str) or not isinstance(symbol, str):
        raise ConfigError(f"{where}.name: name and symbol must be strings")
    return VaultSpec(name=name, symbol=symbol, weights=tuple(weights), notional_caps=caps, params=params)


def default_vault_params(decimals: int) -> dict[str, int]:
    """IScalingVault.Params of DEFAULT_VAULT (the ETH2x-FLI shape) in on-chain units."""
    return _parse_vault(0, {"weights": {"X": 1}}, {"X"}, decimals).params


def parse_deploy_config(raw: dict[str, Any], *, local: bool) -> DeployConfig:
    if not isinstance(raw, dict):
        raise ConfigError("config: must be a mapping at the top level")
    collateral = raw.get("collateral")
    if collateral is not None:
        collateral = _address(collateral, "collateral")
    elif not local:
        raise ConfigError("collateral: required on non-local networks (the collateral ERC-20 address)")
    decimals = _int(raw.get("collateral_decimals", 6), "collateral_decimals", 0, 18)
    sequencer = raw.get("sequencer_feed")
    if sequencer is not None:
        sequencer = _address(sequencer, "sequencer_feed")
    grace = _int(raw.get("sequencer_grace_period", 3600), "sequencer_grace_period", 0, 86_400)

    assets_raw = raw.get("assets")
    if not isinstance(assets_raw, list) or not assets_raw:
        raise ConfigError("assets: must be a non-empty list of assets (symbol, feed, market parameters)")
    assets: list[AssetSpec] = []
    seen: set[str] = set()
    for i, a in enumerate(assets_raw):
        where = f"assets[{i}]"
        if not isinstance(a, dict):
            raise ConfigError(f"{where}: must be a mapping")
        merged = {**DEFAULT_ASSET, **a}
        symbol = merged.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise ConfigError(f"{where}.symbol: required (e.g. ETH)")
        oracle_key(symbol)
        if symbol in seen:
            raise ConfigError(f"{where}.symbol: duplicate symbol {symbol}")
        seen.add(symbol)
        feed = merged.get("feed")
        if feed is not None:
            feed = _address(feed, f"{where}.feed")
        elif not local:
            raise ConfigError(f"{where}.feed: required on non-local networks (Chainlink aggregator address)")
        try:
            price = Decimal(str(merged.get("initial_price", "0")))
        except InvalidOperation:
            raise ConfigError(f"{where}.initial_price: must be a positive number") from None
        if feed is None and price <= 0:
            raise ConfigError(f"{where}.initial_price: must be > 0 for a mock feed, got {price}")
        skew_scale = _int(merged["skew_scale"], f"{where}.skew_scale", 1, 10**18) * WAD
        max_oi = _int(merged["max_open_interest"], f"{where}.max_open_interest", 1, 10**18) * WAD
        if max_oi > skew_scale // 2:
            raise ConfigError(f"{where}.max_open_interest: must be in [1, skew_scale/2 = {skew_scale // 2 // WAD}]")
        imr = _wad(merged["initial_margin_ratio"], f"{where}.initial_margin_ratio", Decimal("0.01"), Decimal(1))
        mmr = _wad(merged["maintenance_margin_ratio"], f"{where}.maintenance_margin_ratio", Decimal("0.001"), Decimal(1))
        if mmr >= imr:
            raise ConfigError(f"{where}.maintenance_margin_ratio: must be below initial_margin_ratio ({imr / WAD})")
        assets.append(
            AssetSpec(
                symbol=symbol,
                feed=feed,
                feed_decimals=_int(merged["feed_decimals"], f"{where}.feed_decimals", 0, 18),
                initial_price=price,
                max_age=_int(merged["max_age"], f"{where}.max_age", 1, 7 * 86_400),
                skew_scale=skew_scale,
                max_open_interest=max_oi,
                initial_margin_ratio=imr,
                maintenance_margin_ratio=mmr,
                trading_fee=_wad(merged["trading_fee"], f"{where}.trading_fee", Decimal(0), Decimal("0.01")),
                max_funding_rate=_wad(merged["max_funding_rate"], f"{where}.max_funding_rate", Decimal(0), Decimal(1)),
            )
        )

    risk_raw = {**DEFAULT_RISK, **(raw.get("risk") or {})}
    min_fee = _wad(risk_raw["min_keeper_fee"], "risk.min_keeper_fee", Decimal(0), Decimal(10**6))
    max_fee = _wad(risk_raw["max_keeper_fee"], "risk.max_keeper_fee", Decimal(0), Decimal(10**6))
    if min_fee > max_fee:
        raise ConfigError("risk.min_keeper_fee: must not exceed risk.max_keeper_fee")
    risk = RiskSpec(
        liquidation_fee_ratio=_wad(risk_raw["liquidation_fee_ratio"], "risk.liquidation_fee_ratio", Decimal(0), Decimal("0.05")),
        insurance_fee_share=_wad(risk_raw["insurance_fee_share"], "risk.insurance_fee_share", Decimal(0), Decimal(1)),
        lp_reserve_ratio=_wad(risk_raw["lp_reserve_ratio"], "risk.lp_reserve_ratio", Decimal(0), Decimal(1)),
        min_keeper_fee=min_fee,
        max_keeper_fee=max_fee,
    )
    try:
        seed = Decimal(str(raw.get("seed_liquidity", "1000000")))
        insurance = Decimal(str(raw.get("insurance_seed", "10000")))
    except InvalidOperation:
        raise ConfigError("seed_liquidity: must be a non-negative number") from None
    if seed < 0 or insurance < 0:
        raise ConfigError("seed_liquidity: must be a non-negative number")
    vaults_raw = raw.get("vaults") or []
    if not isinstance(vaults_raw, list):
        raise ConfigError("vaults: must be a list of vault definitions")
    symbols = {a.symbol for a in assets}
    vaults = tuple(_parse_vault(i, v, symbols, decimals) for i, v in enumerate(vaults_raw))
    keeper = raw.get("keeper")
    if keeper is not None:
        keeper = _address(keeper, "keeper")
    elif vaults and not local:
        raise ConfigError("keeper: required on non-local networks when vaults are deployed (the keeper's address)")
    return DeployConfig(
        vaults=vaults,
        keeper=keeper,
        collateral=collateral,
        collateral_decimals=decimals,
        sequencer_feed=sequencer,
        sequencer_grace_period=grace,
        assets=tuple(assets),
        risk=risk,
        seed_liquidity=seed,
        insurance_seed=insurance,
    )


def load_deploy_config(path: str | Path, *, local: bool) -> DeployConfig:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config: file not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config: {p}{where} is not valid YAML") from None
    return parse_deploy_config(raw or {}, local=local)
