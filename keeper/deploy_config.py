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
    return DeployConfig(
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
