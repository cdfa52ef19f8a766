// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {console2} from "forge-std/console2.sol";

import {IPriceOracle} from "../../../contracts/interfaces/IPriceOracle.sol";
import {IChainlinkOracleAdapter} from "../../../contracts/oracles/IChainlinkOracleAdapter.sol";
import {ChainlinkOracleAdapter} from "../../../contracts/oracles/ChainlinkOracleAdapter.sol";
import {MockAggregator} from "../../../contracts/mocks/MockAggregator.sol";

/// @notice Fuzz properties of ChainlinkOracleAdapter:
///         OR-1 WAD scaling is exact for every decimals in [0, 18] and every positive int192 answer.
///         OR-2 age > maxAge reverts StalePrice(values); age <= maxAge returns the price.
///         OR-3 the secondary feed is accepted iff |p - s| * 1e18 <= maxDeviation * p, exactly at the boundary.
///         OR-4 tryGetPrice never reverts, returns the status a reference model predicts, and agrees with getPrice
///              (OK iff getPrice succeeds, same price; otherwise getPrice reverts with the status's error).
contract OracleAdapterTest is Test {
    bytes32 internal constant ETH = "ETH";
    uint256 internal constant START = 1_700_000_000;
    uint256 internal constant MAX_AGE = 3600;
    uint256 internal constant GRACE = 3600;

    address internal admin = makeAddr("governance");
    ChainlinkOracleAdapter internal oracle; // no sequencer feed (L1)
    ChainlinkOracleAdapter internal l2Oracle; // with sequencer feed
    MockAggregator internal primary;
    MockAggregator internal secondary;
    MockAggregator internal sequencer;
    // Same code and storage shape as `primary` / `sequencer`, only called directly: cold-call gas references.
    MockAggregator internal twinFeed;
    MockAggregator internal twinSequencer;

    function setUp() public {
        vm.warp(START);
        primary = new MockAggregator(8, "ETH / USD", 2000e8);
        secondary = new MockAggregator(18, "ETH / USD (secondary)", 2000e18);
        sequencer = new MockAggregator(0, "L2 sequencer uptime", 0);
        sequencer.setAnswerAt(0, START - 1 days);
        twinFeed = new MockAggregator(8, "ETH / USD", 2000e8);
        twinSequencer = new MockAggregator(0, "L2 sequencer uptime", 0);
        twinSequencer.setAnswerAt(0, START - 1 days);

        oracle = new ChainlinkOracleAdapter(admin, address(0), 0);
        l2Oracle = new ChainlinkOracleAdapter(admin, address(sequencer), GRACE);
        vm.startPrank(admin);
        oracle.setFeed(ETH, address(primary), MAX_AGE);
        l2Oracle.setFeed(ETH, address(primary), MAX_AGE);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ OR-1

    function testFuzz_scalingIsExact(uint8 decimals, int256 answer) public {
        decimals = uint8(bound(decimals, 0, 18));
        answer = bound(answer, 1, type(int192).max);
        MockAggregator feed = new MockAggregator(decimals, "fuzz", answer);
        vm.prank(admin);
        oracle.setFeed("X", address(feed), MAX_AGE);

        uint256 price = oracle.getPrice("X");
        uint256 factor = 10 ** (18 - uint256(decimals));
        assertEq(price, uint256(answer) * factor, "OR-1 price != answer * 10^(18 - decimals)");
        assertEq(price / factor, uint256(answer), "OR-1 scaling lost precision");
        assertEq(price % factor, 0, "OR-1 scaling not exact");
    }

    function testFuzz_decimalsAbove18Rejected(uint8 decimals) public {
        decimals = uint8(bound(decimals, 19, type(uint8).max));
        MockAggregator feed = new MockAggregator(decimals, "fuzz", 1);
        vm.expectRevert(abi.encodeWithSelector(IChainlinkOracleAdapter.InvalidFeedDecimals.selector, feed, decimals));
        vm.prank(admin);
        oracle.setFeed("X", address(feed), MAX_AGE);
    }

    // ------------------------------------------------------------------ OR-2

    function testFuzz_staleness(uint256 maxAge, uint256 age) public {
        maxAge = bound(maxAge, 1, 7 days);
        age = bound(age, 0, 8 days);
        vm.prank(admin);
        oracle.setFeed(ETH, address(primary), maxAge);
        primary.setAnswerAt(2000e8, START - age);

        if (age > maxAge) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IChainlinkOracleAdapter.StalePrice.selector, ETH, primary, START - age, maxAge, START
                )
            );
            oracle.getPrice(ETH);
            (IPriceOracle.PriceStatus status, uint256 price, uint256 updatedAt) = oracle.tryGetPrice(ETH);
            assertEq(uint8(status), uint8(IPriceOracle.PriceStatus.STALE), "OR-2 status");
            assertEq(price, 0, "OR-2 price on failure");
            assertEq(updatedAt, START - age, "OR-2 updatedAt");
        } else {
            assertEq(oracle.getPrice(ETH), 2000e18, "OR-2 fresh price refused");
        }
    }

    // ------------------------------------------------------------------ OR-3

    /// @dev Places the secondary exactly on the boundary (accepted) and one unit beyond (rejected), above and below.
    function testFuzz_deviationBoundary(uint256 answer, uint256 maxDeviation, bool above) public {
        answer = bound(answer, 1e8, 1e30); // primary, 8 decimals
        maxDeviation = bound(maxDeviation, 1, 0.2e18);
        vm.prank(admin);
        oracle.setSecondaryFeed(ETH, address(secondary), MAX_AGE, maxDeviation);
        primary.setAnswer(int256(answer));
        uint256 p = answer * 1e10;

        // Largest |s - p| with |s - p| * 1e18 <= maxDeviation * p.
        uint256 maxDiff = maxDeviation * p / 1e18;
        uint256 onBoundary = above ? p + maxDiff : p - maxDiff;
        uint256 beyond = above ? onBoundary + 1 : onBoundary - 1;

        secondary.setAnswer(int256(onBoundary));
        assertEq(oracle.getPrice(ETH), p, "OR-3 price on the boundary refused or not the primary");

        secondary.setAnswer(int256(beyond));
        uint256 deviation = ((maxDiff + 1) * 1e18 + p - 1) / p; // rounded up
        vm.expectRevert(
            abi.encodeWithSelector(
                IChainlinkOracleAdapter.PriceDeviation.selector, ETH, p, beyond, deviation, maxDeviation
            )
        );
        oracle.getPrice(ETH);
        (IPriceOracle.PriceStatus status,,) = oracle.tryGetPrice(ETH);
        assertEq(uint8(status), uint8(IPriceOracle.PriceStatus.DEVIATION), "OR-3 status beyond the boundary");
    }

    function testFuzz_deviationMatchesExactRule(uint256 pAnswer, uint256 sAnswer, uint256 maxDeviation) public {
        pAnswer = bound(pAnswer, 1, 1e40);
        sAnswer = bound(sAnswer, 1, 1e40);
        maxDeviation = bound(maxDeviation, 1, 0.2e18);
        vm.prank(admin);
        oracle.setSecondaryFeed(ETH, address(secondary), MAX_AGE, maxDeviation);
        primary.setAnswer(int256(pAnswer));
        secondary.setAnswer(int256(sAnswer));
        uint256 p = pAnswer * 1e10;
        uint256 diff = p > sAnswer ? p - sAnswer : sAnswer - p;

        (IPriceOracle.PriceStatus status, uint256 price,) = oracle.tryGetPrice(ETH);
        if (diff * 1e18 > maxDeviation * p) {
            assertEq(uint8(status), uint8(IPriceOracle.PriceStatus.DEVIATION), "OR-3 deviation accepted");
            assertEq(price, 0, "OR-3 price on failure");
        } else {
            assertEq(uint8(status), uint8(IPriceOracle.PriceStatus.OK), "OR-3 agreement refused");
            assertEq(price, p, "OR-3 not the primary price");
        }
    }

    // ------------------------------------------------------------------ OR-4

    struct Scenario {
        uint256 nowTs;
        int256 pAnswer;
        uint256 pUpdated;
        int256 sAnswer;
        uint256 sUpdated;
        int256 seqAnswer;
        uint256 seqStarted;
        uint8 flags; // bit0 secondary set, bit1 raw secondary answer (else near the primary), bits 2-4: `broken`
        // derived by _shape from `flags`:
        uint8 broken; // 1 sequencer reverts, 2 primary reverts, 3 secondary reverts, 4 unknown asset, else none
    }

    /// forge-config: default.fuzz.runs = 1024
    function testFuzz_tryGetPriceAgreesWithGetPrice(Scenario memory sc) public {
        sc = _shape(sc);
        if (sc.flags & 1 != 0) {
            vm.prank(admin);
            l2Oracle.setSecondaryFeed(ETH, address(secondary), MAX_AGE, 0.01e18);
        }
        primary.setAnswerAt(sc.pAnswer, sc.pUpdated);
        secondary.setAnswerAt(sc.sAnswer, sc.sUpdated);
        sequencer.setAnswerAt(sc.seqAnswer, sc.seqStarted);
        sequencer.setRevert(sc.broken == 1);
        primary.setRevert(sc.broken == 2);
        secondary.setRevert(sc.broken == 3);
        bytes32 asset = sc.broken == 4 ? bytes32("NOPE") : ETH;
        vm.warp(sc.nowTs);

        (IPriceOracle.PriceStatus status, uint256 price, uint256 updatedAt) = l2Oracle.tryGetPrice(asset);
        (IPriceOracle.PriceStatus expected, uint256 expectedPrice) = _model(sc);
        assertEq(uint8(status), uint8(expected), "OR-4 status differs from the reference model");
        assertEq(price, expectedPrice, "OR-4 price differs from the reference model");
        if (status == IPriceOracle.PriceStatus.OK) assertEq(updatedAt, sc.pUpdated, "OR-4 updatedAt");

        try l2Oracle.getPrice(asset) returns (uint256 strictPrice) {
            assertEq(uint8(status), uint8(IPriceOracle.PriceStatus.OK), "OR-4 getPrice succeeded, status not OK");
            assertEq(strictPrice, price, "OR-4 prices differ");
        } catch (bytes memory reason) {
            assertTrue(status != IPriceOracle.PriceStatus.OK, "OR-4 getPrice reverted, status OK");
            assertEq(bytes4(reason), _selectorOf(status), "OR-4 error does not match the status");
        }
    }

    /// @dev Feeds that break the ABI: no code, short return data, an answer wider than int192.
    function test_malformedFeedsAreFeedCallFailed() public {
        bytes[3] memory codes = [
            bytes(""),
            hex"602a60005260206000f3", // returns one word (42) to any call
            hex"6000600052600160c01b6020526000604052426060526000608052600060a052600060c05260a06000f3" // answer 2^192
        ];
        for (uint256 i; i < codes.length; ++i) {
            vm.etch(address(primary), codes[i]);
            vm.expectRevert(abi.encodeWithSelector(IChainlinkOracleAdapter.FeedCallFailed.selector, ETH, primary));
            oracle.getPrice(ETH);
            (IPriceOracle.PriceStatus status, uint256 price, uint256 updatedAt) = oracle.tryGetPrice(ETH);
            assertEq(uint8(status), uint8(IPriceOracle.PriceStatus.FEED_CALL_FAILED), "malformed feed status");
            assertEq(price + updatedAt, 0, "malformed feed values");
        }
    }

    function test_int192MaxAnswerIsAccepted() public {
        primary.setAnswer(type(int192).max);
        assertEq(oracle.getPrice(ETH), uint256(uint192(type(int192).max)) * 1e10);
    }

    // ------------------------------------------------------------------ gas

    /// @dev Everything is cold, as for the first oracle read in a keeper transaction, and measured the same way
    ///      with and without `--gas-report` (which runs every call in isolation): the feed reference is a direct
    ///      cold call to a twin feed. Overhead = the adapter's own cost: its account (2,600 cold), its one config
    ///      slot (2,100 cold) and its logic. A second cold slot would add 2,100 and break the budget.
    function test_gas_getPriceSingleFeed() public {
        (ChainlinkOracleAdapter adapter, MockAggregator twin) = (oracle, twinFeed); // keep test-contract reads out
        uint256 g0 = gasleft();
        twin.latestRoundData();
        uint256 feedCold = g0 - gasleft();
        g0 = gasleft();
        uint256 price = adapter.getPrice(ETH);
        uint256 total = g0 - gasleft();

        assertEq(price, 2000e18);
        console2.log("getPrice single feed, all cold:", total);
        console2.log("  feed latestRoundData, cold, called directly:", feedCold);
        console2.log("  adapter overhead (incl. 2600 cold account + 2100 cold slot):", total - feedCold);
        assertLt(total - feedCold, 6500, "getPrice overhead above budget");
    }

    function test_gas_getPriceSingleFeedWithSequencer() public {
        vm.warp(START + 1);
        (ChainlinkOracleAdapter adapter, MockAggregator twin, MockAggregator twinSeq) =
            (l2Oracle, twinFeed, twinSequencer);
        uint256 g0 = gasleft();
        twin.latestRoundData();
        twinSeq.latestRoundData();
        uint256 feedsCold = g0 - gasleft();
        g0 = gasleft();
        adapter.getPrice(ETH);
        uint256 total = g0 - gasleft();

        console2.log("getPrice single feed + sequencer check, all cold:", total);
        console2.log("  feed + sequencer feed latestRoundData, cold, called directly:", feedsCold);
        console2.log("  adapter overhead:", total - feedsCold);
        assertLt(total - feedsCold, 7000, "getPrice + sequencer overhead above budget");
    }

    // ------------------------------------------------------------------ helpers

    /// @dev Biases fuzz values towards the interesting edges (near now, near the primary, zero, future).
    function _shape(Scenario memory sc) internal pure returns (Scenario memory) {
        sc.nowTs = bound(sc.nowTs, START, START + 30 days);
        sc.pUpdated = _time(sc.pUpdated, sc.nowTs, MAX_AGE);
        sc.sUpdated = _time(sc.sUpdated, sc.nowTs, MAX_AGE);
        // the sequencer mostly up for longer than the grace period, so that the feed checks are reached
        sc.seqStarted = sc.seqStarted % 3 != 0
            ? bound(sc.seqStarted, sc.nowTs - 30 days, sc.nowTs - GRACE - 1)
            : _time(sc.seqStarted, sc.nowTs, GRACE);
        if (sc.seqAnswer % 4 != 0) sc.seqAnswer = 0;
        if (sc.pAnswer % 4 != 0) sc.pAnswer = bound(sc.pAnswer, 1, 1e20); // mostly positive and realistic
        sc.broken = (sc.flags >> 2) % 8; // 1-4 each with probability 1/8, none with 1/2
        if (sc.flags & 2 == 0 && sc.pAnswer > 0 && sc.pAnswer < 1e30) {
            // a secondary (18 decimals) within about +-2% of the primary (8 decimals)
            int256 p18 = sc.pAnswer * 1e10;
            sc.sAnswer = p18 + bound(sc.sAnswer, -p18 / 50, p18 / 50);
        }
        return sc;
    }

    /// @dev Mostly within [now - 2 * window, now + 1]; often exactly on a boundary; sometimes 0 or far away.
    function _time(uint256 raw, uint256 nowTs, uint256 window) internal pure returns (uint256) {
        uint256 pick = raw % 16;
        if (pick == 0) return 0;
        if (pick == 1) return raw;
        if (pick == 2) return nowTs - window; // age == maxAge (fresh) / up for exactly the grace period (grace)
        if (pick == 3) return nowTs - window - 1;
        if (pick == 4) return nowTs;
        if (pick == 5) return nowTs + 1;
        return bound(raw, nowTs - 2 * window, nowTs + 1);
    }

    /// @dev Reference model written from the spec (independently of the adapter's code path).
    function _model(Scenario memory sc) internal pure returns (IPriceOracle.PriceStatus, uint256) {
        if (sc.broken == 4) return (IPriceOracle.PriceStatus.UNKNOWN_ASSET, 0);
        if (sc.broken == 1) return (IPriceOracle.PriceStatus.FEED_CALL_FAILED, 0);
        if (sc.seqAnswer != 0 || sc.seqStarted == 0) return (IPriceOracle.PriceStatus.SEQUENCER_DOWN, 0);
        if (sc.seqStarted > sc.nowTs || sc.nowTs - sc.seqStarted <= GRACE) {
            return (IPriceOracle.PriceStatus.SEQUENCER_GRACE, 0);
        }
        (IPriceOracle.PriceStatus s, uint256 p) = _modelFeed(sc.broken == 2, sc.pAnswer, sc.pUpdated, 8, sc.nowTs);
        if (s != IPriceOracle.PriceStatus.OK || sc.flags & 1 == 0) return (s, p);
        (IPriceOracle.PriceStatus s2, uint256 p2) =
            _modelFeed(sc.broken == 3, sc.sAnswer, sc.sUpdated, 18, sc.nowTs);
        if (s2 != IPriceOracle.PriceStatus.OK) return (s2, 0);
        uint256 diff = p > p2 ? p - p2 : p2 - p;
        bool reject = diff * 100 > p; // diff * 1e18 > 0.01e18 * p, without overflow
        if (reject) return (IPriceOracle.PriceStatus.DEVIATION, 0);
        return (IPriceOracle.PriceStatus.OK, p);
    }

    function _modelFeed(bool reverts, int256 answer, uint256 updatedAt, uint256 decimals, uint256 nowTs)
        internal
        pure
        returns (IPriceOracle.PriceStatus, uint256)
    {
        if (reverts || answer > type(int192).max) return (IPriceOracle.PriceStatus.FEED_CALL_FAILED, 0);
        if (answer <= 0) return (IPriceOracle.PriceStatus.NON_POSITIVE, 0);
        if (updatedAt == 0) return (IPriceOracle.PriceStatus.ZERO_TIMESTAMP, 0);
        if (updatedAt > nowTs) return (IPriceOracle.PriceStatus.FUTURE_TIMESTAMP, 0);
        if (nowTs - updatedAt > MAX_AGE) return (IPriceOracle.PriceStatus.STALE, 0);
        return (IPriceOracle.PriceStatus.OK, uint256(answer) * 10 ** (18 - decimals));
    }

    function _selectorOf(IPriceOracle.PriceStatus status) internal pure returns (bytes4) {
        if (status == IPriceOracle.PriceStatus.UNKNOWN_ASSET) return IChainlinkOracleAdapter.UnknownAsset.selector;
        if (status == IPriceOracle.PriceStatus.NON_POSITIVE) return IChainlinkOracleAdapter.NonPositivePrice.selector;
        if (status == IPriceOracle.PriceStatus.ZERO_TIMESTAMP) return IChainlinkOracleAdapter.ZeroTimestamp.selector;
        if (status == IPriceOracle.PriceStatus.FUTURE_TIMESTAMP) {
            return IChainlinkOracleAdapter.FutureTimestamp.selector;
        }
        if (status == IPriceOracle.PriceStatus.STALE) return IChainlinkOracleAdapter.StalePrice.selector;
        if (status == IPriceOracle.PriceStatus.SEQUENCER_DOWN) return IChainlinkOracleAdapter.SequencerDown.selector;
        if (status == IPriceOracle.PriceStatus.SEQUENCER_GRACE) {
            return IChainlinkOracleAdapter.SequencerGracePeriod.selector;
        }
        if (status == IPriceOracle.PriceStatus.DEVIATION) return IChainlinkOracleAdapter.PriceDeviation.selector;
        if (status == IPriceOracle.PriceStatus.FEED_CALL_FAILED) return IChainlinkOracleAdapter.FeedCallFailed.selector;
        return bytes4(0);
    }
}
