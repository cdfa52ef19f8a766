// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {SignedMath} from "@openzeppelin/contracts/utils/math/SignedMath.sol";

/// @title PerpMath
/// @notice The market's money math. Every rounding direction is in the name or an argument and goes
///         against the trader. `keeper/market_math.py` mirrors each function bit for bit (differential test).
/// @dev Units: prices, sizes, notionals, PnL, funding and fees are WAD; ratios are WAD fractions;
///      funding rates are WAD fractions per day. "up" rounds toward +infinity, "down" toward -infinity.
library PerpMath {
    uint256 internal constant WAD = 1e18;
    int256 internal constant WAD_I = 1e18;
    uint256 internal constant SECONDS_PER_DAY = 86_400;

    error NonPositiveFillPrice(int256 fill);

    // --- rounding primitives ------------------------------------------------------------------

    /// @notice a * b / d rounded down, for a * b < 2^256 (checked: overflow reverts) and d > 0.
    /// @dev Plain 256-bit arithmetic: every operand the market passes is bounded by its 128-bit storage,
    ///      so the 512-bit path of OpenZeppelin's mulDiv would only cost gas.
    function mulDivDown(uint256 a, uint256 b, uint256 d) internal pure returns (uint256) {
        return (a * b) / d;
    }

    /// @notice a * b / d rounded up, for a * b < 2^256 (checked) and d > 0.
    function mulDivUp(uint256 a, uint256 b, uint256 d) internal pure returns (uint256 q) {
        uint256 p = a * b;
        q = p / d;
        if (p % d != 0) q += 1;
    }

    /// @notice a * b / d rounded toward +inf (`up`) or -inf, for signed a, b, |a * b| < 2^256 and d > 0.
    function mulDivSigned(int256 a, int256 b, uint256 d, bool up) internal pure returns (int256) {
        bool negative = (a < 0) != (b < 0);
        uint256 p = SignedMath.abs(a) * SignedMath.abs(b);
        uint256 q = p / d;
        // Round the magnitude up when the rounding direction points away from zero.
        if (p % d != 0 && (negative ? !up : up)) q += 1;
        // SafeCast reverts instead of wrapping when the magnitude does not fit int256.
        return negative ? -SafeCast.toInt256(q) : SafeCast.toInt256(q);
    }

    /// @notice Signed floor division by a positive token scale: credits round down, debits round up.
    function toTokenDown(int256 amountWad, uint256 scale) internal pure returns (int256) {
        int256 s = int256(scale);
        int256 q = amountWad / s;
        if (amountWad % s != 0 && amountWad < 0) q -= 1;
        return q;
    }

    // --- trading ------------------------------------------------------------------------------

    /// @notice Synthetix v2 fill price: p + p * (2*skew + delta) / (2*skewScale),
    ///         rounded up for buys and down for sells.
    function fillPrice(uint256 price, int256 skew, int256 sizeDelta, uint256 skewScale)
        internal
        pure
        returns (uint256)
    {
        int256 impact = mulDivSigned(int256(price), 2 * skew + sizeDelta, 2 * skewScale, sizeDelta > 0);
        int256 fill = int256(price) + impact;
        if (fill <= 0) revert NonPositiveFillPrice(fill);
        return uint256(fill);
    }

    /// @notice |size| * price rounded up.
    function notionalUp(int256 size, uint256 price) internal pure returns (uint256) {
        return mulDivUp(SignedMath.abs(size), price, WAD);
    }

    /// @notice Trading fee in WAD: ceil(ceil(|delta| * fill) * rate).
    function tradingFee(int256 sizeDelta, uint256 fill, uint256 feeRate) internal pure returns (uint256) {
        return mulDivUp(notionalUp(sizeDelta, fill), feeRate, WAD);
    }

    // --- funding ------------------------------------------------------------------------------

    /// @notice Per-day funding rate: clamp(skew / skewScale, -1, 1) * maxFundingRate, truncated toward zero.
    function fundingRate(int256 skew, uint256 skewScale, uint256 maxFundingRate) internal pure returns (int256) {
        int256 proportional = (skew * WAD_I) / int256(skewScale);
        if (proportional > WAD_I) proportional = WAD_I;
        else if (proportional < -WAD_I) proportional = -WAD_I;
        return (proportional * int256(maxFundingRate)) / WAD_I;
    }

    /// @notice Change of the cumulative funding index (WAD collateral per unit size) over `elapsed` seconds.
    function fundingIndexDelta(int256 rate, uint256 price, uint256 elapsed) internal pure returns (int256) {
        return ((rate * int256(price)) / WAD_I) * int256(elapsed) / int256(SECONDS_PER_DAY);
    }

    /// @notice Funding a position owes the pool (negative: receives), rounded up.
    function fundingOwed(int256 size, int256 indexNow, int256 indexAtEntry) internal pure returns (int256) {
        return mulDivSigned(size, indexNow - indexAtEntry, WAD, true);
    }

    // --- positions ----------------------------------------------------------------------------

    /// @notice size * price - openNotional with the mark rounded down.
    function unrealizedPnl(int256 size, int256 openNotional, uint256 price) internal pure returns (int256) {
        return mulDivSigned(size, int256(price), WAD, false) - openNotional;
    }

    /// @notice Average-cost accounting of a trade of `sizeDelta` at `fill` on (size, openNotional).
    /// @return newSize The position after the trade.
    /// @return newOpenNotional Its cost basis (signed like the size).
    /// @return realized PnL realized by the reducing part, before fees and funding.
    function applyTrade(int256 size, int256 openNotional, int256 sizeDelta, uint256 fill)
        internal
        pure
        returns (int256 newSize, int256 newOpenNotional, int256 realized)
    {
        int256 f = int256(fill);
        if (size == 0 || (size > 0) == (sizeDelta > 0)) {
            return (size + sizeDelta, openNotional + mulDivSigned(sizeDelta, f, WAD, true), 0);
        }
        if (SignedMath.abs(sizeDelta) <= SignedMath.abs(size)) {
            int256 closed = -sizeDelta;
            int256 removedBasis = _mulDivBySize(openNotional, closed, size);
            realized = mulDivSigned(closed, f, WAD, false) - removedBasis;
            return (size + sizeDelta, openNotional - removedBasis, realized);
        }
        realized = mulDivSigned(size, f, WAD, false) - openNotional;
        newSize = size + sizeDelta;
        return (newSize, mulDivSigned(newSize, f, WAD, true), realized);
    }

    /// @notice True when the trade moves the position toward zero without crossing it.
    function isReduceOnly(int256 size, int256 sizeDelta) internal pure returns (bool) {
        return size != 0 && (size > 0) != (sizeDelta > 0) && SignedMath.abs(sizeDelta) <= SignedMath.abs(size);
    }

    /// @notice Liquidation reward (WAD): clamp(gross * ratio, min, max); zero without positions.
    function keeperFee(uint256 grossNotional, uint256 ratio, uint256 minFee, uint256 maxFee)
        internal
        pure
        returns (uint256)
    {
        if (grossNotional == 0) return 0;
        uint256 fee = mulDivUp(grossNotional, ratio, WAD);
        if (fee < minFee) return minFee;
        if (fee > maxFee) return maxFee;
        return fee;
    }

    /// @dev openNotional * closed / size rounded up; `closed` and `size` share a sign, so the quotient keeps
    ///      openNotional's sign.
    function _mulDivBySize(int256 openNotional, int256 closed, int256 size) private pure returns (int256) {
        uint256 absSize = SignedMath.abs(size);
        return mulDivSigned(openNotional, int256(SignedMath.abs(closed)), absSize, true);
    }
}
