"""Unit tests of the oracle layer: ChainlinkOracleAdapter, MockAggregator, MockERC20.

Every revert is asserted by its exact custom error name *and all of its arguments*. Two ape limits make the
plain `ape.reverts(contract.Error, **inputs)` too weak on its own here:
- it skips expected inputs whose name the error does not have, and passes when the revert was not decoded as a
  custom error at all;
- with ape-foundry 0.8.12 and anvil 1.7, a reverting `eth_call` (every view, e.g. `getPrice`) reaches ape as a
  pre-formatted message without the revert data, so ape cannot decode the error.
So `revert_of` sends the call itself (web3 `eth_call`, with `from` for state-changing functions, which simulates
the transaction at the head block) and decodes the raw revert data against the contract's ABI. Real reverting
transactions are also checked once through `ape.reverts` (`test_reverting_transactions_through_ape`).

Time: an `eth_call` runs at the head block's timestamp, so tests choose `now` ahead of the head, send their
transactions (whose blocks stay below `now`), then mine one block at exactly `now` before reading.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import ape
import pytest
from eth_abi import decode as abi_decode
from eth_utils import keccak
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError as Web3ContractLogicError

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
WAD = 10**18
DAY = 86_400
MAX_AGE = 3_600
MAX_MAX_AGE = 7 * DAY
MAX_DEVIATION = 2 * 10**17  # 0.2e18
GRACE = 3_600
ERROR_STRING_SELECTOR = HexBytes("0x08c379a0")


def key(symbol: str) -> bytes:
    return symbol.encode().ljust(32, b"\0")


ETH, BTC, USDC, WEIRD, SIX, ZERO_DEC, WAD_DEC, MISSING = (
    key(s) for s in ("ETH", "BTC", "USDC", "WEIRD", "SIX", "ZERO", "WAD", "MISSING")
)


class Status(IntEnum):
    """IPriceOracle.PriceStatus, in declaration order."""

    OK = 0
    UNKNOWN_ASSET = 1
    NON_POSITIVE = 2
    ZERO_TIMESTAMP = 3
    FUTURE_TIMESTAMP = 4
    STALE = 5
    SEQUENCER_DOWN = 6
    SEQUENCER_GRACE = 7
    DEVIATION = 8
    FEED_CALL_FAILED = 9


# ---------------------------------------------------------------------------------------------------- helpers


def _decode_revert(contract_type: Any, data: HexBytes) -> tuple[str, dict[str, Any]]:
    if data[:4] == ERROR_STRING_SELECTOR:
        return "Error", {"message": abi_decode(["string"], data[4:])[0]}
    errors = contract_type.errors
    assert data[:4] in errors, f"revert data {data.hex()} is not an error of {contract_type.name}"
    abi = errors[data[:4]]
    ecosystem = ape.chain.provider.network.ecosystem
    return abi.name, dict(ecosystem.decode_calldata(abi, data[4:]))


def revert_of(contract: Any, method: str, *args: Any, sender: Any = None) -> tuple[str, dict[str, Any]]:
    """(error name, all decoded arguments) of calling `contract.method(*args)`; fails if it does not revert."""
    tx = {"to": contract.address, "data": getattr(contract, method).encode_input(*args)}
    if sender is not None:
        tx["from"] = sender.address
    try:
        ape.chain.provider.web3.eth.call(tx)
    except Web3ContractLogicError as err:
        return _decode_revert(contract.contract_type, HexBytes(err.data))
    raise AssertionError(f"{method}{args} did not revert")


def deploy_revert_of(container: Any, *args: Any, sender: Any) -> tuple[str, dict[str, Any]]:
    """Like `revert_of` for a deployment."""
    data = container.constructor.serialize_transaction(*args).data
    try:
        ape.chain.provider.web3.eth.call({"from": sender.address, "data": HexBytes(data)})
    except Web3ContractLogicError as err:
        return _decode_revert(container.contract_type, HexBytes(err.data))
    raise AssertionError("deployment did not revert")


def events(receipt: Any, event: Any) -> list[dict[str, Any]]:
    return [dict(log.event_arguments) for log in receipt.decode_logs(event)]


def settle(now: int) -> None:
    """Mine one block at `now`: following `eth_call`s see `block.timestamp == now`."""
    ape.chain.mine(timestamp=now)


# ---------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def admin(accounts: Any) -> Any:
    return accounts[0]


@pytest.fixture(scope="module")
def outsider(accounts: Any) -> Any:
    return accounts[9]


@pytest.fixture(scope="module")
def feeds(project: Any, admin: Any) -> dict[str, Any]:
    """Mock feeds by role; answers are set per test."""

    def make(decimals: int, name: str, answer: int) -> Any:
        return project.MockAggregator.deploy(decimals, name, answer, sender=admin)

    return {
        "eth": make(8, "ETH / USD", 2_000 * 10**8),
        "btc": make(8, "BTC / USD", 60_000 * 10**8),
        "btc2": make(18, "BTC / USD (second source)", 60_000 * WAD),
        "usdc": make(6, "USDC / USD", 10**6),
        "six": make(6, "SIX / USD", 3 * 10**6),
        "zero": make(0, "ZERO / USD", 7),
        "wad": make(18, "WAD / USD", 5 * WAD),
        "weird": make(19, "more than 18 decimals", 1),
        "sequencer": make(0, "L2 sequencer uptime", 0),
    }


@pytest.fixture(scope="module")
def adapter(project: Any, admin: Any, feeds: dict[str, Any]) -> Any:
    """L1 adapter (no sequencer feed): ETH 8 dec, USDC and SIX 6 dec, ZERO 0 dec, WAD 18 dec, BTC 8 dec + 18 dec
    secondary with a 1% bound."""
    a = project.ChainlinkOracleAdapter.deploy(admin, ZERO_ADDRESS, 0, sender=admin)
    for asset, feed in ((ETH, "eth"), (BTC, "btc"), (USDC, "usdc"), (SIX, "six"), (ZERO_DEC, "zero"), (WAD_DEC, "wad")):
        a.setFeed(asset, feeds[feed], MAX_AGE, sender=admin)
    a.setSecondaryFeed(BTC, feeds["btc2"], 2 * MAX_AGE, WAD // 100, sender=admin)
    return a


@pytest.fixture(scope="module")
def l2_adapter(project: Any, admin: Any, feeds: dict[str, Any]) -> Any:
    a = project.ChainlinkOracleAdapter.deploy(admin, feeds["sequencer"], GRACE, sender=admin)
    a.setFeed(ETH, feeds["eth"], MAX_AGE, sender=admin)
    return a


@pytest.fixture
def now(chain: Any) -> int:
    """A timestamp ahead of every block the test's own transactions will be mined in."""
    return int(chain.blocks.head.timestamp) + 10_000


@pytest.fixture(scope="module")
def role(adapter: Any) -> HexBytes:
    return HexBytes(adapter.ORACLE_ADMIN_ROLE())


# ---------------------------------------------------------------------------------------------------- deployment


def test_constructor_sets_roles_sequencer_and_emits(project: Any, admin: Any, outsider: Any, feeds: dict[str, Any]):
    a = project.ChainlinkOracleAdapter.deploy(outsider, feeds["sequencer"], DAY, sender=admin)
    assert a.hasRole(a.DEFAULT_ADMIN_ROLE(), outsider)
    assert a.hasRole(a.ORACLE_ADMIN_ROLE(), outsider)
    assert not a.hasRole(a.ORACLE_ADMIN_ROLE(), admin)
    assert a.ORACLE_ADMIN_ROLE() == HexBytes(keccak(text="ORACLE_ADMIN_ROLE"))
    assert a.SEQUENCER_UPTIME_FEED() == feeds["sequencer"].address
    assert a.SEQUENCER_GRACE_PERIOD() == DAY
    receipt = a.creation_metadata.receipt
    assert events(receipt, a.SequencerConfigured) == [
        {"sequencerUptimeFeed": feeds["sequencer"].address, "gracePeriod": DAY}
    ]


def test_constructor_without_sequencer(adapter: Any):
    assert adapter.SEQUENCER_UPTIME_FEED() == ZERO_ADDRESS
    assert adapter.SEQUENCER_GRACE_PERIOD() == 0


def test_constructor_rejects_bad_config(project: Any, admin: Any, feeds: dict[str, Any]):
    c = project.ChainlinkOracleAdapter
    assert deploy_revert_of(c, ZERO_ADDRESS, ZERO_ADDRESS, 0, sender=admin) == ("ZeroAddress", {})
    assert deploy_revert_of(c, admin, ZERO_ADDRESS, DAY + 1, sender=admin) == (
        "InvalidGracePeriod",
        {"gracePeriod": DAY + 1, "max": DAY},
    )
    assert deploy_revert_of(c, admin, admin.address, 0, sender=admin) == ("InvalidFeed", {"feed": admin.address})


# ---------------------------------------------------------------------------------------------------- reads: scaling


@pytest.mark.parametrize(
    "asset,feed,answer,decimals",
    [
        (ETH, "eth", 2_345_678_901_23, 8),  # 2345.67890123
        (SIX, "six", 1_234_567, 6),  # 1.234567
        (ZERO_DEC, "zero", 42, 0),
        (WAD_DEC, "wad", 1, 18),  # smallest WAD price
        (WAD_DEC, "wad", 3 * 10**57, 18),  # near int192.max
    ],
    ids=["8dec", "6dec", "0dec", "18dec-1wei", "18dec-huge"],
)
def test_price_is_scaled_to_wad_exactly(adapter, feeds, admin, now, asset, feed, answer, decimals):
    feeds[feed].setAnswerAt(answer, now - 10, sender=admin)
    settle(now)
    expected = answer * 10 ** (18 - decimals)
    assert adapter.getPrice(asset) == expected
    assert tuple(adapter.tryGetPrice(asset)) == (Status.OK, expected, now - 10)


def test_stored_feed_config(adapter, feeds):
    assert tuple(adapter.primaryFeed(ETH)) == (feeds["eth"].address, 8, MAX_AGE, False)
    assert tuple(adapter.primaryFeed(SIX)) == (feeds["six"].address, 6, MAX_AGE, False)
    assert tuple(adapter.primaryFeed(WAD_DEC)) == (feeds["wad"].address, 18, MAX_AGE, False)
    assert tuple(adapter.primaryFeed(BTC)) == (feeds["btc"].address, 8, MAX_AGE, True)
    assert tuple(adapter.secondaryFeed(BTC)) == (feeds["btc2"].address, 18, 2 * MAX_AGE, WAD // 100)
    assert tuple(adapter.primaryFeed(MISSING)) == (ZERO_ADDRESS, 0, 0, False)
    assert tuple(adapter.secondaryFeed(ETH)) == (ZERO_ADDRESS, 0, 0, 0)


# ---------------------------------------------------------------------------------------------------- reads: failures


def test_unknown_asset(adapter):
    assert revert_of(adapter, "getPrice", MISSING) == ("UnknownAsset", {"asset": MISSING})
    assert tuple(adapter.tryGetPrice(MISSING)) == (Status.UNKNOWN_ASSET, 0, 0)


@pytest.mark.parametrize("answer", [0, -1, -(2**255)], ids=["zero", "minus-one", "int256-min"])
def test_non_positive_answer(adapter, feeds, admin, now, answer):
    feeds["eth"].setAnswerAt(answer, now - 1, sender=admin)
    settle(now)
    assert revert_of(adapter, "getPrice", ETH) == (
        "NonPositivePrice",
        {"asset": ETH, "feed": feeds["eth"].address, "answer": answer},
    )
    assert tuple(adapter.tryGetPrice(ETH)) == (Status.NON_POSITIVE, 0, now - 1)


def test_zero_timestamp(adapter, feeds, admin, now):
    feeds["eth"].setAnswerAt(2_000 * 10**8, 0, sender=admin)
    settle(now)
    assert revert_of(adapter, "getPrice", ETH) == ("ZeroTimestamp", {"asset": ETH, "feed": feeds["eth"].address})
    assert tuple(adapter.tryGetPrice(ETH)) == (Status.ZERO_TIMESTAMP, 0, 0)


def test_future_timestamp(adapter, feeds, admin, now):
    feeds["eth"].setAnswerAt(2_000 * 10**8, now + 1, sender=admin)
    settle(now)
    assert revert_of(adapter, "getPrice", ETH) == (
        "FutureTimestamp",
        {"asset": ETH, "feed": feeds["eth"].address, "updatedAt": now + 1, "nowTs": now},
    )
    assert tuple(adapter.tryGetPrice(ETH)) == (Status.FUTURE_TIMESTAMP, 0, now + 1)


def test_updated_in_the_current_block_is_fresh(adapter, feeds, admin, now):
    feeds["eth"].setAnswerAt(2_000 * 10**8, now, sender=admin)
    settle(now)
    assert tuple(adapter.tryGetPrice(ETH)) == (Status.OK, 2_000 * WAD, now)


def test_stale_boundary(adapter, feeds, admin, now):
    feeds["eth"].setAnswerAt(2_000 * 10**8, now - MAX_AGE, sender=admin)
    feeds["usdc"].setAnswerAt(10**6, now - MAX_AGE - 1, sender=admin)
    settle(now)
    assert adapter.getPrice(ETH) == 2_000 * WAD  # age == maxAge: accepted
    assert revert_of(adapter, "getPrice", USDC) == (
        "StalePrice",
        {"asset": USDC, "feed": feeds["usdc"].address, "updatedAt": now - MAX_AGE - 1, "maxAge": MAX_AGE, "nowTs": now},
    )
    assert tuple(adapter.tryGetPrice(USDC)) == (Status.STALE, 0, now - MAX_AGE - 1)


def test_feed_call_reverts(adapter, feeds, admin):
    feeds["eth"].setRevert(True, sender=admin)
    assert revert_of(adapter, "getPrice", ETH) == ("FeedCallFailed", {"asset": ETH, "feed": feeds["eth"].address})
    assert tuple(adapter.tryGetPrice(ETH)) == (Status.FEED_CALL_FAILED, 0, 0)


@pytest.mark.parametrize(
    "code",
    [b"", bytes.fromhex("602a60005260206000f3")],  # no code; returns a single word (42) to any call
    ids=["no-code", "short-return-data"],
)
def test_malformed_feed(adapter, feeds, chain, code):
    chain.provider.set_code(feeds["usdc"].address, code)
    assert revert_of(adapter, "getPrice", USDC) == ("FeedCallFailed", {"asset": USDC, "feed": feeds["usdc"].address})
    assert tuple(adapter.tryGetPrice(USDC)) == (Status.FEED_CALL_FAILED, 0, 0)


def test_answer_wider_than_int192_is_feed_call_failed(adapter, feeds, admin, now):
    feeds["wad"].setAnswerAt(2**191, now - 1, sender=admin)  # int192.max + 1
    settle(now)
    assert revert_of(adapter, "getPrice", WAD_DEC) == ("FeedCallFailed", {"asset": WAD_DEC, "feed": feeds["wad"].address})
    assert tuple(adapter.tryGetPrice(WAD_DEC)) == (Status.FEED_CALL_FAILED, 0, 0)
    feeds["wad"].setAnswerAt(2**191 - 1, now + 99, sender=admin)
    settle(now + 100)
    assert adapter.getPrice(WAD_DEC) == 2**191 - 1


# ---------------------------------------------------------------------------------------------------- sequencer


def _sequencer(feeds: dict[str, Any], admin: Any, answer: int, started_at: int) -> None:
    feeds["sequencer"].setAnswerAt(answer, started_at, sender=admin)


def test_sequencer_up_after_grace(l2_adapter, feeds, admin, now):
    _sequencer(feeds, admin, 0, now - GRACE - 1)
    feeds["eth"].setAnswerAt(2_000 * 10**8, now - 5, sender=admin)
    settle(now)
    assert l2_adapter.getPrice(ETH) == 2_000 * WAD
    assert tuple(l2_adapter.tryGetPrice(ETH)) == (Status.OK, 2_000 * WAD, now - 5)


def test_sequencer_in_grace_period(l2_adapter, feeds, admin, now):
    _sequencer(feeds, admin, 0, now - GRACE)  # exactly `grace` seconds up: still in grace (Chainlink's `<=`)
    feeds["eth"].setAnswerAt(2_000 * 10**8, now - 5, sender=admin)
    settle(now)
    assert revert_of(l2_adapter, "getPrice", ETH) == (
        "SequencerGracePeriod",
        {"upSince": now - GRACE, "gracePeriod": GRACE, "nowTs": now},
    )
    assert tuple(l2_adapter.tryGetPrice(ETH)) == (Status.SEQUENCER_GRACE, 0, 0)


def test_sequencer_status_change_in_the_future_is_grace(l2_adapter, feeds, admin, now):
    _sequencer(feeds, admin, 0, now + 1)
    settle(now)
    assert revert_of(l2_adapter, "getPrice", ETH) == (
        "SequencerGracePeriod",
        {"upSince": now + 1, "gracePeriod": GRACE, "nowTs": now},
    )
    assert tuple(l2_adapter.tryGetPrice(ETH)) == (Status.SEQUENCER_GRACE, 0, 0)


@pytest.mark.parametrize(
    "answer,started_offset", [(1, -10 * DAY), (2, -10 * DAY), (0, None)], ids=["down", "unknown-answer", "started-0"]
)
def test_sequencer_down(l2_adapter, feeds, admin, now, answer, started_offset):
    started_at = 0 if started_offset is None else now + started_offset
    _sequencer(feeds, admin, answer, started_at)
    feeds["eth"].setAnswerAt(2_000 * 10**8, now - MAX_AGE - 1, sender=admin)  # stale too: the sequencer is reported
    settle(now)
    assert revert_of(l2_adapter, "getPrice", ETH) == ("SequencerDown", {"answer": answer, "startedAt": started_at})
    assert tuple(l2_adapter.tryGetPrice(ETH)) == (Status.SEQUENCER_DOWN, 0, 0)


def test_sequencer_feed_reverts(l2_adapter, feeds, admin):
    feeds["sequencer"].setRevert(True, sender=admin)
    assert revert_of(l2_adapter, "getPrice", ETH) == (
        "FeedCallFailed",
        {"asset": ETH, "feed": feeds["sequencer"].address},
    )
    assert tuple(l2_adapter.tryGetPrice(ETH)) == (Status.FEED_CALL_FAILED, 0, 0)


def test_l1_adapter_ignores_sequencer_state(adapter, feeds, admin, now):
    _sequencer(feeds, admin, 1, now - 1)
    feeds["eth"].setAnswerAt(2_000 * 10**8, now - 1, sender=admin)
    settle(now)
    assert adapter.getPrice(ETH) == 2_000 * WAD


# ---------------------------------------------------------------------------------------------------- secondary feed


def _btc(feeds: dict[str, Any], admin: Any, now: int, primary_answer: int, secondary_wad: int) -> None:
    feeds["btc"].setAnswerAt(primary_answer, now - 1, sender=admin)
    feeds["btc2"].setAnswerAt(secondary_wad, now - 2, sender=admin)
    settle(now)


@pytest.mark.parametrize(
    "secondary",
    [60_000 * WAD, 60_600 * WAD, 59_400 * WAD, 60_123 * WAD],
    ids=["equal", "plus-1pct-boundary", "minus-1pct-boundary", "inside"],
)
def test_deviation_within_bound_returns_primary(adapter, feeds, admin, now, secondary):
    _btc(feeds, admin, now, 60_000 * 10**8, secondary)
    assert adapter.getPrice(BTC) == 60_000 * WAD
    assert tuple(adapter.tryGetPrice(BTC)) == (Status.OK, 60_000 * WAD, now - 1)


@pytest.mark.parametrize(
    "secondary,deviation",
    [
        (60_600 * WAD + 1, WAD // 100 + 1),  # 1 wei beyond +1%: deviation rounds up
        (59_400 * WAD - 1, WAD // 100 + 1),
        (90_000 * WAD, WAD // 2),
        (1, WAD),  # |60000e18 - 1| / 60000e18 is just below 1: rounded up to 1e18
    ],
    ids=["plus-1wei", "minus-1wei", "plus-50pct", "collapsed"],
)
def test_deviation_beyond_bound_fails_closed(adapter, feeds, admin, now, secondary, deviation):
    _btc(feeds, admin, now, 60_000 * 10**8, secondary)
    p = 60_000 * WAD
    assert deviation == -(-abs(p - secondary) * WAD // p)  # the table agrees with ceil(|p - s| * 1e18 / p)
    assert revert_of(adapter, "getPrice", BTC) == (
        "PriceDeviation",
        {"asset": BTC, "primary": p, "secondary": secondary, "deviation": deviation, "maxDeviation": WAD // 100},
    )
    assert tuple(adapter.tryGetPrice(BTC)) == (Status.DEVIATION, 0, now - 1)


def test_failing_secondary_fails_the_asset(adapter, feeds, admin, now):
    feeds["btc"].setAnswerAt(60_000 * 10**8, now - 1, sender=admin)
    feeds["btc2"].setAnswerAt(60_000 * WAD, now - 2 * MAX_AGE - 1, sender=admin)  # secondary maxAge = 2 * MAX_AGE
    settle(now)
    assert revert_of(adapter, "getPrice", BTC) == (
        "StalePrice",
        {
            "asset": BTC,
            "feed": feeds["btc2"].address,
            "updatedAt": now - 2 * MAX_AGE - 1,
            "maxAge": 2 * MAX_AGE,
            "nowTs": now,
        },
    )
    # status of the secondary's failure, the primary's updatedAt
    assert tuple(adapter.tryGetPrice(BTC)) == (Status.STALE, 0, now - 1)

    feeds["btc2"].setRevert(True, sender=admin)
    assert revert_of(adapter, "getPrice", BTC) == ("FeedCallFailed", {"asset": BTC, "feed": feeds["btc2"].address})
    assert tuple(adapter.tryGetPrice(BTC)) == (Status.FEED_CALL_FAILED, 0, now - 1)


def test_primary_failure_is_reported_before_secondary(adapter, feeds, admin, now):
    feeds["btc"].setAnswerAt(-5, now - 1, sender=admin)
    feeds["btc2"].setRevert(True, sender=admin)
    settle(now)
    assert revert_of(adapter, "getPrice", BTC) == (
        "NonPositivePrice",
        {"asset": BTC, "feed": feeds["btc"].address, "answer": -5},
    )


def test_removed_secondary_no_longer_checked(adapter, feeds, admin, now):
    receipt = adapter.removeSecondaryFeed(BTC, sender=admin)
    assert events(receipt, adapter.SecondaryFeedRemoved) == [{"asset": BTC}]
    assert tuple(adapter.primaryFeed(BTC)) == (feeds["btc"].address, 8, MAX_AGE, False)
    assert tuple(adapter.secondaryFeed(BTC)) == (ZERO_ADDRESS, 0, 0, 0)
    _btc(feeds, admin, now, 60_000 * 10**8, 1)
    assert adapter.getPrice(BTC) == 60_000 * WAD
    assert revert_of(adapter, "removeSecondaryFeed", BTC, sender=admin) == ("NoSecondaryFeed", {"asset": BTC})


# ---------------------------------------------------------------------------------------------------- tryGetPrice


@pytest.mark.parametrize("status", list(Status), ids=[s.name for s in Status])
def test_every_status_matches_get_price(l2_adapter, adapter, feeds, admin, now, status):
    """One scenario per status: tryGetPrice returns it, and getPrice succeeds iff OK, else reverts with the
    status's error."""
    oracle = l2_adapter if status in (Status.SEQUENCER_DOWN, Status.SEQUENCER_GRACE) else adapter
    asset = BTC if status == Status.DEVIATION else ETH
    _sequencer(feeds, admin, 0, now - 2 * GRACE)
    answer, updated = 2_000 * 10**8, now - 1
    if status == Status.UNKNOWN_ASSET:
        asset = MISSING
    elif status == Status.NON_POSITIVE:
        answer = 0
    elif status == Status.ZERO_TIMESTAMP:
        updated = 0
    elif status == Status.FUTURE_TIMESTAMP:
        updated = now + 100
    elif status == Status.STALE:
        updated = now - MAX_AGE - 1
    elif status == Status.SEQUENCER_DOWN:
        _sequencer(feeds, admin, 1, now - 2 * GRACE)
    elif status == Status.SEQUENCER_GRACE:
        _sequencer(feeds, admin, 0, now - 1)
    elif status == Status.DEVIATION:
        feeds["btc"].setAnswerAt(60_000 * 10**8, now - 1, sender=admin)
        feeds["btc2"].setAnswerAt(70_000 * WAD, now - 1, sender=admin)
    elif status == Status.FEED_CALL_FAILED:
        feeds["eth"].setRevert(True, sender=admin)
    feeds["eth"].setAnswerAt(answer, updated, sender=admin)
    settle(now)

    got, price, _ = oracle.tryGetPrice(asset)
    assert got == status
    expected_error = {
        Status.UNKNOWN_ASSET: "UnknownAsset",
        Status.NON_POSITIVE: "NonPositivePrice",
        Status.ZERO_TIMESTAMP: "ZeroTimestamp",
        Status.FUTURE_TIMESTAMP: "FutureTimestamp",
        Status.STALE: "StalePrice",
        Status.SEQUENCER_DOWN: "SequencerDown",
        Status.SEQUENCER_GRACE: "SequencerGracePeriod",
        Status.DEVIATION: "PriceDeviation",
        Status.FEED_CALL_FAILED: "FeedCallFailed",
    }
    if status == Status.OK:
        assert price == oracle.getPrice(asset) == 2_000 * WAD
    else:
        assert price == 0
        assert revert_of(oracle, "getPrice", asset)[0] == expected_error[status]


# ---------------------------------------------------------------------------------------------------- admin: setFeed


@pytest.mark.parametrize("decimals", [0, 6, 8, 18])
def test_set_feed_registers_and_emits(project, adapter, admin, now, decimals):
    feed = project.MockAggregator.deploy(decimals, "NEW / USD", 5 * 10**decimals, sender=admin)
    receipt = adapter.setFeed(key("NEW"), feed, MAX_AGE, sender=admin)
    assert events(receipt, adapter.FeedSet) == [
        {"asset": key("NEW"), "feed": feed.address, "decimals": decimals, "maxAge": MAX_AGE}
    ]
    assert tuple(adapter.primaryFeed(key("NEW"))) == (feed.address, decimals, MAX_AGE, False)
    feed.setAnswerAt(5 * 10**decimals, now - 1, sender=admin)
    settle(now)
    assert adapter.getPrice(key("NEW")) == 5 * WAD


def test_set_feed_max_age_range(adapter, admin, feeds):
    for max_age in (1, MAX_MAX_AGE):
        adapter.setFeed(ETH, feeds["eth"], max_age, sender=admin)
        assert adapter.primaryFeed(ETH).maxAge == max_age
    for max_age in (0, MAX_MAX_AGE + 1, 2**24):
        assert revert_of(adapter, "setFeed", ETH, feeds["eth"], max_age, sender=admin) == (
            "InvalidMaxAge",
            {"maxAge": max_age, "min": 1, "max": MAX_MAX_AGE},
        )


def test_set_feed_rejects_more_than_18_decimals(adapter, admin, feeds):
    assert revert_of(adapter, "setFeed", WEIRD, feeds["weird"], MAX_AGE, sender=admin) == (
        "InvalidFeedDecimals",
        {"feed": feeds["weird"].address, "decimals": 19},
    )


def test_set_feed_rejects_non_feeds(adapter, admin, outsider, project):
    token = project.MockERC20.deploy("Token", "TKN", 18, sender=admin)  # has decimals(), not latestRoundData()
    not_a_feed = adapter.address  # code, no decimals()
    for bad in (ZERO_ADDRESS, outsider.address, not_a_feed):
        assert revert_of(adapter, "setFeed", WEIRD, bad, MAX_AGE, sender=admin) == ("InvalidFeed", {"feed": bad})
    # An ERC-20 passes the decimals check; reads then fail closed.
    adapter.setFeed(WEIRD, token, MAX_AGE, sender=admin)
    assert tuple(adapter.tryGetPrice(WEIRD)) == (Status.FEED_CALL_FAILED, 0, 0)


def test_replacing_primary_keeps_secondary(adapter, admin, feeds, project):
    new = project.MockAggregator.deploy(8, "BTC / USD v2", 60_000 * 10**8, sender=admin)
    adapter.setFeed(BTC, new, 2 * MAX_AGE, sender=admin)
    assert tuple(adapter.primaryFeed(BTC)) == (new.address, 8, 2 * MAX_AGE, True)
    assert adapter.secondaryFeed(BTC).feed == feeds["btc2"].address
    assert revert_of(adapter, "setFeed", BTC, feeds["btc2"], MAX_AGE, sender=admin) == (
        "InvalidFeed",
        {"feed": feeds["btc2"].address},
    )


# ---------------------------------------------------------------------------------------------------- admin: secondary


def test_set_secondary_feed_registers_and_emits(adapter, admin, feeds):
    receipt = adapter.setSecondaryFeed(ETH, feeds["wad"], MAX_MAX_AGE, MAX_DEVIATION, sender=admin)
    assert events(receipt, adapter.SecondaryFeedSet) == [
        {"asset": ETH, "feed": feeds["wad"].address, "decimals": 18, "maxAge": MAX_MAX_AGE, "maxDeviation": MAX_DEVIATION}
    ]
    assert tuple(adapter.primaryFeed(ETH)) == (feeds["eth"].address, 8, MAX_AGE, True)
    assert tuple(adapter.secondaryFeed(ETH)) == (feeds["wad"].address, 18, MAX_MAX_AGE, MAX_DEVIATION)


def test_set_secondary_feed_validation(adapter, admin, feeds):
    def err(*args: Any) -> tuple[str, dict[str, Any]]:
        return revert_of(adapter, "setSecondaryFeed", *args, sender=admin)

    assert err(MISSING, feeds["wad"], MAX_AGE, WAD // 100) == ("UnknownAsset", {"asset": MISSING})
    assert err(ETH, feeds["eth"], MAX_AGE, WAD // 100) == ("InvalidFeed", {"feed": feeds["eth"].address})
    for bad in (0, MAX_DEVIATION + 1):
        assert err(ETH, feeds["wad"], MAX_AGE, bad) == ("InvalidMaxDeviation", {"maxDeviation": bad, "max": MAX_DEVIATION})
    for bad in (0, MAX_MAX_AGE + 1):
        assert err(ETH, feeds["wad"], bad, WAD // 100) == ("InvalidMaxAge", {"maxAge": bad, "min": 1, "max": MAX_MAX_AGE})
    assert err(ETH, feeds["weird"], MAX_AGE, WAD // 100) == (
        "InvalidFeedDecimals",
        {"feed": feeds["weird"].address, "decimals": 19},
    )
    assert err(ETH, ZERO_ADDRESS, MAX_AGE, WAD // 100) == ("InvalidFeed", {"feed": ZERO_ADDRESS})
    # smallest accepted deviation
    adapter.setSecondaryFeed(ETH, feeds["wad"], MAX_AGE, 1, sender=admin)
    assert adapter.secondaryFeed(ETH).maxDeviation == 1


def test_remove_asset(adapter, admin):
    receipt = adapter.removeAsset(BTC, sender=admin)
    assert events(receipt, adapter.AssetRemoved) == [{"asset": BTC}]
    assert tuple(adapter.primaryFeed(BTC)) == (ZERO_ADDRESS, 0, 0, False)
    assert tuple(adapter.secondaryFeed(BTC)) == (ZERO_ADDRESS, 0, 0, 0)
    assert revert_of(adapter, "getPrice", BTC) == ("UnknownAsset", {"asset": BTC})
    assert tuple(adapter.tryGetPrice(BTC)) == (Status.UNKNOWN_ASSET, 0, 0)
    assert revert_of(adapter, "removeAsset", BTC, sender=admin) == ("UnknownAsset", {"asset": BTC})


# ---------------------------------------------------------------------------------------------------- roles


@pytest.mark.parametrize(
    "method,args",
    [
        ("setFeed", (ETH, "eth", MAX_AGE)),
        ("setSecondaryFeed", (ETH, "wad", MAX_AGE, WAD // 100)),
        ("removeSecondaryFeed", (BTC,)),
        ("removeAsset", (ETH,)),
    ],
)
def test_admin_functions_need_the_role(adapter, feeds, outsider, role, method, args):
    args = tuple(feeds[a].address if isinstance(a, str) else a for a in args)
    assert revert_of(adapter, method, *args, sender=outsider) == (
        "AccessControlUnauthorizedAccount",
        {"account": outsider.address, "neededRole": role},
    )


def test_role_can_be_granted_and_revoked(adapter, admin, outsider, feeds, role):
    adapter.grantRole(role, outsider, sender=admin)
    adapter.setFeed(key("NEW"), feeds["eth"], MAX_AGE, sender=outsider)
    assert adapter.primaryFeed(key("NEW")).feed == feeds["eth"].address
    adapter.revokeRole(role, outsider, sender=admin)
    assert revert_of(adapter, "removeAsset", key("NEW"), sender=outsider)[0] == "AccessControlUnauthorizedAccount"


def test_reverting_transactions_through_ape(adapter, feeds, outsider, admin, role):
    """The same errors on real transactions, through ape's own custom-error decoding."""
    with ape.reverts(adapter.AccessControlUnauthorizedAccount) as info:
        adapter.setFeed(ETH, feeds["eth"], MAX_AGE, sender=outsider)
    assert type(info.value).__name__ == "AccessControlUnauthorizedAccount"
    assert info.value.inputs == {"account": outsider.address, "neededRole": role}

    with ape.reverts(adapter.InvalidMaxAge) as info:
        adapter.setFeed(ETH, feeds["eth"], 0, sender=admin)
    assert type(info.value).__name__ == "InvalidMaxAge"
    assert info.value.inputs == {"maxAge": 0, "min": 1, "max": MAX_MAX_AGE}


# ---------------------------------------------------------------------------------------------------- mocks


def test_mock_aggregator_metadata(feeds):
    eth = feeds["eth"]
    assert (eth.decimals(), eth.description(), eth.version()) == (8, "ETH / USD", 4)
    assert feeds["weird"].decimals() == 19


def test_mock_aggregator_round_history(project, admin, now, chain):
    feed = project.MockAggregator.deploy(8, "HIST / USD", 100, sender=admin)
    first = tuple(feed.latestRoundData())
    assert first[0] == 1 and first[1] == 100 and first[2] == first[3] > 0 and first[4] == 1

    receipt = feed.setAnswer(200, sender=admin)
    block_ts = chain.blocks[receipt.block_number].timestamp
    assert events(receipt, feed.AnswerUpdated) == [{"current": 200, "roundId": 2, "updatedAt": block_ts}]
    feed.setAnswerAt(-300, 0, sender=admin)
    feed.setAnswerAt(400, now + DAY, sender=admin)

    assert feed.latestRound() == 4
    assert tuple(feed.latestRoundData()) == (4, 400, now + DAY, now + DAY, 4)
    assert tuple(feed.getRoundData(1)) == first
    assert tuple(feed.getRoundData(2)) == (2, 200, block_ts, block_ts, 2)
    assert tuple(feed.getRoundData(3)) == (3, -300, 0, 0, 3)
    assert tuple(feed.getRoundData(4)) == (4, 400, now + DAY, now + DAY, 4)
    for unknown in (0, 5, 2**80 - 1):
        assert revert_of(feed, "getRoundData", unknown) == ("Error", {"message": "No data present"})


def test_mock_aggregator_set_revert(feeds, admin):
    feed = feeds["usdc"]
    feed.setRevert(True, sender=admin)
    assert feed.reverting()
    assert revert_of(feed, "latestRoundData") == ("MockAggregatorReverted", {})
    assert revert_of(feed, "getRoundData", 1) == ("MockAggregatorReverted", {})
    assert feed.decimals() == 6  # immutable, never reverts (the adapter reads it only at registration)
    feed.setRevert(False, sender=admin)
    assert feed.latestRoundData().answer == 10**6


@pytest.mark.parametrize("decimals", [6, 18])
def test_mock_erc20(project, admin, outsider, decimals):
    token = project.MockERC20.deploy("Mock USD", "mUSD", decimals, sender=admin)
    assert (token.name(), token.symbol(), token.decimals(), token.totalSupply()) == ("Mock USD", "mUSD", decimals, 0)
    token.mint(admin, 5 * 10**decimals, sender=outsider)  # open mint
    assert token.balanceOf(admin) == token.totalSupply() == 5 * 10**decimals
