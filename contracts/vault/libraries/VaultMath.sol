// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title VaultMath
/// @notice Leverage and signed fixed-point helpers of the scaling vault. Rounding is in every name:
///         "Up" toward +infinity, "Down" toward -infinity, "ToZero" toward zero.
/// @dev Units: WAD (1e18) for sizes, prices, notionals, leverage and fractions.
library VaultMath {
    uint256 internal constant WAD = 1e18;

    function abs(int256 x) internal pure returns (uint256) {
        return x >= 0 ? uint256(x) : uint256(-x);
    }

    function absDiff(uint256 a, uint256 b) internal pure returns (uint256) {
        return a >= b ? a - b : b - a;
    }

    function absDiffSigned(int256 a, int256 b) internal pure returns (uint256) {
        return a >= b ? uint256(a - b) : uint256(b - a);
    }

    /// @notice |size| * price, rounded up (the venue's gross notional convention).
    function notionalUp(int256 size, uint256 price) internal pure returns (uint256) {
        return Math.mulDiv(abs(size), price, WAD, Math.Rounding.Ceil);
    }

    /// @notice size * price (signed), rounded toward zero.
    function notionalSigned(int256 size, uint256 price) internal pure returns (int256) {
        int256 m = int256(Math.mulDiv(abs(size), price, WAD));
        return size >= 0 ? m : -m;
    }

    /// @notice a * b / d for signed a, b and d > 0, rounded toward -infinity.
    function mulDivDownSigned(int256 a, int256 b, uint256 d) internal pure returns (int256) {
        uint256 ua = abs(a);
        uint256 ub = abs(b);
        if ((a < 0) != (b < 0) && a != 0 && b != 0) {
            return -int256(Math.mulDiv(ua, ub, d, Math.Rounding.Ceil));
        }
        return int256(Math.mulDiv(ua, ub, d));
    }

    /// @notice a * b / d for signed a and unsigned b, d, rounded toward zero.
    function mulDivToZero(int256 a, uint256 b, uint256 d) internal pure returns (int256) {
        int256 m = int256(Math.mulDiv(abs(a), b, d));
        return a >= 0 ? m : -m;
    }

    /// @notice Gross leverage = gross / equity, rounded up; max when equity <= 0 with exposure, 0 without.
    function leverageUp(uint256 gross, int256 equity) internal pure returns (uint256) {
        if (gross == 0) return 0;
        if (equity <= 0) return type(uint256).max;
        return Math.mulDiv(gross, WAD, uint256(equity), Math.Rounding.Ceil);
    }

    /// @notice True when the trade moves the size toward zero without crossing it.
    function isReduceOnly(int256 size, int256 delta) internal pure returns (bool) {
        return size != 0 && (size > 0) != (delta > 0) && abs(delta) <= abs(size);
    }

    /// @notice Token amount of a WAD value, rounded down; negative values give 0.
    function toTokenDown(int256 wadAmount, uint256 scale) internal pure returns (uint256) {
        return wadAmount <= 0 ? 0 : uint256(wadAmount) / scale;
    }

    /// @notice Token amount of a WAD value, rounded up; negative values give 0.
    function toTokenUp(int256 wadAmount, uint256 scale) internal pure returns (uint256) {
        return wadAmount <= 0 ? 0 : Math.ceilDiv(uint256(wadAmount), scale);
    }

    /// @notice Fraction (WAD, of every position) a ripcord closes: down to maxLeverage, at most `maxCut` of notional
    ///         unless leverage is above `leverageCap`; a margin-triggered ripcord at or below maxLeverage cuts
    ///         one chunk. Rounded up, at most WAD.
    function ripcordFraction(
        uint256 gross,
        int256 equity,
        uint256 leverage,
        uint256 maxLeverage,
        uint256 leverageCap,
        uint256 maxCut
    ) internal pure returns (uint256) {
        if (gross == 0) return 0;
        uint256 keep = equity > 0 ? Math.mulDiv(maxLeverage, uint256(equity), WAD) : 0;
        uint256 cut = gross > keep ? gross - keep : gross;
        if (leverage <= leverageCap && cut > maxCut) cut = maxCut;
        uint256 f = Math.mulDiv(cut, WAD, gross, Math.Rounding.Ceil);
        return f > WAD ? WAD : f;
    }

    /// @notice Size change that brings `size` to `exposure` (signed WAD notional / equity), rounded toward zero.
    function deltaToExposure(int256 exposure, int256 equity, uint256 price, int256 size) internal pure returns (int256) {
        if (equity <= 0 || price == 0) return 0;
        return mulDivToZero(exposure, uint256(equity), price) - size;
    }

    /// @notice Signed exposure weight * leverage (WAD).
    function policyExposure(int256 weight, uint256 leverage) internal pure returns (int256) {
        return weight * int256(leverage) / int256(WAD);
    }
}
