// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Venue
/// @notice The vault's view of a trading venue, as internal hooks: the rules contract (ScalingVaultBase) calls
///         them and a concrete vault inherits exactly one implementation (e.g. PerpMarketVenue). Internal hooks
///         instead of an external adapter contract save a CALL plus ABI coding per use on the hot path.
/// @dev Conventions every implementation keeps:
///      - assets are addressed by vault index i in [0, _assetCount()), fixed at construction; `_assetId(i)` is
///        the venue's id shown to keepers and in events;
///      - sizes, prices and notionals are WAD; margin amounts are collateral token units;
///      - `_trade` settles at the venue and reverts on the venue's own errors (slippage, stale price, ...);
///      - equity reported by `_tryAccount` never overstates what the venue would pay out, and the change of
///        equity caused by one `_trade` is >= -(fee + sizeDelta * (fill - price)) - `_tradeRoundingWad()`.
abstract contract Venue {
    /// @notice The vault's account on the venue at current prices (WAD).
    struct VenueAccount {
        int256 equity;
        uint256 grossNotional;
        uint256 initialRequirement; // margin withdrawals must leave equity >= this while positions are open
        uint256 maintenanceRequirement;
    }

    /// @notice Closing-cost model of one asset used by exit previews: cost of closing up to the whole position
    ///         is <= notional * costRate, with costRate a WAD fraction (fee + adverse price impact).
    function _closeCostRate(uint256 index, int256 size, uint256 price) internal view virtual returns (uint256);

    function _assetCount() internal view virtual returns (uint256);
    function _assetId(uint256 index) internal view virtual returns (uint256);
    /// @dev Reverts AssetNotInVault for an id the vault does not hold.
    function _indexOf(uint256 assetId) internal view virtual returns (uint256);

    /// @dev Never reverts; ok = false when a price needed for an open position is unusable.
    function _tryAccount() internal view virtual returns (bool ok, VenueAccount memory account);
    /// @dev Reverts with the oracle's error when the price is unusable.
    function _price(uint256 index) internal view virtual returns (uint256);
    /// @dev Never reverts; status 0 = usable.
    function _tryPrice(uint256 index) internal view virtual returns (uint8 status, uint256 price);
    function _size(uint256 index) internal view virtual returns (int256);
    /// @return fill WAD fill price
    /// @return feeWad trading fee in WAD (token units times the token scale)
    function _trade(uint256 index, int256 sizeDelta, uint256 acceptablePrice)
        internal
        virtual
        returns (uint256 fill, uint256 feeWad);

    function _depositMargin(uint256 amount) internal virtual;
    function _withdrawMargin(uint256 amount) internal virtual;
    /// @dev Never reverts.
    function _tryWithdrawMargin(uint256 amount) internal virtual returns (bool);

    /// @notice 10 ** (18 - collateral decimals): WAD amount / scale = token amount.
    function _tokenScale() internal view virtual returns (uint256);
    /// @notice Upper bound of the equity lost to the venue's rounding in one trade (WAD).
    function _tradeRoundingWad() internal view virtual returns (uint256);
    /// @notice The venue's max leverage for an asset (1 / initial margin ratio), WAD.
    function _venueMaxLeverage(uint256 index) internal view virtual returns (uint256);
    function _venueAddress() internal view virtual returns (address);
}
