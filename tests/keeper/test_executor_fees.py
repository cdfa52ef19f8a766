"""Fee policy: percentiles, urgency, caps and the 12.5% replacement rule (pure), plus the thin fetch on Anvil."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keeper_testkit import GWEI, AnvilNode
from web3 import Web3

from keeper.executor import FeeCapExceeded, FeeCaps, FeeHistory, FeePolicy, Fees, bump_fees, quote_fees
from keeper.executor.fees import fetch_fee_history, is_valid_replacement, min_bump, parse_fee_history

CAPS = FeeCaps(max_fee=10_000 * GWEI, prio_fee=1_000 * GWEI)
POLICY = FeePolicy(caps=CAPS)


def history(next_base: int, rewards: list[tuple[int, int, int]], ratios: list[float] | None = None) -> FeeHistory:
    ratios = ratios or [0.5] * len(rewards)
    return FeeHistory((10.0, 50.0, 90.0), tuple([next_base] * (len(rewards) + 1)), tuple(rewards), tuple(ratios))


# Three busy blocks: medians per percentile are 1, 3 and 10 gwei.
H = history(20 * GWEI, [(1 * GWEI, 2 * GWEI, 10 * GWEI), (1 * GWEI, 3 * GWEI, 9 * GWEI), (2 * GWEI, 3 * GWEI, 11 * GWEI)])


def test_urgency_picks_the_percentile_median_across_blocks() -> None:
    assert quote_fees(H, 0.0, POLICY).fees.prio_fee == 1 * GWEI
    assert quote_fees(H, 0.5, POLICY).fees.prio_fee == 3 * GWEI
    assert quote_fees(H, 1.0, POLICY).fees.prio_fee == 10 * GWEI
    assert quote_fees(H, 0.25, POLICY).fees.prio_fee == 2 * GWEI  # halfway between p10 and p50
    assert quote_fees(H, 0.75, POLICY).fees.prio_fee == math.ceil(6.5 * GWEI)


def test_base_fee_headroom_grows_with_urgency() -> None:
    low, high = quote_fees(H, 0.0, POLICY), quote_fees(H, 1.0, POLICY)
    assert low.fees.max_fee == math.ceil(20 * GWEI * 1.5) + 1 * GWEI
    assert high.fees.max_fee == 20 * GWEI * 3 + 10 * GWEI
    assert low.next_base_fee == 20 * GWEI and low.includable and not low.capped


def test_empty_blocks_do_not_drag_the_reward_to_zero() -> None:
    h = history(GWEI, [(0, 0, 0), (4 * GWEI, 5 * GWEI, 6 * GWEI), (0, 0, 0)], ratios=[0.0, 0.7, 0.0])
    assert quote_fees(h, 0.5, POLICY).fees.prio_fee == 5 * GWEI
    all_empty = history(GWEI, [(0, 0, 0)] * 3, ratios=[0.0] * 3)
    floored = FeePolicy(caps=CAPS, min_priority_fee=GWEI // 10)
    assert quote_fees(all_empty, 1.0, floored).fees.prio_fee == GWEI // 10


def test_caps_bound_both_fields_and_flag_it() -> None:
    tight = FeePolicy(caps=FeeCaps(max_fee=25 * GWEI, prio_fee=2 * GWEI))
    q = quote_fees(H, 1.0, tight)
    assert q.fees == Fees(25 * GWEI, 2 * GWEI)
    assert q.capped and q.includable
    below = FeePolicy(caps=FeeCaps(max_fee=15 * GWEI, prio_fee=2 * GWEI))
    assert not quote_fees(H, 0.0, below).includable  # the cap is under the next base fee (20 gwei)


def test_quote_rejects_mismatched_percentiles_and_urgency_out_of_range() -> None:
    with pytest.raises(ValueError, match="urgency"):
        quote_fees(H, 1.5, POLICY)
    with pytest.raises(ValueError, match="percentiles"):
        quote_fees(H, 0.5, FeePolicy(caps=CAPS, percentiles=(5.0, 50.0, 95.0)))


def gwei(hi: int) -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=hi * GWEI)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(urgency_a=st.floats(0, 1), urgency_b=st.floats(0, 1))
def test_quote_is_monotonic_in_urgency(urgency_a: float, urgency_b: float) -> None:
    lo, hi = sorted((urgency_a, urgency_b))
    a, b = quote_fees(H, lo, POLICY).fees, quote_fees(H, hi, POLICY).fees
    assert a.prio_fee <= b.prio_fee and a.max_fee <= b.max_fee


@settings(max_examples=300, deadline=None, derandomize=True)
@given(prio=gwei(800), extra=gwei(7_000), floor_prio=gwei(1_000), floor_extra=gwei(9_000))
def test_bump_raises_both_fields_by_at_least_12_5_percent(prio: int, extra: int, floor_prio: int, floor_extra: int) -> None:
    old = Fees(prio + extra, prio)
    floor = Fees(floor_prio + floor_extra, floor_prio)
    new = bump_fees(old, floor, CAPS)
    assert new.prio_fee * 8 >= old.prio_fee * 9 and new.prio_fee > old.prio_fee
    assert new.max_fee * 8 >= old.max_fee * 9 and new.max_fee > old.max_fee
    assert new.prio_fee >= floor.prio_fee and new.max_fee >= floor.max_fee
    assert new.max_fee >= new.prio_fee
    assert is_valid_replacement(old, new)


def test_bump_is_exactly_one_eighth_rounded_up() -> None:
    assert min_bump(0) == 1 and min_bump(7) == 8 and min_bump(8) == 9 and min_bump(9) == 11
    assert bump_fees(Fees(16 * GWEI, 8 * GWEI), Fees(0, 0), CAPS) == Fees(18 * GWEI, 9 * GWEI)
    assert not is_valid_replacement(Fees(16, 8), Fees(18, 8))  # the priority fee must move too


def test_bump_beyond_a_cap_is_refused_naming_the_field() -> None:
    caps = FeeCaps(max_fee=100 * GWEI, prio_fee=10 * GWEI)
    with pytest.raises(FeeCapExceeded, match=r"max priority fee 10\.125 gwei, above the cap 10 gwei"):
        bump_fees(Fees(50 * GWEI, 9 * GWEI), Fees(0, 0), caps)
    with pytest.raises(FeeCapExceeded, match=r"max fee 101\.25 gwei, above the cap 100 gwei"):
        bump_fees(Fees(90 * GWEI, 1 * GWEI), Fees(0, 0), caps)


def test_parse_fee_history_accepts_hex_strings() -> None:
    raw = {"baseFeePerGas": ["0x3b9aca00", "0x3b9aca00"], "gasUsedRatio": [0.5], "reward": [["0x1", "0x2", "0x3"]]}
    h = parse_fee_history(raw, (10.0, 50.0, 90.0))
    assert h.next_base_fee == GWEI and h.rewards == ((1, 2, 3),)


def test_fetch_reads_the_window_from_anvil() -> None:
    anvil = AnvilNode()
    try:
        anvil.mine(3)
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        h = fetch_fee_history(w3, FeePolicy(caps=CAPS, history_blocks=3))
        assert len(h.base_fees) == 4 and len(h.rewards) == 3 and h.percentiles == (10.0, 50.0, 90.0)
        assert h.next_base_fee == w3.eth.get_block("pending")["baseFeePerGas"]
    finally:
        anvil.stop()
