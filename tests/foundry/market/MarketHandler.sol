// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";

import {IPerpMarket} from "../../../contracts/interfaces/IPerpMarket.sol";
import {IPriceOracle} from "../../../contracts/interfaces/IPriceOracle.sol";
import {PerpMarket} from "../../../contracts/market/PerpMarket.sol";
import {ChainlinkOracleAdapter} from "../../../contracts/oracles/ChainlinkOracleAdapter.sol";
import {MockAggregator} from "../../../contracts/mocks/MockAggregator.sol";
import {MockERC20} from "../../../contracts/mocks/MockERC20.sol";

/// @notice Drives the market with bounded random actions of a few actors and records every violation of the
///         properties in docs/INVARIANTS.md as a ghost counter, so the invariant test can name the broken rule.
contract MarketHandler is Test {
    PerpMarket internal market;
    ChainlinkOracleAdapter internal oracle;
    MockERC20 internal token;
    MockAggregator[2] internal feeds;
    bytes32[2] internal keys;
    uint256 internal unit;

    address[] public actors;
    address[] public lps;

    // Ghost counters: each must stay zero (MKT-2 .. MKT-4).
    uint256 public liquidatedHealthy; // MKT-2a
    uint256 public liquidationLeftOpen; // MKT-2b
    uint256 public reduceOnlyMarginReverts; // MKT-3
    uint256 public riskIncreaseOnBadPrice; // MKT-4
    uint256 public unhealthyNotLiquidatable; // MKT-2c: canLiquidate true but liquidate reverted

    // Call statistics: `calls` per action, and how many trades / liquidations actually went through.
    mapping(bytes32 => uint256) public calls;
    uint256 public tradesOk;
    uint256 public reducesOk;
    uint256 public liquidationsOk;

    constructor(
        PerpMarket market_,
        ChainlinkOracleAdapter oracle_,
        MockERC20 token_,
        MockAggregator ethFeed,
        MockAggregator btcFeed,
        bytes32 ethKey,
        bytes32 btcKey
    ) {
        market = market_;
        oracle = oracle_;
        token = token_;
        feeds = [ethFeed, btcFeed];
        keys = [ethKey, btcKey];
        unit = 10 ** token_.decimals();
        for (uint256 i; i < 4; ++i) {
            address a = makeAddr(string.concat("trader", vm.toString(i)));
            actors.push(a);
            _approve(a);
        }
        for (uint256 i; i < 2; ++i) {
            address a = makeAddr(string.concat("lp", vm.toString(i)));
            lps.push(a);
            _approve(a);
        }
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function lpCount() external view returns (uint256) {
        return lps.length;
    }

    // ---------------------------------------------------------------------------------------------
    // Actions
    // ---------------------------------------------------------------------------------------------

    function depositMargin(uint256 actorSeed, uint256 amount) external {
        calls["depositMargin"]++;
        address actor = _actor(actorSeed);
        amount = bound(amount, 1, 200_000) * unit;
        token.mint(actor, amount);
        vm.prank(actor);
        market.depositMargin(amount);
    }

    function withdrawMargin(uint256 actorSeed, uint256 fraction) external {
        calls["withdrawMargin"]++;
        address actor = _actor(actorSeed);
        int256 collateral = market.collateralOf(actor);
        if (collateral <= 0) return;
        uint256 amount = uint256(collateral) * bound(fraction, 1, 100) / 100;
        if (amount == 0) return;
        vm.prank(actor);
        try market.withdrawMargin(amount) {} catch {}
    }

    /// @notice Any trade; risk-increasing trades on a bad price must fail (MKT-4), reduce-only trades on a
    ///         fresh price must succeed (MKT-3).
    function trade(uint256 actorSeed, uint256 assetSeed, int256 notional) external {
        calls["trade"]++;
        address actor = _actor(actorSeed);
        uint256 assetId = assetSeed % 2;
        (IPriceOracle.PriceStatus status, uint256 price,) = oracle.tryGetPrice(keys[assetId]);
        uint256 refPrice = status == IPriceOracle.PriceStatus.OK ? price : 2000e18;
        int256 n = bound(notional, -2_000_000e18, 2_000_000e18);
        int256 size = n * 1e18 / int256(refPrice);
        if (size == 0) return;
        int256 current = market.position(actor, assetId).size;
        bool reduceOnly = current != 0 && (current > 0) != (size > 0) && _abs(size) <= _abs(current);
        uint256 acceptable = size > 0 ? type(uint256).max : 0;
        vm.prank(actor);
        try market.modifyPosition(assetId, size, acceptable, block.timestamp) {
            tradesOk++;
            if (status != IPriceOracle.PriceStatus.OK && !reduceOnly) riskIncreaseOnBadPrice++;
        } catch (bytes memory reason) {
            if (reduceOnly && status == IPriceOracle.PriceStatus.OK) _recordReduceOnlyFailure(reason);
        }
    }

    /// @notice Reduces an existing position by a fraction: must never fail at a fresh price (MKT-3).
    function reduce(uint256 actorSeed, uint256 assetSeed, uint256 fraction) external {
        calls["reduce"]++;
        address actor = _actor(actorSeed);
        uint256 assetId = assetSeed % 2;
        int256 current = market.position(actor, assetId).size;
        if (current == 0) return;
        int256 delta = -current * int256(bound(fraction, 1, 100)) / 100;
        if (delta == 0) return;
        (IPriceOracle.PriceStatus status,,) = oracle.tryGetPrice(keys[assetId]);
        vm.prank(actor);
        try market.modifyPosition(assetId, delta, delta > 0 ? type(uint256).max : 0, block.timestamp) {
            reducesOk++;
        }
        catch (bytes memory reason) {
            if (status == IPriceOracle.PriceStatus.OK) _recordReduceOnlyFailure(reason);
        }
    }

    /// @notice Liquidates a random actor: only unhealthy accounts, and they end closed (MKT-2).
    function liquidate(uint256 actorSeed) external {
        calls["liquidate"]++;
        address actor = _actor(actorSeed);
        (bool ok, IPerpMarket.MarginState memory s) = market.tryMarginState(actor);
        bool unhealthy = ok && s.grossNotional != 0 && s.equity < int256(s.maintenanceRequirement);
        vm.prank(actors[0]);
        try market.liquidate(actor) {
            liquidationsOk++;
            if (!unhealthy) liquidatedHealthy++;
            if (market.openAssets(actor) != 0) liquidationLeftOpen++;
        } catch {
            if (unhealthy) unhealthyNotLiquidatable++;
        }
    }

    /// @notice Price move of -50% .. +50% (jumps included), at the current time.
    function movePrice(uint256 assetSeed, int256 moveBps) external {
        calls["movePrice"]++;
        uint256 assetId = assetSeed % 2;
        MockAggregator feed = feeds[assetId];
        (, int256 answer,,,) = feed.latestRoundData();
        if (answer <= 0) answer = assetId == 0 ? int256(2000e8) : int256(60_000e8);
        int256 next = answer * (10_000 + bound(moveBps, -5000, 5000)) / 10_000;
        if (next < 1e8) next = 1e8;
        feed.setAnswer(next);
    }

    /// @notice Time passes (funding accrues, prices may go stale).
    function warp(uint256 seconds_) external {
        calls["warp"]++;
        vm.warp(block.timestamp + bound(seconds_, 1, 2 hours));
    }

    /// @notice The feeds report again at the current time (recovery from staleness).
    function refreshPrices() external {
        calls["refreshPrices"]++;
        for (uint256 i; i < 2; ++i) {
            (, int256 answer,,,) = feeds[i].latestRoundData();
            if (answer <= 0) answer = i == 0 ? int256(2000e8) : int256(60_000e8);
            feeds[i].setAnswer(answer);
        }
    }

    /// @notice A broken feed: stale timestamp or a non-positive answer.
    function breakFeed(uint256 assetSeed, bool nonPositive) external {
        calls["breakFeed"]++;
        MockAggregator feed = feeds[assetSeed % 2];
        (, int256 answer,,,) = feed.latestRoundData();
        if (nonPositive) feed.setAnswer(0);
        else feed.setAnswerAt(answer, block.timestamp > 2 hours ? block.timestamp - 2 hours : 0);
    }

    function lpDeposit(uint256 lpSeed, uint256 amount) external {
        calls["lpDeposit"]++;
        address who = lps[lpSeed % lps.length];
        amount = bound(amount, 1, 1_000_000) * unit;
        token.mint(who, amount);
        vm.prank(who);
        try market.depositLiquidity(amount, 0) {} catch {}
    }

    function lpWithdraw(uint256 lpSeed, uint256 fraction) external {
        calls["lpWithdraw"]++;
        address who = lps[lpSeed % lps.length];
        uint256 shares = market.lpShares(who) * bound(fraction, 1, 100) / 100;
        if (shares == 0) return;
        vm.prank(who);
        try market.withdrawLiquidity(shares, 0) {} catch {}
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    function _recordReduceOnlyFailure(bytes memory reason) internal {
        bytes4 selector = bytes4(reason);
        if (
            selector == IPerpMarket.InsufficientMargin.selector || selector == IPerpMarket.MarketPaused.selector
                || selector == IPerpMarket.OpenInterestCapExceeded.selector
        ) reduceOnlyMarginReverts++;
        else reduceOnlyMarginReverts += 1000; // any other failure of a fresh-price reduce is also a violation
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    function _approve(address who) internal {
        vm.prank(who);
        token.approve(address(market), type(uint256).max);
    }

    function _abs(int256 x) internal pure returns (uint256) {
        return uint256(x >= 0 ? x : -x);
    }
}
