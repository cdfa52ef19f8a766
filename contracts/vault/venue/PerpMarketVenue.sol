// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {IPerpMarket} from "../../interfaces/IPerpMarket.sol";
import {IPriceOracle} from "../../interfaces/IPriceOracle.sol";
import {IScalingVault} from "../../interfaces/IScalingVault.sol";
import {Venue} from "./Venue.sol";

/// @title PerpMarketVenue
/// @notice Venue hooks for scalevault's PerpMarket: one cross-margined account (the vault's address), up to four
///         assets whose market ids and oracle keys are immutables (no storage read to find them).
/// @dev Prices are read from the market's oracle directly (the same oracle the market settles with, in the same
///      block), so the vault's leverage and bounds use exactly the price the trade will see.
abstract contract PerpMarketVenue is Venue {
    using SafeERC20 for IERC20;

    uint256 public constant MAX_ASSETS = 4;
    uint256 internal constant WAD_ = 1e18;

    IPerpMarket internal immutable MARKET;
    IPriceOracle internal immutable ORACLE;
    uint256 internal immutable SCALE;
    uint256 internal immutable ASSET_COUNT;
    uint256 internal immutable ID0;
    uint256 internal immutable ID1;
    uint256 internal immutable ID2;
    uint256 internal immutable ID3;
    bytes32 internal immutable KEY0;
    bytes32 internal immutable KEY1;
    bytes32 internal immutable KEY2;
    bytes32 internal immutable KEY3;

    error VenueAssetCount(uint256 count, uint256 max);
    error VenueDuplicateAsset(uint256 assetId);
    error VenueZeroAddress();

    /// @param ids market asset ids of the vault's assets (1 to 4, distinct, listed on the market).
    constructor(IPerpMarket market, uint256[] memory ids) {
        if (address(market) == address(0)) revert VenueZeroAddress();
        uint256 n = ids.length;
        if (n == 0 || n > MAX_ASSETS) revert VenueAssetCount(n, MAX_ASSETS);
        bytes32[4] memory keys;
        uint256[4] memory padded;
        for (uint256 i; i < n; ++i) {
            for (uint256 j; j < i; ++j) {
                if (ids[j] == ids[i]) revert VenueDuplicateAsset(ids[i]);
            }
            keys[i] = market.assetConfig(ids[i]).oracleKey; // reverts UnknownAsset for unlisted ids
            padded[i] = ids[i];
        }
        MARKET = market;
        ORACLE = market.oracle();
        IERC20 token = IERC20(market.collateralToken());
        SCALE = 10 ** (18 - uint256(IERC20Metadata(address(token)).decimals()));
        ASSET_COUNT = n;
        (ID0, ID1, ID2, ID3) = (padded[0], padded[1], padded[2], padded[3]);
        (KEY0, KEY1, KEY2, KEY3) = (keys[0], keys[1], keys[2], keys[3]);
        token.forceApprove(address(market), type(uint256).max);
    }

    function _assetCount() internal view override returns (uint256) {
        return ASSET_COUNT;
    }

    function _assetId(uint256 index) internal view override returns (uint256) {
        if (index == 0) return ID0;
        if (index == 1) return ID1;
        if (index == 2) return ID2;
        return ID3;
    }

    function _key(uint256 index) internal view returns (bytes32) {
        if (index == 0) return KEY0;
        if (index == 1) return KEY1;
        if (index == 2) return KEY2;
        return KEY3;
    }

    function _indexOf(uint256 assetId) internal view override returns (uint256) {
        uint256 n = ASSET_COUNT;
        if (assetId == ID0) return 0;
        if (n > 1 && assetId == ID1) return 1;
        if (n > 2 && assetId == ID2) return 2;
        if (n > 3 && assetId == ID3) return 3;
        revert IScalingVault.AssetNotInVault(assetId);
    }

    function _tryAccount() internal view override returns (bool ok, VenueAccount memory account) {
        IPerpMarket.MarginState memory s;
        (ok, s) = MARKET.tryMarginState(address(this));
        if (ok) {
            account = VenueAccount({
                equity: s.equity,
                grossNotional: s.grossNotional,
                initialRequirement: s.initialRequirement,
                maintenanceRequirement: s.maintenanceRequirement
            });
        }
    }

    function _price(uint256 index) internal view override returns (uint256) {
        return ORACLE.getPrice(_key(index));
    }

    function _tryPrice(uint256 index) internal view override returns (uint8 status, uint256 price) {
        IPriceOracle.PriceStatus s;
        (s, price,) = ORACLE.tryGetPrice(_key(index));
        status = uint8(s);
    }

    function _size(uint256 index) internal view override returns (int256) {
        return MARKET.position(address(this), _assetId(index)).size;
    }

    function _trade(uint256 index, int256 sizeDelta, uint256 acceptablePrice)
        internal
        override
        returns (uint256 fill, uint256 feeWad)
    {
        uint256 fee;
        (fill, fee) = MARKET.modifyPosition(_assetId(index), sizeDelta, acceptablePrice, block.timestamp);
        feeWad = fee * SCALE;
    }

    function _depositMargin(uint256 amount) internal override {
        MARKET.depositMargin(amount);
    }

    function _withdrawMargin(uint256 amount) internal override {
        MARKET.withdrawMargin(amount);
    }

    function _tryWithdrawMargin(uint256 amount) internal override returns (bool) {
        try MARKET.withdrawMargin(amount) {
            return true;
        } catch {
            return false;
        }
    }

    function _tokenScale() internal view override returns (uint256) {
        return SCALE;
    }

    /// @dev Realized PnL and settled funding are each floored to token units (< SCALE each); marks and the cost
    ///      basis round by at most 4 wei in total.
    function _tradeRoundingWad() internal view override returns (uint256) {
        return 2 * SCALE + 4;
    }

    function _venueMaxLeverage(uint256 index) internal view override returns (uint256) {
        return WAD_ * WAD_ / MARKET.assetConfig(_assetId(index)).initialMarginRatio;
    }

    function _venueAddress() internal view override returns (address) {
        return address(MARKET);
    }

    /// @dev Synthetix fill: fill = p * (1 + (2 skew + delta) / (2 skewScale)). Closing c <= |size| of a position
    ///      with sign s costs per unit of notional at most impact = max(0, |size| - 2 s skew) / (2 skewScale),
    ///      plus the fee on a fill <= p (1 + impact), plus one wei of fill rounding (1 / p).
    function _closeCostRate(uint256 index, int256 size, uint256 price) internal view override returns (uint256) {
        uint256 id = _assetId(index);
        IPerpMarket.AssetConfig memory cfg = MARKET.assetConfig(id);
        IPerpMarket.AssetState memory st = MARKET.assetState(id);
        int256 skew = int256(uint256(st.longOpenInterest)) - int256(uint256(st.shortOpenInterest));
        int256 absSize = size >= 0 ? size : -size;
        int256 adverse = size >= 0 ? absSize - 2 * skew : absSize + 2 * skew;
        uint256 impact =
            adverse > 0 ? Math.mulDiv(uint256(adverse), WAD_, 2 * uint256(cfg.skewScale), Math.Rounding.Ceil) : 0;
        uint256 feePart = Math.mulDiv(cfg.tradingFee, WAD_ + impact, WAD_, Math.Rounding.Ceil);
        return impact + feePart + Math.ceilDiv(WAD_, price == 0 ? 1 : price) + 1;
    }
}
