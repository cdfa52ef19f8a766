// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {IChainlinkOracleAdapter} from "./IChainlinkOracleAdapter.sol";

/// @title ChainlinkOracleAdapter
/// @notice WAD prices from Chainlink feeds, validated, with an optional second feed and L2 sequencer check.
/// @dev `getPrice` and `tryGetPrice` share one code path (`_price`), so they agree by construction: the strict
///      flag only decides whether a failed check reverts with its custom error or returns its status.
contract ChainlinkOracleAdapter is IChainlinkOracleAdapter, AccessControl {
    bytes32 public constant ORACLE_ADMIN_ROLE = keccak256("ORACLE_ADMIN_ROLE");

    uint256 internal constant WAD = 1e18;
    uint8 public constant MAX_FEED_DECIMALS = 18;
    uint256 public constant MIN_MAX_AGE = 1;
    uint256 public constant MAX_MAX_AGE = 7 days;
    /// @dev WAD; fits the uint64 `SecondaryFeed.maxDeviation`.
    uint256 public constant MAX_MAX_DEVIATION = 0.2e18;
    uint256 public constant MAX_GRACE_PERIOD = 1 days;

    /// @inheritdoc IChainlinkOracleAdapter
    address public immutable SEQUENCER_UPTIME_FEED;
    /// @inheritdoc IChainlinkOracleAdapter
    uint256 public immutable SEQUENCER_GRACE_PERIOD;

    mapping(bytes32 asset => PrimaryFeed) internal _primary;
    mapping(bytes32 asset => SecondaryFeed) internal _secondary;

    /// @param admin Receives DEFAULT_ADMIN_ROLE and ORACLE_ADMIN_ROLE.
    /// @param sequencerUptimeFeed Chainlink L2 sequencer-uptime feed, or address(0) on L1 (no check).
    /// @param gracePeriod Seconds after the sequencer comes back up during which prices are refused, <= 1 day
    ///        (Chainlink's example uses 3600; unused without a sequencer feed).
    /// @dev Both are immutable: read on every L2 price, and fixed for a chain. Changing them means deploying a new
    ///      adapter and pointing its consumers at it.
    constructor(address admin, address sequencerUptimeFeed, uint256 gracePeriod) {
        if (admin == address(0)) revert ZeroAddress();
        if (sequencerUptimeFeed != address(0) && sequencerUptimeFeed.code.length == 0) {
            revert InvalidFeed(sequencerUptimeFeed);
        }
        if (gracePeriod > MAX_GRACE_PERIOD) revert InvalidGracePeriod(gracePeriod, MAX_GRACE_PERIOD);

        SEQUENCER_UPTIME_FEED = sequencerUptimeFeed;
        SEQUENCER_GRACE_PERIOD = gracePeriod;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ORACLE_ADMIN_ROLE, admin);
        emit SequencerConfigured(sequencerUptimeFeed, gracePeriod);
    }

    // ---------------------------------------------------------------- reads

    /// @inheritdoc IPriceOracle
    function getPrice(bytes32 asset) external view returns (uint256 priceWad) {
        (, priceWad,) = _price(asset, true);
    }

    /// @inheritdoc IPriceOracle
    /// @dev `updatedAt` is also 0 for UNKNOWN_ASSET and for sequencer failures (checked before the primary feed).
    function tryGetPrice(bytes32 asset) external view returns (PriceStatus status, uint256 priceWad, uint256 updatedAt) {
        return _price(asset, false);
    }

    /// @inheritdoc IChainlinkOracleAdapter
    function primaryFeed(bytes32 asset) external view returns (PrimaryFeed memory) {
        return _primary[asset];
    }

    /// @inheritdoc IChainlinkOracleAdapter
    function secondaryFeed(bytes32 asset) external view returns (SecondaryFeed memory) {
        return _secondary[asset];
    }

    // ---------------------------------------------------------------- admin

    /// @inheritdoc IChainlinkOracleAdapter
    function setFeed(bytes32 asset, address feed, uint256 maxAge) external onlyRole(ORACLE_ADMIN_ROLE) {
        PrimaryFeed memory current = _primary[asset];
        if (current.hasSecondary && feed == _secondary[asset].feed) revert InvalidFeed(feed);
        uint8 decimals = _validateFeed(feed, maxAge);

        _primary[asset] = PrimaryFeed({
            feed: feed,
            decimals: decimals,
            maxAge: uint24(maxAge),
            hasSecondary: current.hasSecondary
        });
        emit FeedSet(asset, feed, decimals, maxAge);
    }

    /// @inheritdoc IChainlinkOracleAdapter
    function setSecondaryFeed(bytes32 asset, address feed, uint256 maxAge, uint256 maxDeviation)
        external
        onlyRole(ORACLE_ADMIN_ROLE)
    {
        PrimaryFeed storage primary = _primary[asset];
        if (primary.feed == address(0)) revert UnknownAsset(asset);
        if (feed == primary.feed) revert InvalidFeed(feed);
        if (maxDeviation == 0 || maxDeviation > MAX_MAX_DEVIATION) {
            revert InvalidMaxDeviation(maxDeviation, MAX_MAX_DEVIATION);
        }
        uint8 decimals = _validateFeed(feed, maxAge);

        _secondary[asset] = SecondaryFeed({
            feed: feed,
            decimals: decimals,
            maxAge: uint24(maxAge),
            maxDeviation: uint64(maxDeviation)
        });
        primary.hasSecondary = true;
        emit SecondaryFeedSet(asset, feed, decimals, maxAge, maxDeviation);
    }

    /// @inheritdoc IChainlinkOracleAdapter
    function removeSecondaryFeed(bytes32 asset) external onlyRole(ORACLE_ADMIN_ROLE) {
        PrimaryFeed storage primary = _primary[asset];
        if (!primary.hasSecondary) revert NoSecondaryFeed(asset);
        primary.hasSecondary = false;
        delete _secondary[asset];
        emit SecondaryFeedRemoved(asset);
    }

    /// @inheritdoc IChainlinkOracleAdapter
    function removeAsset(bytes32 asset) external onlyRole(ORACLE_ADMIN_ROLE) {
        if (_primary[asset].feed == address(0)) revert UnknownAsset(asset);
        delete _primary[asset];
        delete _secondary[asset];
        emit AssetRemoved(asset);
    }

    // ---------------------------------------------------------------- internals

    /// @dev Returns the feed's decimals after checking the feed and `maxAge`.
    function _validateFeed(address feed, uint256 maxAge) private view returns (uint8 decimals) {
        if (maxAge < MIN_MAX_AGE || maxAge > MAX_MAX_AGE) revert InvalidMaxAge(maxAge, MIN_MAX_AGE, MAX_MAX_AGE);
        // A call to an address without code succeeds and would then fail to decode outside the try/catch.
        if (feed.code.length == 0) revert InvalidFeed(feed);
        try AggregatorV3Interface(feed).decimals() returns (uint8 d) {
            decimals = d;
        } catch {
            revert InvalidFeed(feed);
        }
        if (decimals > MAX_FEED_DECIMALS) revert InvalidFeedDecimals(feed, decimals);
    }

    /// @dev The single read path. With `strict`, the first failed check reverts with its custom error; without, it
    ///      returns the matching status, price 0, and the primary `updatedAt` when the primary was read.
    function _price(bytes32 asset, bool strict)
        private
        view
        returns (PriceStatus status, uint256 priceWad, uint256 updatedAt)
    {
        PrimaryFeed memory primary = _primary[asset];
        if (primary.feed == address(0)) {
            if (strict) revert UnknownAsset(asset);
            return (PriceStatus.UNKNOWN_ASSET, 0, 0);
        }

        if (SEQUENCER_UPTIME_FEED != address(0)) {
            status = _checkSequencer(asset, strict);
            if (status != PriceStatus.OK) return (status, 0, 0);
        }

        (status, priceWad, updatedAt) = _readFeed(asset, primary.feed, primary.decimals, primary.maxAge, strict);
        if (status != PriceStatus.OK || !primary.hasSecondary) return (status, priceWad, updatedAt);

        SecondaryFeed memory secondary = _secondary[asset];
        (PriceStatus secondaryStatus, uint256 secondaryWad,) =
            _readFeed(asset, secondary.feed, secondary.decimals, secondary.maxAge, strict);
        if (secondaryStatus != PriceStatus.OK) return (secondaryStatus, 0, updatedAt);

        uint256 deviation = _deviation(priceWad, secondaryWad);
        if (deviation > secondary.maxDeviation) {
            if (strict) revert PriceDeviation(asset, priceWad, secondaryWad, deviation, secondary.maxDeviation);
            return (PriceStatus.DEVIATION, 0, updatedAt);
        }
    }

    /// @dev Chainlink L2 uptime feed convention: answer 0 = up, 1 = down; `startedAt` = when the status changed.
    function _checkSequencer(bytes32 asset, bool strict) private view returns (PriceStatus) {
        (bool ok, int256 answer, uint256 startedAt,) = _latestRoundData(SEQUENCER_UPTIME_FEED);
        if (!ok) {
            if (strict) revert FeedCallFailed(asset, SEQUENCER_UPTIME_FEED);
            return PriceStatus.FEED_CALL_FAILED;
        }
        // startedAt == 0: the uptime feed has no status round yet; the sequencer state is unknown, fail closed.
        if (answer != 0 || startedAt == 0) {
            if (strict) revert SequencerDown(answer, startedAt);
            return PriceStatus.SEQUENCER_DOWN;
        }
        if (startedAt > block.timestamp || block.timestamp - startedAt <= SEQUENCER_GRACE_PERIOD) {
            if (strict) revert SequencerGracePeriod(startedAt, SEQUENCER_GRACE_PERIOD, block.timestamp);
            return PriceStatus.SEQUENCER_GRACE;
        }
        return PriceStatus.OK;
    }

    function _readFeed(bytes32 asset, address feed, uint8 decimals, uint256 maxAge, bool strict)
        private
        view
        returns (PriceStatus, uint256 priceWad, uint256 updatedAt)
    {
        (bool ok, int256 answer,, uint256 updated) = _latestRoundData(feed);
        // Chainlink stores answers as int192; a wider answer is not from an aggregator and could overflow below.
        if (!ok || answer > type(int192).max) {
            if (strict) revert FeedCallFailed(asset, feed);
            return (PriceStatus.FEED_CALL_FAILED, 0, 0);
        }
        if (answer <= 0) {
            if (strict) revert NonPositivePrice(asset, feed, answer);
            return (PriceStatus.NON_POSITIVE, 0, updated);
        }
        if (updated == 0) {
            if (strict) revert ZeroTimestamp(asset, feed);
            return (PriceStatus.ZERO_TIMESTAMP, 0, 0);
        }
        if (updated > block.timestamp) {
            if (strict) revert FutureTimestamp(asset, feed, updated, block.timestamp);
            return (PriceStatus.FUTURE_TIMESTAMP, 0, updated);
        }
        if (block.timestamp - updated > maxAge) {
            if (strict) revert StalePrice(asset, feed, updated, maxAge, block.timestamp);
            return (PriceStatus.STALE, 0, updated);
        }
        // 0 < answer <= int192.max (< 3.2e57) and the factor <= 1e18: the product fits in uint256.
        unchecked {
            priceWad = uint256(answer) * 10 ** (MAX_FEED_DECIMALS - decimals);
        }
        return (PriceStatus.OK, priceWad, updated);
    }

    /// @dev `latestRoundData()` by a static call that cannot revert: `ok` is false when the call reverts, the
    ///      target has no code, or fewer than 5 words come back. Copies at most 5 words of return data.
    function _latestRoundData(address feed)
        private
        view
        returns (bool ok, int256 answer, uint256 startedAt, uint256 updatedAt)
    {
        bytes4 selector = AggregatorV3Interface.latestRoundData.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            ok := staticcall(gas(), feed, ptr, 4, ptr, 0xa0)
            // Separate statement: Yul evaluates arguments right to left.
            ok := and(ok, gt(returndatasize(), 0x9f))
            if ok {
                answer := mload(add(ptr, 0x20))
                startedAt := mload(add(ptr, 0x40))
                updatedAt := mload(add(ptr, 0x60))
            }
        }
    }

    /// @dev `|a - b| / a`, WAD, rounded up so that `deviation > maxDeviation` exactly when
    ///      `|a - b| * 1e18 > maxDeviation * a`. Saturates instead of overflowing (a > 0).
    function _deviation(uint256 a, uint256 b) private pure returns (uint256) {
        uint256 diff = a > b ? a - b : b - a;
        if (diff / a >= type(uint256).max / WAD) return type(uint256).max;
        return Math.mulDiv(diff, WAD, a, Math.Rounding.Ceil);
    }
}
