"""A private Anvil with the whole stack (token, oracle adapter, market, feeds, vaults, lens, batcher) deployed
through web3 alone, for the keeper-core suite and bench/bench_keeper.py (no ape, no pytest dependency).

It replicates what keeper.chain.deployer.deploy_stack and tests/vault/helpers.VaultEnv do with ape objects:
mock collateral and feeds, two listed assets (ETH, BTC), LP liquidity and insurance, one module per asset list,
vaults with the ETH2x-FLI shaped policy and KEEPER_ROLE granted to the keeper (and to the batcher).

Setup transactions use Anvil's unlocked dev accounts (eth_sendTransaction); the keeper under test signs its
own transactions with KEEPER_KEY through the executor.

Units: WAD (1e18) for prices, sizes, leverage and params; token units for ERC-20 amounts.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from eth_abi.abi import decode as abi_decode
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.providers.rpc import HTTPProvider
from web3.types import RPCEndpoint, RPCResponse
from keeper.chain.anvil import AnvilNode, free_port  # noqa: F401 (re-exported to the tests)
from keeper.deploy_config import VAULT_PARAM_FIELDS, default_vault_params

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".build" / "__local__.json"
WAD = 10**18

# Anvil's default dev accounts (mnemonic "test test ... junk"), by role.
GOVERNANCE_INDEX = 0
KEEPER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # account 1
RIVAL_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"  # account 2
KEEPER_INDEX = 1
RIVAL_INDEX = 2
DEPOSITOR_INDEX = 3
OUTSIDER_INDEX = 4

PARAM_FIELDS = VAULT_PARAM_FIELDS  # IScalingVault.Params, in declaration order


def default_params(decimals: int, **overrides: int) -> dict[str, int]:
    """Target 2x, band 1.7-2.3, ripcord 2.7x, cap 3x (the ETH2x-FLI shape: the deploy config's defaults)."""
    p = default_vault_params(decimals)
    p.update(overrides)
    return p


def params_tuple(p: dict[str, int]) -> tuple[int, ...]:
    return tuple(p[k] for k in PARAM_FIELDS)


def artifact(name: str) -> dict[str, Any]:
    if not BUILD.is_file():
        raise FileNotFoundError(f"{BUILD} is missing: run `ape compile` first")
    types: dict[str, Any] = json.loads(BUILD.read_text())["contractTypes"]
    return dict(types[name])


def all_abis() -> list[list[dict[str, Any]]]:
    types: dict[str, Any] = json.loads(BUILD.read_text())["contractTypes"]
    return [list(t["abi"]) for t in types.values()]


class TxFailed(RuntimeError):
    def __init__(self, what: str, data: str) -> None:
        super().__init__(f"{what} reverted: {data}")
        self.data = data


@dataclass
class Stack:
    """The deployed contracts and the helpers a keeper scenario needs."""

    node: AnvilNode
    w3: Web3
    decimals: int
    token: Contract
    oracle: Contract
    market: Contract
    lens: Contract
    feeds: dict[str, Contract]
    asset_ids: dict[str, int]
    prices: dict[str, int]  # WAD, last set
    max_age: int = 3600
    modules: dict[tuple[str, ...], Contract] = field(default_factory=dict)
    vaults: list[Contract] = field(default_factory=list)
    batcher: Contract | None = None

    # --- accounts ---------------------------------------------------------------------------------

    @property
    def accounts(self) -> list[str]:
        return [Web3.to_checksum_address(a) for a in self.w3.eth.accounts]

    @property
    def governance(self) -> str:
        return self.accounts[GOVERNANCE_INDEX]

    @property
    def keeper(self) -> str:
        return self.accounts[KEEPER_INDEX]

    @property
    def rival(self) -> str:
        return self.accounts[RIVAL_INDEX]

    @property
    def depositor(self) -> str:
        return self.accounts[DEPOSITOR_INDEX]

    def units(self, amount: float | int) -> int:
        return int(round(amount * 10**self.decimals))

    # --- low level --------------------------------------------------------------------------------

    def contract(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact(name)["abi"])

    def transact(self, fn: Any, sender: str | None = None, gas: int = 12_000_000) -> Any:
        sender = sender or self.governance
        tx = {"from": sender, "gas": gas}
        try:
            tx_hash = fn.transact(tx)
        except ContractLogicError as exc:
            raise TxFailed(str(fn.fn_name), str(exc.data)) from None
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
        if receipt["status"] != 1:
            raise TxFailed(str(fn.fn_name), "status 0")
        return receipt

    def warp(self, seconds: int, refresh: bool = True) -> None:
        """Advance time by `seconds` (next block); refresh every feed so prices stay fresh."""
        self.node.rpc("evm_increaseTime", seconds)
        if refresh:
            self.refresh_prices()
        else:
            self.node.mine()

    def timestamp(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    # --- prices -----------------------------------------------------------------------------------

    def set_price(self, symbol: str, price_wad: int) -> None:
        feed = self.feeds[symbol]
        self.prices[symbol] = price_wad
        self.transact(feed.functions.setAnswer(price_wad // 10**10))  # feeds have 8 decimals

    def set_price_at(self, symbol: str, price_wad: int, timestamp: int) -> None:
        self.prices[symbol] = price_wad
        self.transact(self.feeds[symbol].functions.setAnswerAt(price_wad // 10**10, timestamp))

    def refresh_prices(self) -> None:
        for sym, price in list(self.prices.items()):
            self.set_price(sym, price)

    def scale_prices(self, percent: int) -> None:
        for sym in list(self.prices):
            self.set_price(sym, self.prices[sym] * percent // 100)

    # --- vaults -----------------------------------------------------------------------------------

    def module(self, symbols: tuple[str, ...]) -> Contract:
        if symbols not in self.modules:
            ids = [self.asset_ids[s] for s in symbols]
            self.modules[symbols] = deploy(self, "ScalingVaultPerpModule", self.market.address, ids)
        return self.modules[symbols]

    def deploy_vault(
        self,
        weights: dict[str, float] | None = None,
        params: dict[str, int] | None = None,
        caps: dict[str, int] | None = None,
        keepers: tuple[str, ...] | None = None,
    ) -> Contract:
        weights = weights or {"ETH": 0.6, "BTC": 0.4}
        symbols = tuple(weights)
        assets = [
            (self.asset_ids[s], int(round(w * WAD)), (caps or {}).get(s, 50_000_000 * WAD)) for s, w in weights.items()
        ]
        p = params or default_params(self.decimals)
        vault = deploy(
            self, "ScalingVault", self.market.address, "Scaled 2x", "sv2x", self.governance, assets,
            params_tuple(p), self.module(symbols).address,
        )
        role = vault.functions.KEEPER_ROLE().call()
        for k in keepers if keepers is not None else (self.keeper,):
            self.transact(vault.functions.grantRole(role, k))
        if self.batcher is not None:
            self.transact(vault.functions.grantRole(role, self.batcher.address))
        self.vaults.append(vault)
        return vault

    def deposit(self, vault: Contract, amount: int, account: str | None = None) -> None:
        account = account or self.depositor
        self.transact(self.token.functions.mint(account, amount))
        self.transact(self.token.functions.approve(vault.address, 2**256 - 1), sender=account)
        self.transact(vault.functions.deposit(amount, account), sender=account)

    def plan(self, vault: Contract) -> tuple[int, int, list[int]]:
        action, reason, sizes = vault.functions.shouldRebalance().call()
        return int(action), int(reason), [int(s) for s in sizes]

    def adjustments(self, vault: Contract, sizes: list[int]) -> list[tuple[int, int, int]]:
        ids = [int(i) for i in vault.functions.assetIds().call()]
        return [(ids[i], s, 0) for i, s in enumerate(sizes) if s != 0]

    def rebalance_to_target(self, vault: Contract, sender: str | None = None) -> Any:
        action, reason, sizes = self.plan(vault)
        assert action == 1, (action, reason)
        return self.transact(vault.functions.rebalance(self.adjustments(vault, sizes)), sender=sender or self.keeper)

    def account(self, vault: Contract) -> tuple[bool, int, int, int, int]:
        ok, equity, gross, maint, lev = vault.functions.accountView().call()
        return bool(ok), int(equity), int(gross), int(maint), int(lev)

    def leverage(self, vault: Contract) -> int:
        return self.account(vault)[4]

    def set_params(self, vault: Contract, **overrides: int) -> None:
        raw = vault.functions.params().call()
        p = dict(zip(PARAM_FIELDS, (int(v) for v in raw)))
        p.update(overrides)
        self.transact(vault.functions.setParams(params_tuple(p)))

    def deploy_batcher(self, operator: str | None = None) -> Contract:
        self.batcher = deploy(self, "KeeperBatcher", self.governance, [operator or self.keeper])
        role = None
        for v in self.vaults:
            role = role or v.functions.KEEPER_ROLE().call()
            self.transact(v.functions.grantRole(role, self.batcher.address))
        return self.batcher


def deploy(stack_or_w3: Stack | Web3, name: str, *args: Any, sender: str | None = None) -> Contract:
    w3 = stack_or_w3.w3 if isinstance(stack_or_w3, Stack) else stack_or_w3
    sender = sender or Web3.to_checksum_address(w3.eth.accounts[GOVERNANCE_INDEX])
    ct = artifact(name)
    factory = w3.eth.contract(abi=ct["abi"], bytecode=ct["deploymentBytecode"]["bytecode"])
    tx_hash = factory.constructor(*args).transact({"from": sender, "gas": 29_000_000})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    if receipt["status"] != 1:
        raise TxFailed(f"deploy {name}", "status 0")
    return w3.eth.contract(address=receipt["contractAddress"], abi=ct["abi"])


ASSETS = (
    # symbol, price, skew scale, max open interest (WAD sizes)
    ("ETH", 2000, 1_000_000, 100_000),
    ("BTC", 60_000, 50_000, 5_000),
)


def start_stack(node: AnvilNode | None = None, decimals: int = 6, max_funding_rate: int = 5 * WAD // 100) -> Stack:
    """Start anvil (unless given) and deploy token, oracle adapter, market with ETH and BTC, and the lens.

    max_funding_rate = 0 freezes equity between blocks (the differential tests compare exact integers across a
    block boundary)."""
    node = node or AnvilNode("--gas-limit", "100000000")
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    gov = Web3.to_checksum_address(w3.eth.accounts[GOVERNANCE_INDEX])
    token = deploy(w3, "MockERC20", "Mock USD", "mUSD", decimals)
    oracle = deploy(w3, "ChainlinkOracleAdapter", gov, "0x" + "00" * 20, 3600)
    risk = (2 * WAD // 1000, WAD // 5, WAD // 10, 2 * WAD, 1000 * WAD)
    market = deploy(w3, "PerpMarket", token.address, oracle.address, gov, risk)
    lens = deploy(w3, "VaultLens")
    stack = Stack(
        node=node, w3=w3, decimals=decimals, token=token, oracle=oracle, market=market, lens=lens,
        feeds={}, asset_ids={}, prices={},
    )
    for symbol, price, skew_scale, max_oi in ASSETS:
        feed = deploy(w3, "MockAggregator", 8, f"{symbol} / USD", price * 10**8)
        key = symbol.encode().ljust(32, b"\0")
        stack.transact(oracle.functions.setFeed(key, feed.address, 3600))
        cfg = (key, skew_scale * WAD, max_oi * WAD, 4 * WAD // 100, 2 * WAD // 100, 5 * WAD // 10_000, max_funding_rate)
        stack.transact(market.functions.listAsset(cfg))
        stack.asset_ids[symbol] = int(market.functions.assetCount().call()) - 1
        stack.feeds[symbol] = feed
        stack.prices[symbol] = price * WAD
    # Deep enough that third-party skews of 30,000 ETH stay within the pool-exposure bound (PoolExposureExceeded).
    seed = 200_000_000 * 10**decimals
    stack.transact(token.functions.mint(gov, seed + 100_000 * 10**decimals))
    stack.transact(token.functions.approve(market.address, 2**256 - 1))
    stack.transact(market.functions.depositLiquidity(seed, 0))
    stack.transact(market.functions.fundInsurance(100_000 * 10**decimals))
    return stack


def revert_data(exc: ContractLogicError) -> str:
    return exc.data if isinstance(exc.data, str) else "0x"


def decode_error(data: str, types: list[str]) -> tuple[Any, ...]:
    return tuple(abi_decode(types, bytes.fromhex(data[10:])))


class FaultyProvider(HTTPProvider):
    """HTTP provider that counts requests by method and can fail the next k requests of a method
    (`fail[method] = k`) with a connection error or a read timeout (`timeouts = True`) before they reach the node."""

    def __init__(self, url: str) -> None:
        super().__init__(url, request_kwargs={"timeout": 30}, exception_retry_configuration=None)
        self.calls: Counter[str] = Counter()
        self.fail: dict[str, int] = {}
        self.timeouts = False

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        self.calls[str(method)] += 1
        left = self.fail.get(str(method), 0)
        if left > 0:
            self.fail[str(method)] = left - 1
            if self.timeouts:
                raise requests.exceptions.ReadTimeout(f"{method}: read timed out (injected)")
            raise requests.exceptions.ConnectionError(f"{method}: connection reset (injected)")
        return super().make_request(method, params)

    def reset(self) -> None:
        self.calls.clear()
        self.fail.clear()
