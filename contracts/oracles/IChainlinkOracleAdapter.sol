// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IPriceOracle} from "../interfaces/IPriceOracle.sol";

/// @title IChainlinkOracleAdapter
/// @notice `IPriceOracle` over Chainlink `AggregatorV3Interface` feeds, one primary feed per asset key, an optional
///         secondary feed that must agree with it, and an optional L2 sequencer-uptime feed.
/// @dev Checks, in the order `getPrice` and `tryGetPrice` apply them (the first failure wins):
///      1. the asset is registered;
///      2. sequencer (only when an uptime feed is configured): the call succeeds, the answer is 0 (up), the status
///         round has a non-zero `startedAt`, and more than `SEQUENCER_GRACE_PERIOD` seconds have passed since
///         `startedAt` (Chainlink's L2 example: still in grace while `now - startedAt <= gracePeriod`);
///      3. primary feed: the call succeeds with a well-formed answer, `answer > 0`, `updatedAt != 0`,
///         `updatedAt <= block.timestamp`, `block.timestamp - updatedAt <= maxAge`;
///      4. secondary feed (when set): the same checks with its own `maxAge`, then the deviation bound.
///      Feed decimals are read once at registration and stored; a feed that later changes its decimals is not
///      detected (Chainlink feeds never do; replace the feed with `setFeed` if a migration ever changes them).
///      Answers are scaled to WAD exactly: `price = answer * 10 ** (18 - decimals)`; decimals above 18 are rejected
///      at registration, so no precision is ever lost.
///
///      Trust: the admin chooses the feeds. A feed is trusted to be a Chainlink aggregator (or proxy); the adapter
///      still treats anything that reverts, has no code, returns short data or an answer outside Chainlink's
///      `int192` answer range as `FEED_CALL_FAILED`, so `tryGetPrice` cannot be made to revert by a broken feed
///      (only by running out of gas).
interface IChainlinkOracleAdapter is IPriceOracle {
    /// @notice Primary feed of an asset: one storage slot, the only slot `getPrice` reads for a single-feed asset.
    /// @param feed The Chainlink aggregator (or proxy); address(0) means the asset is not registered.
    /// @param decimals The feed's decimals, read at registration, <= 18.
    /// @param maxAge Largest accepted `block.timestamp - updatedAt`, seconds, in [1, 7 days].
    /// @param hasSecondary Whether a secondary feed is set (saves reading the second slot when not).
    struct PrimaryFeed {
        address feed;
        uint8 decimals;
        uint24 maxAge;
        bool hasSecondary;
    }

    /// @notice Secondary feed of an asset: one storage slot, read only when `hasSecondary`.
    /// @param maxDeviation Largest accepted `|primary - secondary| / primary`, WAD, in (0, 0.2e18].
    struct SecondaryFeed {
        address feed;
        uint8 decimals;
        uint24 maxAge;
        uint64 maxDeviation;
    }

    // ---------------------------------------------------------------- events

    /// @notice The adapter's sequencer configuration (emitted once, by the constructor; it is immutable).
    event SequencerConfigured(address indexed sequencerUptimeFeed, uint256 gracePeriod);
    /// @notice A primary feed was registered or replaced (a secondary feed, if any, is kept).
    event FeedSet(bytes32 indexed asset, address indexed feed, uint8 decimals, uint256 maxAge);
    /// @notice A secondary feed was set or replaced.
    event SecondaryFeedSet(
        bytes32 indexed asset, address indexed feed, uint8 decimals, uint256 maxAge, uint256 maxDeviation
    );
    /// @notice The secondary feed was removed; the asset is priced by its primary feed alone.
    event SecondaryFeedRemoved(bytes32 indexed asset);
    /// @notice The asset (primary and secondary feed) was removed; it now reverts with `UnknownAsset`.
    event AssetRemoved(bytes32 indexed asset);

    // ---------------------------------------------------------------- read errors

    /// @notice `asset` has no primary feed.
    error UnknownAsset(bytes32 asset);
    /// @notice The call to `feed` reverted, `feed` has no code, returned fewer than 5 words, or an answer outside
    ///         `int192` (Chainlink's answer type). `feed` is the sequencer feed when the sequencer check failed.
    error FeedCallFailed(bytes32 asset, address feed);
    /// @notice `feed` answered `answer <= 0`.
    error NonPositivePrice(bytes32 asset, address feed, int256 answer);
    /// @notice `feed` answered with `updatedAt == 0` (round not complete).
    error ZeroTimestamp(bytes32 asset, address feed);
    /// @notice `feed` answered with `updatedAt` after the current block's timestamp.
    error FutureTimestamp(bytes32 asset, address feed, uint256 updatedAt, uint256 nowTs);
    /// @notice `nowTs - updatedAt > maxAge`.
    error StalePrice(bytes32 asset, address feed, uint256 updatedAt, uint256 maxAge, uint256 nowTs);
    /// @notice Primary and secondary prices (WAD) differ by `deviation = |primary - secondary| / primary` (WAD,
    ///         rounded up, saturating at type(uint256).max) which exceeds `maxDeviation`.
    error PriceDeviation(bytes32 asset, uint256 primary, uint256 secondary, uint256 deviation, uint256 maxDeviation);
    /// @notice The sequencer-uptime feed does not report "up" (`answer != 0`) or reports no status change time
    ///         (`startedAt == 0`, seen on uninitialised Arbitrum uptime feeds).
    error SequencerDown(int256 answer, uint256 startedAt);
    /// @notice The sequencer has been up since `upSince`, not yet more than `gracePeriod` seconds.
    error SequencerGracePeriod(uint256 upSince, uint256 gracePeriod, uint256 nowTs);

    // ---------------------------------------------------------------- configuration errors

    /// @notice A zero admin address.
    error ZeroAddress();
    /// @notice `feed` is address(0), has no code, its `decimals()` call failed, or it is the asset's other feed.
    error InvalidFeed(address feed);
    /// @notice The feed reports more than 18 decimals.
    error InvalidFeedDecimals(address feed, uint8 decimals);
    /// @notice `maxAge` outside [min, max] seconds.
    error InvalidMaxAge(uint256 maxAge, uint256 min, uint256 max);
    /// @notice `maxDeviation` outside (0, max], WAD.
    error InvalidMaxDeviation(uint256 maxDeviation, uint256 max);
    /// @notice `gracePeriod` above `max` seconds.
    error InvalidGracePeriod(uint256 gracePeriod, uint256 max);
    /// @notice `asset` has no secondary feed to remove.
    error NoSecondaryFeed(bytes32 asset);

    // ---------------------------------------------------------------- admin (ORACLE_ADMIN_ROLE)

    /// @notice Registers `asset` with primary `feed`, or replaces its primary feed (keeping any secondary feed).
    /// @dev Reads and stores `feed.decimals()`. Does not require a fresh answer, so a feed can be registered
    ///      before its first update; reads fail until it has one.
    /// @param maxAge Seconds, in [1, 7 days]; set it above the feed's heartbeat.
    function setFeed(bytes32 asset, address feed, uint256 maxAge) external;

    /// @notice Sets or replaces the secondary feed of a registered `asset`.
    /// @dev A price is then returned only when both feeds pass every check and
    ///      `|primary - secondary| / primary <= maxDeviation`; the primary price is returned. Outside the bound the
    ///      adapter fails closed (reverts `PriceDeviation`) instead of picking a side: which of two prices is "worse
    ///      for the protocol" depends on the direction of each trade, liquidation or withdrawal, which an adapter
    ///      serving all of them cannot know, and picking one lets whoever can move one feed choose the price.
    ///      A failing secondary also fails the asset: without it the cross-check it exists for cannot be made.
    /// @param maxAge Seconds, in [1, 7 days], for the secondary feed.
    /// @param maxDeviation WAD, in (0, 0.2e18].
    function setSecondaryFeed(bytes32 asset, address feed, uint256 maxAge, uint256 maxDeviation) external;

    /// @notice Removes the secondary feed of `asset`; the primary feed then prices it alone.
    function removeSecondaryFeed(bytes32 asset) external;

    /// @notice Removes `asset` (both feeds); reads then revert with `UnknownAsset`.
    function removeAsset(bytes32 asset) external;

    // ---------------------------------------------------------------- views

    /// @notice The role allowed to change feeds.
    function ORACLE_ADMIN_ROLE() external view returns (bytes32);

    /// @notice The L2 sequencer-uptime feed, or address(0) when not checked (L1).
    function SEQUENCER_UPTIME_FEED() external view returns (address);

    /// @notice Seconds after the sequencer comes back up during which prices are refused, <= 1 day.
    function SEQUENCER_GRACE_PERIOD() external view returns (uint256);

    /// @notice The primary feed of `asset` (all zero when not registered).
    function primaryFeed(bytes32 asset) external view returns (PrimaryFeed memory);

    /// @notice The secondary feed of `asset` (all zero when none).
    function secondaryFeed(bytes32 asset) external view returns (SecondaryFeed memory);
}
