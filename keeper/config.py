"""Keeper configuration: a YAML file plus KEEPER_* environment overrides, validated at start-up.

Every field has one environment variable: "KEEPER_" + its dotted path in upper case with dots as underscores
(`executor.max_fee_gwei` -> KEEPER_EXECUTOR_MAX_FEE_GWEI, `metrics.port` -> KEEPER_METRICS_PORT, `db` ->
KEEPER_DB). The environment wins over the file. Lists (`vaults`, `executor.reward_percentiles`) are
comma-separated in the environment; booleans accept true/false/1/0/yes/no.

Secrets come only from the environment and are never printed:
    KEEPER_PRIVATE_KEY        hex private key of the signer
    KEEPER_KEYFILE_PASSWORD   password of `keyfile` (or of the ape account named by `account`)
KEEPER_CONFIG names the file for `load_config()` when no path is given.

Every problem raises one `ConfigError` line naming the field (and its variable when it came from the
environment) and the accepted range, e.g. "executor.max_fee_gwei: must be in (0, 10000], got -1".
docs/KEEPER_OPERATIONS.md lists every field with units, defaults and ranges.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from keeper.deploy_config import ConfigError

__all__ = [
    "BreakerConfig",
    "ConfigError",
    "ExecutorConfig",
    "KeeperConfig",
    "MetricsConfig",
    "SignerConfig",
    "StrategyConfig",
    "env_name",
    "load_config",
    "parse_config",
]

GWEI = 10**9
ETH = 10**18
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_PRIVATE_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_SECRETS = {"private_key": "KEEPER_PRIVATE_KEY", "keyfile_password": "KEEPER_KEYFILE_PASSWORD", "password": "KEEPER_KEYFILE_PASSWORD"}


@dataclass(frozen=True)
class ExecutorConfig:
    confirmations: int = 2  # blocks (depth counted from the inclusion block, inclusive)
    stuck_blocks: int = 3  # blocks without inclusion before a fee replacement
    max_fee_gwei: Decimal = Decimal(500)  # hard cap on maxFeePerGas
    max_priority_fee_gwei: Decimal = Decimal(5)  # hard cap on maxPriorityFeePerGas
    min_priority_fee_gwei: Decimal = Decimal("0.01")  # floor on maxPriorityFeePerGas
    fee_history_blocks: int = 10
    reward_percentiles: tuple[float, float, float] = (10.0, 50.0, 90.0)
    base_fee_multiplier_min: Decimal = Decimal("1.5")  # max fee headroom over the next base fee, urgency 0
    base_fee_multiplier_max: Decimal = Decimal(3)  # ... at urgency 1
    gas_limit_multiplier: Decimal = Decimal("1.2")  # gas limit = estimate * this

    @property
    def max_fee_wei(self) -> int:
        return int(self.max_fee_gwei * GWEI)

    @property
    def max_priority_fee_wei(self) -> int:
        return int(self.max_priority_fee_gwei * GWEI)

    @property
    def min_priority_fee_wei(self) -> int:
        return int(self.min_priority_fee_gwei * GWEI)


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int = 3  # consecutive failures that open the breaker
    cooldown_seconds: Decimal = Decimal(300)  # open -> half-open after this long


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9464  # 0 = any free port
    max_block_age_seconds: Decimal = Decimal(120)  # /health turns 503 when the last processed block is older


@dataclass(frozen=True)
class StrategyConfig:
    name: str = "scaling"
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # opaque to the config


@dataclass(frozen=True)
class SignerConfig:
    private_key: str | None = field(default=None, repr=False)
    keyfile: Path | None = None  # encrypted keystore JSON
    password: str | None = field(default=None, repr=False)
    account: str | None = None  # ape account alias (its keyfile is used)

    @property
    def configured(self) -> bool:
        return bool(self.private_key or self.keyfile)


@dataclass(frozen=True)
class KeeperConfig:
    rpc_url: str
    chain_id: int
    vaults: tuple[str, ...]
    lens: str | None = None
    poll_interval_seconds: Decimal = Decimal(2)
    db: Path = Path("keeper.sqlite")  # the executor journal (SQLite)
    dry_run: bool = False
    min_signer_balance_eth: Decimal = Decimal("0.1")
    log_format: str = "kv"
    log_level: str = "INFO"
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    signer: SignerConfig = field(default_factory=SignerConfig)

    @property
    def min_signer_balance_wei(self) -> int:
        return int(self.min_signer_balance_eth * ETH)

    def describe(self) -> dict[str, Any]:
        """The effective settings, secrets redacted, for the start-up log."""
        out: dict[str, Any] = {}
        for spec in _FIELDS:
            out[spec.path] = _get(self, spec.path)
        out["signer"] = {
            "private_key": "<set>" if self.signer.private_key else None,
            "keyfile": str(self.signer.keyfile) if self.signer.keyfile else None,
            "account": self.signer.account,
        }
        return out


# -- field table ---------------------------------------------------------------------------------------------


def env_name(path: str) -> str:
    return "KEEPER_" + path.replace(".", "_").upper()


@dataclass(frozen=True)
class _Field:
    path: str
    parse: Callable[[Any, str], Any]
    required: bool = False


def _fmt(d: Decimal) -> str:
    return format(d.normalize(), "f")


def _decimal(lo: Decimal, hi: Decimal, lo_open: bool = False) -> Callable[[Any, str], Decimal]:
    shown = f"{'(' if lo_open else '['}{_fmt(lo)}, {_fmt(hi)}]"

    def parse(value: Any, name: str) -> Decimal:
        if isinstance(value, bool):
            raise ConfigError(f"{name}: must be a number in {shown}, got {value!r}")
        try:
            d = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise ConfigError(f"{name}: must be a number in {shown}, got {value!r}") from None
        if not d.is_finite() or (d <= lo if lo_open else d < lo) or d > hi:
            raise ConfigError(f"{name}: must be in {shown}, got {value}")
        return d

    return parse


def _int(lo: int, hi: int) -> Callable[[Any, str], int]:
    def parse(value: Any, name: str) -> int:
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}: must be an integer in [{lo}, {hi}], got {value!r}")
        if not lo <= value <= hi:
            raise ConfigError(f"{name}: must be in [{lo}, {hi}], got {value}")
        return value

    return parse


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"{name}: must be true or false, got {value!r}")


def _address(value: Any, name: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ConfigError(f"{name}: YAML read an unquoted 0x... as a number; quote addresses, e.g. '0xabc...'")
    if not isinstance(value, str) or not _ADDRESS.match(value.strip()):
        raise ConfigError(f"{name}: must be a 0x-prefixed 20-byte hex address, got {value!r}")
    return value.strip()


def _optional_address(value: Any, name: str) -> str | None:
    return None if value in (None, "") else _address(value, name)


def _addresses(value: Any, name: str) -> tuple[str, ...]:
    items = [v for v in value.split(",") if v.strip()] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise ConfigError(f"{name}: must be a non-empty list of 0x addresses, got {value!r}")
    out = tuple(_address(v, f"{name}[{i}]") for i, v in enumerate(items))
    lowered = [a.lower() for a in out]
    for i, a in enumerate(lowered):
        if a in lowered[:i]:
            raise ConfigError(f"{name}[{i}]: duplicate address {out[i]}")
    return out


def _percentiles(value: Any, name: str) -> tuple[float, float, float]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or len(items) != 3:
        raise ConfigError(f"{name}: must be three increasing percentiles in [0, 100], got {value!r}")
    parsed = [_decimal(Decimal(0), Decimal(100))(v, name) for v in items]
    if not parsed[0] < parsed[1] < parsed[2]:
        raise ConfigError(f"{name}: must be three increasing percentiles in [0, 100], got {value!r}")
    return (float(parsed[0]), float(parsed[1]), float(parsed[2]))


def _url(value: Any, name: str) -> str:
    if not isinstance(value, str) or not re.match(r"^(https?|wss?)://\S+$", value.strip()):
        raise ConfigError(f"{name}: must be an http(s):// or ws(s):// URL, got {value!r}")
    return value.strip()


def _text(choices: tuple[str, ...] | None = None) -> Callable[[Any, str], str]:
    def parse(value: Any, name: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{name}: must be a non-empty string, got {value!r}")
        if choices is not None and value.strip() not in choices:
            raise ConfigError(f"{name}: must be one of {', '.join(choices)}, got {value!r}")
        return value.strip()

    return parse


def _path(value: Any, name: str) -> Path:
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise ConfigError(f"{name}: must be a file path, got {value!r}")
    return Path(str(value).strip()).expanduser()


def _optional_path(value: Any, name: str) -> Path | None:
    return None if value in (None, "") else _path(value, name)


def _optional_text(value: Any, name: str) -> str | None:
    return None if value in (None, "") else _text()(value, name)


def _params(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: must be a mapping, got {type(value).__name__}")
    return MappingProxyType(dict(value))


_D = Decimal
_FIELDS: tuple[_Field, ...] = (
    _Field("rpc_url", _url, required=True),
    _Field("chain_id", _int(1, 2**53), required=True),
    _Field("vaults", _addresses, required=True),
    _Field("lens", _optional_address),
    _Field("poll_interval_seconds", _decimal(_D(0), _D(3600), lo_open=True)),
    _Field("db", _path),
    _Field("dry_run", _bool),
    _Field("min_signer_balance_eth", _decimal(_D(0), _D(1_000_000))),
    _Field("log_format", _text(("kv", "json"))),
    _Field("log_level", lambda v, n: _text(("DEBUG", "INFO", "WARNING", "ERROR"))(str(v).upper(), n)),
    _Field("account", _optional_text),
    _Field("keyfile", _optional_path),
    _Field("executor.confirmations", _int(1, 64)),
    _Field("executor.stuck_blocks", _int(1, 1000)),
    _Field("executor.max_fee_gwei", _decimal(_D(0), _D(10_000), lo_open=True)),
    _Field("executor.max_priority_fee_gwei", _decimal(_D(0), _D(1_000), lo_open=True)),
    _Field("executor.min_priority_fee_gwei", _decimal(_D(0), _D(1_000))),
    _Field("executor.fee_history_blocks", _int(1, 1024)),
    _Field("executor.reward_percentiles", _percentiles),
    _Field("executor.base_fee_multiplier_min", _decimal(_D(1), _D(10))),
    _Field("executor.base_fee_multiplier_max", _decimal(_D(1), _D(10))),
    _Field("executor.gas_limit_multiplier", _decimal(_D(1), _D(3))),
    _Field("breaker.failure_threshold", _int(1, 100)),
    _Field("breaker.cooldown_seconds", _decimal(_D(0), _D(86_400), lo_open=True)),
    _Field("metrics.enabled", _bool),
    _Field("metrics.host", _text()),
    _Field("metrics.port", _int(0, 65_535)),
    _Field("metrics.max_block_age_seconds", _decimal(_D(0), _D(86_400), lo_open=True)),
    _Field("strategy.name", _text()),
    _Field("strategy.params", _params),
)
_SECTIONS = ("executor", "breaker", "metrics", "strategy")
_FIELD_BY_PATH = {f.path: f for f in _FIELDS}
ENV_VARS: tuple[str, ...] = tuple(env_name(f.path) for f in _FIELDS if f.path != "strategy.params") + (
    "KEEPER_PRIVATE_KEY",
    "KEEPER_KEYFILE_PASSWORD",
    "KEEPER_CONFIG",
)


def _get(cfg: KeeperConfig, path: str) -> Any:
    if path in ("account", "keyfile"):
        return getattr(cfg.signer, path)
    obj: Any = cfg
    for part in path.split("."):
        obj = getattr(obj, part)
    return dict(obj) if isinstance(obj, Mapping) else obj


def _flatten(raw: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        key = str(key)
        if key in _SECRETS:
            raise ConfigError(f"{key}: secrets are read from {_SECRETS[key]} only; remove it from the file")
        if key in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{key}: must be a mapping, got {type(value).__name__}")
            for sub, sub_value in value.items():
                if str(sub) in _SECRETS:
                    raise ConfigError(f"{key}.{sub}: secrets are read from {_SECRETS[str(sub)]} only; remove it from the file")
                flat[f"{key}.{sub}"] = sub_value
        else:
            flat[key] = value
    for path in flat:
        if path not in _FIELD_BY_PATH:
            near = sorted(p for p in _FIELD_BY_PATH if p.split(".")[0] == path.split(".")[0])
            hint = f" (known: {', '.join(near)})" if near else ""
            raise ConfigError(f"{path}: unknown field{hint}")
    return flat


def parse_config(raw: Mapping[str, Any] | None, env: Mapping[str, str] | None = None) -> KeeperConfig:
    """Validate a config mapping (as loaded from YAML) with `env` overrides into a frozen KeeperConfig."""
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(f"config: must be a mapping at the top level, got {type(raw).__name__}")
    env = os.environ if env is None else env
    flat = _flatten(raw or {})
    values: dict[str, Any] = {}
    for spec in _FIELDS:
        var = env_name(spec.path)
        if spec.path != "strategy.params" and env.get(var, "").strip() != "":
            values[spec.path] = spec.parse(env[var], f"{spec.path} ({var})")
        elif spec.path in flat and flat[spec.path] is not None:
            values[spec.path] = spec.parse(flat[spec.path], spec.path)
        elif spec.required:
            raise ConfigError(f"{spec.path}: required (in the config file or {var})")

    def section(prefix: str) -> dict[str, Any]:
        return {p.split(".", 1)[1]: v for p, v in values.items() if p.startswith(prefix + ".")}

    executor = ExecutorConfig(**section("executor"))
    if executor.max_priority_fee_gwei > executor.max_fee_gwei:
        raise ConfigError(
            f"executor.max_priority_fee_gwei: must be <= executor.max_fee_gwei ({_fmt(executor.max_fee_gwei)}),"
            f" got {_fmt(executor.max_priority_fee_gwei)}"
        )
    if executor.min_priority_fee_gwei > executor.max_priority_fee_gwei:
        raise ConfigError(
            f"executor.min_priority_fee_gwei: must be <= executor.max_priority_fee_gwei"
            f" ({_fmt(executor.max_priority_fee_gwei)}), got {_fmt(executor.min_priority_fee_gwei)}"
        )
    if executor.base_fee_multiplier_max < executor.base_fee_multiplier_min:
        raise ConfigError(
            f"executor.base_fee_multiplier_max: must be >= executor.base_fee_multiplier_min"
            f" ({_fmt(executor.base_fee_multiplier_min)}), got {_fmt(executor.base_fee_multiplier_max)}"
        )
    signer = _signer(values, env)
    dry_run = bool(values.get("dry_run", False))
    if not dry_run and not signer.configured:
        raise ConfigError("signer: set KEEPER_PRIVATE_KEY, or keyfile (KEEPER_KEYFILE) or account (KEEPER_ACCOUNT)")
    top = {
        k: v
        for k, v in values.items()
        if "." not in k and k not in ("account", "keyfile")
    }
    return KeeperConfig(
        **top,
        executor=executor,
        breaker=BreakerConfig(**section("breaker")),
        metrics=MetricsConfig(**section("metrics")),
        strategy=StrategyConfig(**section("strategy")),
        signer=signer,
    )


def _ape_keyfile(alias: str, env: Mapping[str, str]) -> Path:
    data = Path(env["APE_DATA_FOLDER"]) if env.get("APE_DATA_FOLDER") else Path.home() / ".ape"
    return data / "accounts" / f"{alias}.json"


def _signer(values: Mapping[str, Any], env: Mapping[str, str]) -> SignerConfig:
    key = env.get("KEEPER_PRIVATE_KEY", "").strip() or None
    if key is not None and not _PRIVATE_KEY.match(key):
        raise ConfigError("KEEPER_PRIVATE_KEY: must be 32 bytes of hex (64 hex digits, optional 0x), got <redacted>")
    keyfile: Path | None = values.get("keyfile")
    account: str | None = values.get("account")
    if keyfile is None and account is not None:
        keyfile = _ape_keyfile(account, env)
    password = env.get("KEEPER_KEYFILE_PASSWORD")
    if key is None and keyfile is not None:
        name = "keyfile" if values.get("keyfile") is not None else f"account ({account})"
        if not keyfile.is_file():
            raise ConfigError(f"{name}: keyfile {keyfile} does not exist")
        if password is None:
            raise ConfigError(f"KEEPER_KEYFILE_PASSWORD: required to decrypt {keyfile}")
    return SignerConfig(private_key=key, keyfile=keyfile, password=password, account=account)


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> KeeperConfig:
    """Read the YAML file (`path`, else $KEEPER_CONFIG, else no file: environment only) and validate it."""
    env = os.environ if env is None else env
    return parse_config(read_config_file(path, env), env)


def read_config_file(path: str | Path | None, env: Mapping[str, str]) -> Any:
    """The parsed YAML of `path` (else $KEEPER_CONFIG), None without a file; one-line errors."""
    chosen = path if path is not None else (env.get("KEEPER_CONFIG") or None)
    if chosen is None:
        return None
    file = Path(chosen)
    try:
        return yaml.safe_load(file.read_text())
    except OSError as exc:
        raise ConfigError(f"config file {file}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {file}:{where} invalid YAML") from None
