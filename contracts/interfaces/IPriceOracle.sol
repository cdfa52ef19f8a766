// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IPriceOracle
/// @notice Validated asset prices for the market and the vaults.
/// @dev Prices are WAD (1e18) fixed point, quoted in collateral units per one unit of the asset
///      (e.g. USDC per ETH when the market's collateral is USDC). The collateral is the unit of account:
///      a depeg of the collateral against the feed's quote currency is not corrected (README, known issues).
interface IPriceOracle {
    /// @notice Why a price is unusable (0 = usable). Returned by `tryGetPrice`, never reverts.
    enum PriceStatus {
        OK,
        UNKNOWN_ASSET,
        NON_POSITIVE,
        ZERO_TIMESTAMP,
        FUTURE_TIMESTAMP,
        STALE,
        SEQUENCER_DOWN,
        SEQUENCER_GRACE,
        DEVIATION,
        FEED_CALL_FAILED
    }

    /// @notice The current price of `asset`, WAD, or a revert with a custom error carrying the failing values.
    function getPrice(bytes32 asset) external view returns (uint256 priceWad);

    /// @notice Like `getPrice` but never reverts: keepers and views use it to explain why nothing can be done.
    /// @return status OK when `priceWad` is usable; otherwise the first check that failed and `priceWad` = 0.
    /// @return priceWad The price, WAD.
    /// @return updatedAt The primary feed's `updatedAt` (0 when the call failed).
    function tryGetPrice(bytes32 asset) external view returns (PriceStatus status, uint256 priceWad, uint256 updatedAt);
}
