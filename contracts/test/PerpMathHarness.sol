// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {PerpMath} from "../market/libraries/PerpMath.sol";

/// @title PerpMathHarness
/// @notice Test-only: exposes every PerpMath function so tests/unit/test_market_math_diff.py can compare it with
///         keeper/market_math.py. Never deployed outside tests.
contract PerpMathHarness {
    function mulDivDown(uint256 a, uint256 b, uint256 d) external pure returns (uint256) {
        return PerpMath.mulDivDown(a, b, d);
    }

    function mulDivUp(uint256 a, uint256 b, uint256 d) external pure returns (uint256) {
        return PerpMath.mulDivUp(a, b, d);
    }

    function mulDivSigned(int256 a, int256 b, uint256 d, bool up) external pure returns (int256) {
        return PerpMath.mulDivSigned(a, b, d, up);
    }

    function toTokenDown(int256 amountWad, uint256 scale) external pure returns (int256) {
        return PerpMath.toTokenDown(amountWad, scale);
    }

    function fillPrice(uint256 price, int256 skew, int256 sizeDelta, uint256 skewScale)
        external
        pure
        returns (uint256)
    {
        return PerpMath.fillPrice(price, skew, sizeDelta, skewScale);
    }

    function notionalUp(int256 size, uint256 price) external pure returns (uint256) {
        return PerpMath.notionalUp(size, price);
    }

    function tradingFee(int256 sizeDelta, uint256 fill, uint256 feeRate) external pure returns (uint256) {
        return PerpMath.tradingFee(sizeDelta, fill, feeRate);
    }

    function fundingRate(int256 skew, uint256 skewScale, uint256 maxFundingRate) external pure returns (int256) {
        return PerpMath.fundingRate(skew, skewScale, maxFundingRate);
    }

    function fundingIndexDelta(int256 rate, uint256 price, uint256 elapsed) external pure returns (int256) {
        return PerpMath.fundingIndexDelta(rate, price, elapsed);
    }

    function fundingOwed(int256 size, int256 indexNow, int256 indexAtEntry) external pure returns (int256) {
        return PerpMath.fundingOwed(size, indexNow, indexAtEntry);
    }

    function unrealizedPnl(int256 size, int256 openNotional, uint256 price) external pure returns (int256) {
        return PerpMath.unrealizedPnl(size, openNotional, price);
    }

    function applyTrade(int256 size, int256 openNotional, int256 sizeDelta, uint256 fill)
        external
        pure
        returns (int256 newSize, int256 newOpenNotional, int256 realized)
    {
        return PerpMath.applyTrade(size, openNotional, sizeDelta, fill);
    }

    function isReduceOnly(int256 size, int256 sizeDelta) external pure returns (bool) {
        return PerpMath.isReduceOnly(size, sizeDelta);
    }

    function keeperFee(uint256 grossNotional, uint256 ratio, uint256 minFee, uint256 maxFee)
        external
        pure
        returns (uint256)
    {
        return PerpMath.keeperFee(grossNotional, ratio, minFee, maxFee);
    }
}
