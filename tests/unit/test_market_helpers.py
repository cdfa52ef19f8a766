"""Shared helpers for the PerpMarket unit tests (this module holds no tests).

- `reverts_with(error, *args)`: the transaction must revert with exactly this custom error and these arguments,
  compared as ABI-encoded bytes. `ape.reverts(SomeError)` is not used for errors on purpose: it passes without
  checking anything when ape cannot decode the revert data as the called contract's error, which is the case for
  every oracle error (StalePrice, NonPositivePrice, ...) bubbling up through the market.
- `call_revert(method, *args)` / `deploy_revert(container, *args)` == `error(ErrorClass, *args)`: the same check
  on a raw eth_call at the head block, for errors raised below the called contract (ape spends seconds per such
  revert walking the trace) and for constructors.
- `Driver`: sends market actions at chosen block timestamps and computes what each one must do with
  keeper/market_math.py from the on-chain state before it (the reference model). `Driver.trade` and
  `Driver.liquidate` check every event field, return value and state change against the model.
- `check_accounting_identity`: invariant MKT-1, asserted after every test that imports it; `fresh_feeds` re-posts
  the mock prices when each test starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ape
import pytest
from ape.exceptions import ContractLogicError, CustomError
from eth_abi import encode
from eth_utils import keccak
from web3.exceptions import ContractLogicError as Web3ContractLogicError

from keeper import market_math as mm

WAD = mm.WAD
MAX_UINT = 2**256 - 1
ETH, BTC = 0, 1
ETH_PRICE = 2_000 * WAD
BTC_PRICE = 60_000 * WAD
FEED_DECIMALS = 8
FEED_MAX_AGE = 3_600

# Deployed parameters (tests/conftest.py with keeper/deploy_config.py defaults), restated so that a change there
# shows up as a failing test instead of silently moving every expectation.
ETH_CONFIG = (b"ETH".ljust(32, b"\0"), 10**6 * WAD, 10**5 * WAD, 4 * 10**16, 2 * 10**16, 5 * 10**14, 5 * 10**16)
BTC_CONFIG = (b"BTC".ljust(32, b"\0"), 5 * 10**4 * WAD, 5 * 10**3 * WAD, 4 * 10**16, 2 * 10**16, 5 * 10**14, 5 * 10**16)
RISK_PARAMS = (2 * 10**15, 2 * 10**17, 10**17, 2 * WAD, 1_000 * WAD)


# ------------------------------------------------------------------------------------------------ reverts


def _signature(abi: Any) -> str:
    return f"{abi.name}({','.join(i.canonical_type for i in abi.inputs)})"


def encode_error(abi: Any, args: tuple[Any, ...] | list[Any]) -> bytes:
    if len(args) != len(abi.inputs):
        raise TypeError(f"{abi.name} takes {len(abi.inputs)} arguments, got {len(args)}")
    return keccak(text=_signature(abi))[:4] + encode([i.canonical_type for i in abi.inputs], list(args))


def error(error_class: Any, *args: Any) -> bytes:
    """Expected revert data: `error(oracle.StalePrice, key, feed, updatedAt, maxAge, now)`."""
    return encode_error(error_class.abi, args)


def revert_data(exc: ContractLogicError) -> bytes:
    """The raw revert data of a failed transaction, whether or not ape decoded it."""
    if isinstance(exc, CustomError):
        return encode_error(exc.abi, [exc.inputs[i.name] for i in exc.abi.inputs])
    data = getattr(exc.base_err, "data", None)
    if isinstance(data, str) and re.fullmatch(r"0x(?:[0-9a-fA-F]{2})+", data):
        return bytes.fromhex(data[2:])
    raise AssertionError(f"reverted without custom-error data: {exc.revert_message!r}")


@contextmanager
def reverts_with(error_class: Any, *args: Any) -> Iterator[None]:
    """The transaction in the block must revert with exactly this custom error and these arguments.

    Use it for errors of the called contract itself; for errors raised further down (the oracle's), use
    `call_revert`: ape then walks the whole trace looking for the error's ABI, which takes seconds per revert.
    """
    expected = encode_error(error_class.abi, args)
    with pytest.raises(ContractLogicError) as info:
        yield
    actual = revert_data(info.value)
    assert actual == expected, (
        f"expected {error_class.abi.name}{tuple(args)}, got {type(info.value).__name__}: "
        f"{info.value.revert_message} (data 0x{actual.hex()})"
    )


def _raw_revert(tx: dict[str, Any], what: str) -> bytes:
    try:
        ape.chain.provider.web3.eth.call(tx)
    except Web3ContractLogicError as exc:
        if isinstance(exc.data, str) and exc.data.startswith("0x"):
            return bytes.fromhex(exc.data[2:])
        raise AssertionError(f"{what} reverted without data: {exc.message!r}") from exc
    raise AssertionError(f"{what} did not revert")


def call_revert(method: Any, *args: Any, sender: Any = None) -> bytes:
    """Revert data of `method(*args)` as an eth_call on the head block (its timestamp is block.timestamp).

    Raw web3, so nothing is decoded or enriched; compare the result with `error(...)`. Fails if it succeeds.
    """
    tx: dict[str, Any] = {"to": method.contract.address, "data": method.encode_input(*args)}
    if sender is not None:
        tx["from"] = sender.address
    return _raw_revert(tx, str(method))


def deploy_revert(container: Any, *args: Any) -> bytes:
    """Revert data of a deployment, as an eth_call (ape's trace display fails on some reverted deployments)."""
    ctor = container.constructor
    return _raw_revert({"data": bytes(ctor.deployment_bytecode) + bytes(ctor.encode_input(*args))}, "deployment")


def role(name: str) -> bytes:
    return keccak(text=name)


# ------------------------------------------------------------------------------------------------ expectations


@dataclass(frozen=True)
class TradeExpectation:
    price: int
    fill: int
    fee: int  # token units
    to_insurance: int
    realized: int  # token units
    funding_paid: int  # token units, by the trader
    new_size: int
    new_open_notional: int
    index: int
    collateral: int
    pool: int
    insurance: int
    bad_debt: int
    long_oi: int
    short_oi: int
    sum_open_notional: int
    sum_funding_basis: int
    open_mask: int
    reduce_only: bool


@dataclass(frozen=True)
class PoolExpectation:
    value_for_deposit: int  # rounded up (against the depositor)
    value_for_withdrawal: int  # rounded down (against the withdrawer); poolValue()
    trader_claim: int  # rounded up
    reserve: int
    assets: int

    @property
    def free(self) -> int:
        return self.assets - max(self.trader_claim, 0) - self.reserve


@dataclass(frozen=True)
class ClosedPosition:
    asset_id: int
    size: int
    price: int
    settled: int  # token units credited to the account, funding included


@dataclass(frozen=True)
class LiquidationExpectation:
    state: mm.MarginState
    closed: tuple[ClosedPosition, ...]
    reward: int
    to_pool: int
    bad_debt: int
    from_insurance: int
    from_pool: int
    pool: int
    insurance: int


def funding_index_at(state: Any, config: Any, price: int, ts: int) -> int:
    elapsed = ts - state.lastFundingTime
    if elapsed == 0:
        return int(state.fundingIndex)
    skew = state.longOpenInterest - state.shortOpenInterest
    rate = mm.funding_rate(skew, config.skewScale, config.maxFundingRate)
    return state.fundingIndex + mm.funding_index_delta(rate, price, elapsed)


def _bits(mask: int) -> list[int]:
    return [i for i in range(mask.bit_length()) if mask >> i & 1]


class Driver:
    """Sends market actions at chosen timestamps and checks them against the reference model."""

    def __init__(self, market: Any, oracle: Any, token: Any, chain: Any, accounts: Any, feeds: Mapping[int, Any]):
        self.market = market
        self.oracle = oracle
        self.token = token
        self.chain = chain
        self.accounts = list(accounts)
        self.feeds = dict(feeds)
        self.scale = int(market.collateralScale())

    # --- chain ---------------------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.chain.blocks.head.timestamp)

    def next_ts(self, dt: int = 1) -> int:
        """Sets the timestamp of the next block to head + dt and returns it."""
        ts = self.now() + dt
        self.chain.pending_timestamp = ts
        return ts

    def mine_at(self, dt: int) -> int:
        """Mines an empty block dt seconds after head (views then run at that timestamp)."""
        ts = self.now() + dt
        self.chain.mine(timestamp=ts)
        assert self.now() == ts
        return ts

    def set_price(self, asset_id: int, price_wad: int, sender: Any) -> int:
        """A fresh feed answer at the next block; returns that block's timestamp."""
        ts = self.next_ts()
        self.feeds[asset_id].setAnswer(price_wad // 10 ** (18 - FEED_DECIMALS), sender=sender)
        return ts

    def price(self, asset_id: int) -> int:
        return int(self.oracle.getPrice(self.market.assetConfig(asset_id).oracleKey))

    # --- model ---------------------------------------------------------------------------------------

    def index_at(self, asset_id: int, price: int, ts: int) -> int:
        return funding_index_at(self.market.assetState(asset_id), self.market.assetConfig(asset_id), price, ts)

    def expect_trade(self, account: Any, asset_id: int, size_delta: int, price: int, ts: int) -> TradeExpectation:
        m = self.market
        cfg, st, pos = m.assetConfig(asset_id), m.assetState(asset_id), m.position(account, asset_id)
        risk = m.riskParams()
        skew = st.longOpenInterest - st.shortOpenInterest
        index = funding_index_at(st, cfg, price, ts)
        reduce_only = mm.is_reduce_only(pos.size, size_delta)
        fill = mm.fill_price(price, skew, size_delta, cfg.skewScale)
        funding_to_account = mm.wad_to_token_down(-mm.funding_owed(pos.size, index, pos.lastFundingIndex), self.scale)
        trade = mm.apply_trade(pos.size, pos.openNotional, size_delta, fill)
        realized = mm.wad_to_token_down(trade.realized_pnl, self.scale)
        fee = mm.wad_to_token_up(mm.trading_fee(size_delta, fill, cfg.tradingFee), self.scale)
        to_insurance, to_pool = mm.split_fee(fee, risk.insuranceFeeShare)
        collateral = m.collateralOf(account) + funding_to_account + realized - fee
        pool = m.poolAssets() - funding_to_account - realized + to_pool
        insurance = m.insuranceFund() + to_insurance
        mask = m.openAssets(account)
        mask = mask | 1 << asset_id if trade.new_size else mask & ~(1 << asset_id)
        bad_debt = 0
        if reduce_only and mask == 0 and collateral < 0:
            bad_debt = -collateral
            from_insurance = min(bad_debt, insurance)
            insurance -= from_insurance
            pool -= bad_debt - from_insurance
            collateral = 0
        long_oi = st.longOpenInterest - max(pos.size, 0) + max(trade.new_size, 0)
        short_oi = st.shortOpenInterest - max(-pos.size, 0) + max(-trade.new_size, 0)
        basis_old = mm.mul_div_signed(pos.size, pos.lastFundingIndex, WAD, False)
        basis_new = mm.mul_div_signed(trade.new_size, index, WAD, False)
        return TradeExpectation(
            price=price,
            fill=fill,
            fee=fee,
            to_insurance=to_insurance,
            realized=realized,
            funding_paid=-funding_to_account,
            new_size=trade.new_size,
            new_open_notional=trade.new_open_notional,
            index=index,
            collateral=collateral,
            pool=pool,
            insurance=insurance,
            bad_debt=bad_debt,
            long_oi=long_oi,
            short_oi=short_oi,
            sum_open_notional=st.sumOpenNotional - pos.openNotional + trade.new_open_notional,
            sum_funding_basis=st.sumFundingBasis - basis_old + basis_new,
            open_mask=mask,
            reduce_only=reduce_only,
        )

    def expect_margin(self, account: Any, ts: int, prices: Mapping[int, int] | None = None) -> mm.MarginState:
        m = self.market
        marks = []
        for asset_id in _bits(m.openAssets(account)):
            cfg, st, pos = m.assetConfig(asset_id), m.assetState(asset_id), m.position(account, asset_id)
            price = prices[asset_id] if prices and asset_id in prices else self.price(asset_id)
            index = funding_index_at(st, cfg, price, ts)
            marks.append(
                mm.PositionMark(
                    size=pos.size,
                    open_notional=pos.openNotional,
                    funding_owed=mm.funding_owed(pos.size, index, pos.lastFundingIndex),
                    price=price,
                    initial_margin_ratio=cfg.initialMarginRatio,
                    maintenance_margin_ratio=cfg.maintenanceMarginRatio,
                )
            )
        risk = m.riskParams()
        return mm.margin_state(
            m.collateralOf(account), self.scale, marks, risk.liquidationFeeRatio, risk.minKeeperFee, risk.maxKeeperFee
        )

    def expect_pool(self, ts: int) -> PoolExpectation:
        m = self.market
        claim_down = claim_up = 0
        skew_notional = 0
        for asset_id in range(m.assetCount()):
            st = m.assetState(asset_id)
            if st.longOpenInterest == 0 and st.shortOpenInterest == 0:
                continue
            cfg = m.assetConfig(asset_id)
            price = self.price(asset_id)
            skew = st.longOpenInterest - st.shortOpenInterest
            index = funding_index_at(st, cfg, price, ts)
            for down in (True, False):
                pnl = mm.mul_div_signed(skew, price, WAD, not down) - st.sumOpenNotional
                funding = mm.mul_div_signed(skew, index, WAD, down) - st.sumFundingBasis
                if down:
                    claim_down += pnl - funding
                else:
                    claim_up += pnl - funding
            skew_notional += mm.notional_up(skew, price)
        assets = int(m.poolAssets())
        ratio = m.riskParams().lpReserveRatio
        return PoolExpectation(
            value_for_deposit=assets - mm.wad_to_token_down(claim_down, self.scale),
            value_for_withdrawal=assets - mm.wad_to_token_up(claim_up, self.scale),
            trader_claim=mm.wad_to_token_up(claim_up, self.scale),
            reserve=mm.mul_div_up(skew_notional, ratio, WAD * self.scale),
            assets=assets,
        )

    def expect_liquidation(self, account: Any, ts: int) -> LiquidationExpectation:
        m = self.market
        state = self.expect_margin(account, ts)
        collateral = int(m.collateralOf(account))
        pool = int(m.poolAssets())
        insurance = int(m.insuranceFund())
        closed = []
        for asset_id in _bits(m.openAssets(account)):
            pos = m.position(account, asset_id)
            price = self.price(asset_id)
            index = self.index_at(asset_id, price, ts)
            pnl = mm.unrealized_pnl(pos.size, pos.openNotional, price)
            settled = mm.wad_to_token_down(pnl - mm.funding_owed(pos.size, index, pos.lastFundingIndex), self.scale)
            collateral += settled
            pool -= settled
            closed.append(ClosedPosition(asset_id, int(pos.size), price, settled))
        risk = m.riskParams()
        reward = mm.keeper_fee(state.gross_notional, risk.liquidationFeeRatio, risk.minKeeperFee, risk.maxKeeperFee)
        reward //= self.scale
        to_pool = bad_debt = from_insurance = 0
        if collateral >= reward:
            to_pool = collateral - reward
            pool += to_pool
        else:
            bad_debt = reward - collateral
            from_insurance = min(bad_debt, insurance)
            insurance -= from_insurance
            pool -= bad_debt - from_insurance
        return LiquidationExpectation(
            state=state,
            closed=tuple(closed),
            reward=reward,
            to_pool=to_pool,
            bad_debt=bad_debt,
            from_insurance=from_insurance,
            from_pool=bad_debt - from_insurance,
            pool=pool,
            insurance=insurance,
        )

    # --- checked actions -----------------------------------------------------------------------------

    def trade(self, account: Any, asset_id: int, size_delta: int, dt: int = 1) -> tuple[Any, TradeExpectation]:
        """modifyPosition at head + dt with no slippage bound; asserts everything against the model."""
        m = self.market
        price = self.price(asset_id)
        ts = self.next_ts(dt)
        exp = self.expect_trade(account, asset_id, size_delta, price, ts)
        acceptable = MAX_UINT if size_delta > 0 else 0
        receipt = m.modifyPosition(asset_id, size_delta, acceptable, MAX_UINT, sender=account)
        assert receipt.timestamp == ts
        self.assert_trade(receipt, account, asset_id, size_delta, exp)
        return receipt, exp

    def assert_trade(self, receipt: Any, account: Any, asset_id: int, size_delta: int, exp: TradeExpectation) -> None:
        m = self.market
        [log] = receipt.decode_logs(m.PositionModified)
        assert (log.account, log.assetId, log.sizeDelta) == (account.address, asset_id, size_delta)
        assert log.fillPrice == exp.fill
        assert log.fee == exp.fee
        assert log.realizedPnl == exp.realized
        assert log.fundingPaid == exp.funding_paid
        assert (log.newSize, log.newOpenNotional, log.fundingIndex) == (exp.new_size, exp.new_open_notional, exp.index)
        assert tuple(receipt.return_value) == (exp.fill, exp.fee)
        pos = m.position(account, asset_id)
        if exp.new_size:
            assert (pos.size, pos.openNotional, pos.lastFundingIndex) == (
                exp.new_size,
                exp.new_open_notional,
                exp.index,
            )
        else:
            assert (pos.size, pos.openNotional, pos.lastFundingIndex) == (0, 0, 0)
        assert m.collateralOf(account) == exp.collateral
        assert m.poolAssets() == exp.pool
        assert m.insuranceFund() == exp.insurance
        assert m.openAssets(account) == exp.open_mask
        st = m.assetState(asset_id)
        assert (st.fundingIndex, st.lastFundingTime) == (exp.index, receipt.timestamp)
        assert (st.longOpenInterest, st.shortOpenInterest) == (exp.long_oi, exp.short_oi)
        assert (st.sumOpenNotional, st.sumFundingBasis) == (exp.sum_open_notional, exp.sum_funding_basis)
        bad = receipt.decode_logs(m.BadDebt)
        if exp.bad_debt:
            [b] = bad
            assert (b.account, b.amount) == (account.address, exp.bad_debt)
        else:
            assert not bad
        self.assert_identity()

    def liquidate(self, liquidator: Any, account: Any, dt: int = 1) -> tuple[Any, LiquidationExpectation]:
        m = self.market
        ts = self.next_ts(dt)
        exp = self.expect_liquidation(account, ts)
        before = self.token.balanceOf(liquidator)
        bad_debt_before = m.totalBadDebt()
        receipt = m.liquidate(account, sender=liquidator)
        assert receipt.timestamp == ts
        logs = receipt.decode_logs(m.PositionLiquidated)
        assert [(x.account, x.assetId, x.size, x.price, x.realizedPnl) for x in logs] == [
            (account.address, c.asset_id, c.size, c.price, c.settled) for c in exp.closed
        ]
        [done] = receipt.decode_logs(m.AccountLiquidated)
        assert (done.account, done.liquidator) == (account.address, liquidator.address)
        assert (done.equity, done.maintenanceRequirement) == (exp.state.equity, exp.state.maintenance_requirement)
        assert (done.reward, done.toPool) == (exp.reward, exp.to_pool)
        bad = receipt.decode_logs(m.BadDebt)
        if exp.bad_debt:
            [b] = bad
            assert (b.account, b.amount, b.fromInsurance, b.fromPool) == (
                account.address,
                exp.bad_debt,
                exp.from_insurance,
                exp.from_pool,
            )
        else:
            assert not bad
        assert m.totalBadDebt() == bad_debt_before + exp.bad_debt
        assert self.token.balanceOf(liquidator) == before + exp.reward
        assert (m.collateralOf(account), m.openAssets(account)) == (0, 0)
        for c in exp.closed:
            pos = m.position(account, c.asset_id)
            assert (pos.size, pos.openNotional, pos.lastFundingIndex) == (0, 0, 0)
        assert (m.poolAssets(), m.insuranceFund()) == (exp.pool, exp.insurance)
        self.assert_identity()
        return receipt, exp

    # --- invariants ----------------------------------------------------------------------------------

    def _raw_int(self, contract: Any, data: bytes) -> int:
        out = self.chain.provider.web3.eth.call({"to": contract.address, "data": data})
        return int.from_bytes(out, "big", signed=True)

    def assert_identity(self, donated: int = 0) -> None:
        """MKT-1: token.balanceOf(market) == sum(collateral) + pool + insurance (+ tokens sent directly).

        Raw eth_calls: this runs after every trade, and ape's call path costs ~20 ms a call.
        """
        m = self.market
        collateral = sum(self._raw_int(m, m.collateralOf.encode_input(a)) for a in self.accounts)
        pool = self._raw_int(m, m.poolAssets.encode_input())
        insurance = self._raw_int(m, m.insuranceFund.encode_input())
        balance = self._raw_int(self.token, self.token.balanceOf.encode_input(m))
        assert balance == collateral + pool + insurance + donated, "MKT-1"


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def driver(market: Any, oracle: Any, token: Any, chain: Any, accounts: Any, eth_feed: Any, btc_feed: Any) -> Driver:
    return Driver(market, oracle, token, chain, accounts, {ETH: eth_feed, BTC: btc_feed})


@pytest.fixture
def deposit(market: Any, fund: Any, units: Any) -> Any:
    """deposit(account, "1000.5"): mint, approve and deposit margin; returns the amount in token units."""

    def do(account: Any, amount: str | int) -> int:
        value = units(amount)
        fund(account, value)
        market.depositMargin(value, sender=account)
        return int(value)

    return do


@pytest.fixture
def fresh_feeds(eth_feed: Any, btc_feed: Any, governance: Any) -> None:
    """Re-posts both mock answers when the test starts. Chain time follows the wall clock, so the answers posted
    when the session deployed the stack go stale an hour into a long session; no test should depend on that."""
    for feed in (eth_feed, btc_feed):
        feed.setAnswer(feed.latestRoundData().answer, sender=governance)


@pytest.fixture
def check_accounting_identity(driver: Driver) -> Iterator[None]:
    """Asserts MKT-1 on the session market when the test ends (use with autouse in each module)."""
    yield
    driver.assert_identity()
