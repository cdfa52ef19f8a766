// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {IScalingVault} from "../interfaces/IScalingVault.sol";
import {VaultMath} from "./libraries/VaultMath.sol";
import {Venue} from "./venue/Venue.sol";

/// @title ScalingVaultBase
/// @notice Storage, constants and the internals shared by the vault's two halves: ScalingVaultCore (deposits and
///         the keeper's trading path, in the vault's own code) and ScalingVaultModule (exits, ripcord, governance
///         and views, run by DELEGATECALL on the vault's storage). Both inherit this contract and the same venue,
///         so their storage layouts and venue immutables are identical.
/// @dev The split keeps the vault under the EIP-170 code size limit while the hot path (rebalance) stays in the
///      vault's own code. Internal functions are compiled only into the half that uses them.
abstract contract ScalingVaultBase is ERC4626, AccessControl, ReentrancyGuardTransient, Venue {
    using Math for uint256;
    using VaultMath for int256;

    bytes32 public constant MANAGER_ROLE = keccak256("MANAGER_ROLE");
    bytes32 public constant KEEPER_ROLE = keccak256("KEEPER_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    uint256 internal constant WAD = 1e18;
    /// @dev Virtual shares 10**6 against the first-depositor inflation attack (OpenZeppelin's offset).
    uint8 internal constant DECIMALS_OFFSET = 6;
    uint256 internal constant VIRTUAL_SHARES = 10 ** DECIMALS_OFFSET;
    uint256 internal constant MAX_LEVERAGE_CAP = 15e18;
    uint256 internal constant MAX_SLIPPAGE = 0.05e18;
    uint256 internal constant MAX_RIPCORD_SLIPPAGE = 0.1e18;
    uint256 internal constant MAX_MARGIN_BUFFER = 1e18;
    /// @dev Token units; larger deposits are refused (the venue keeps margin in int128).
    uint256 internal constant MAX_DEPOSIT = type(uint96).max;

    struct AssetSlot {
        int64 weight; // WAD, signed
        uint192 notionalCap; // WAD
    }

    /// @dev One trade of a keeper call, ripcord or exit.
    struct Leg {
        uint256 index;
        uint256 price;
        int256 size;
        int256 delta;
        uint256 limit;
    }

    /// @dev Everything an exit needs, measured once before it trades.
    struct ExitCtx {
        int256 equity; // WAD
        uint256 gross; // WAD
        uint256 idle; // token units
        uint256 totalAssets; // token units, rounded down
        uint256 supply;
    }

    IScalingVault.Params internal _params;
    IScalingVault.VaultState internal _state;
    AssetSlot[4] internal _assets;
    int128[4] internal _pendingExposure;
    address internal _forwarder;

    constructor(IERC20 asset_, string memory name_, string memory symbol_) ERC20(name_, symbol_) ERC4626(asset_) {}

    function _decimalsOffset() internal pure override returns (uint8) {
        return DECIMALS_OFFSET;
    }

    /// @notice Venue equity (rounded down, negative counted as 0) plus idle collateral. Never reverts: with an
    ///         unusable price it returns the last equity measured with usable prices plus idle collateral.
    /// @dev Positions are marked at the oracle price; the cost to close is not subtracted because every exit pays
    ///      its own closing cost.
    function totalAssets() public view virtual override returns (uint256) {
        (bool ok, VenueAccount memory a) = _tryAccount();
        uint256 equityTokens = ok ? a.equity.toTokenDown(_tokenScale()) : _state.lastEquity;
        return equityTokens + _idle();
    }

    // ---------------------------------------------------------------------------------------------
    // Shared internals
    // ---------------------------------------------------------------------------------------------

    function _lastTradeAt(IScalingVault.VaultState memory st) internal pure returns (uint256) {
        return Math.max(st.lastRebalanceAt, Math.max(st.lastIterateAt, st.lastRipcordAt));
    }

    function _idle() internal view returns (uint256) {
        return IERC20(asset()).balanceOf(address(this));
    }

    function _equityTokens(int256 equityWad) internal view returns (uint112) {
        uint256 tokens = equityWad.toTokenDown(_tokenScale());
        return tokens > type(uint112).max ? type(uint112).max : uint112(tokens);
    }

    /// @dev Reverts with the first asset whose price is unusable.
    function _revertPriceUnavailable() internal view {
        uint256 n = _assetCount();
        for (uint256 i; i < n; ++i) {
            (uint8 status,) = _tryPrice(i);
            if (status != 0) revert IScalingVault.PriceUnavailable(_assetId(i), status);
        }
        revert IScalingVault.PriceUnavailable(type(uint256).max, 0);
    }

    function _strictAccount() internal view returns (VenueAccount memory a) {
        bool ok;
        (ok, a) = _tryAccount();
        if (!ok) _revertPriceUnavailable();
    }

    function _tryExitCtx() internal view returns (bool ok, ExitCtx memory x) {
        VenueAccount memory a;
        (ok, a) = _tryAccount();
        if (!ok) return (false, x);
        x.equity = a.equity;
        x.gross = a.grossNotional;
        x.idle = _idle();
        x.totalAssets = a.equity.toTokenDown(_tokenScale()) + x.idle;
        x.supply = totalSupply();
    }

    /// @dev oracle * (1 +- slippage); a non-zero keeper limit must be inside it.
    function _acceptablePrice(Leg memory l, uint256 slippage) internal view returns (uint256 bound) {
        bound = l.delta > 0
            ? l.price.mulDiv(WAD + slippage, WAD)
            : l.price.mulDiv(WAD - slippage, WAD, Math.Rounding.Ceil);
        if (l.limit == 0) return bound;
        if (l.delta > 0 ? l.limit > bound : l.limit < bound) {
            revert IScalingVault.AcceptablePriceOutOfBounds(_assetId(l.index), l.limit, bound);
        }
        return l.limit;
    }

    /// @dev Reduces every position by ceil(|size| * num / den) (at most all of it) at oracle -+ slippage.
    /// @return equityChange conservative estimate (WAD)
    /// @return grossCut notional removed (WAD)
    function _closeFraction(uint256 num, uint256 den, uint256 slippage)
        internal
        returns (int256 equityChange, uint256 grossCut)
    {
        uint256 n = _assetCount();
        for (uint256 i; i < n; ++i) {
            int256 size = _size(i);
            if (size == 0) continue;
            uint256 held = VaultMath.abs(size);
            uint256 cut = Math.min(held.mulDiv(num, den, Math.Rounding.Ceil), held);
            if (cut == 0) continue;
            (int256 change, uint256 removed) =
                _reduce(Leg(i, _price(i), size, size > 0 ? -int256(cut) : int256(cut), 0), slippage);
            equityChange += change;
            grossCut += removed;
        }
    }

    /// @dev One reduce-only trade at oracle -+ slippage; conservative equity change and gross notional removed.
    function _reduce(Leg memory l, uint256 slippage) internal returns (int256 equityChange, uint256 grossCut) {
        (uint256 fill, uint256 feeWad) = _trade(l.index, l.delta, _acceptablePrice(l, slippage));
        equityChange = VaultMath.mulDivDownSigned(l.delta, int256(l.price) - int256(fill), WAD) - int256(feeWad)
            - int256(_tradeRoundingWad());
        grossCut = VaultMath.notionalUp(l.size, l.price) - VaultMath.notionalUp(l.size + l.delta, l.price);
    }

    function _clearPending() internal {
        uint8 mask = _state.pendingMask;
        if (mask != 0) {
            _state.pendingMask = 0;
            _state.pendingBuyMask = 0;
            emit IScalingVault.PendingRebalanceCleared(mask);
        }
    }

    function _setAssetParams(int64[] memory weights, uint192[] memory caps) internal {
        uint256 n = _assetCount();
        if (weights.length != n) revert IScalingVault.AssetCountMismatch(weights.length, n);
        if (caps.length != n) revert IScalingVault.AssetCountMismatch(caps.length, n);
        uint256 sum;
        for (uint256 i; i < n; ++i) {
            sum += VaultMath.abs(weights[i]);
            _assets[i] = AssetSlot(weights[i], caps[i]);
            emit IScalingVault.AssetParamsUpdated(_assetId(i), weights[i], caps[i]);
        }
        if (sum != WAD) revert IScalingVault.WeightsSumNotOne(sum);
    }

    function _setParams(IScalingVault.Params memory p) internal {
        _validateLeverage(p);
        uint256 maxTolerance = Math.min(p.targetLeverage - p.minLeverage, p.maxLeverage - p.targetLeverage);
        if (p.tolerance > maxTolerance) revert IScalingVault.InvalidParameter("tolerance", p.tolerance, 0, maxTolerance);
        if (p.minImprovement > p.maxLeverage) {
            revert IScalingVault.InvalidParameter("minImprovement", p.minImprovement, 0, p.maxLeverage);
        }
        if (p.rebalanceInterval < p.chunkCooldown || p.chunkCooldown < p.ripcordCooldown) {
            revert IScalingVault.CooldownsOutOfOrder(p.rebalanceInterval, p.chunkCooldown, p.ripcordCooldown);
        }
        if (p.maxSlippage > MAX_SLIPPAGE) revert IScalingVault.InvalidParameter("maxSlippage", p.maxSlippage, 0, MAX_SLIPPAGE);
        if (p.ripcordSlippage < p.maxSlippage || p.ripcordSlippage > MAX_RIPCORD_SLIPPAGE) {
            revert IScalingVault.InvalidParameter(
                "ripcordSlippage", p.ripcordSlippage, p.maxSlippage, MAX_RIPCORD_SLIPPAGE
            );
        }
        if (p.maxTradeNotional == 0) revert IScalingVault.InvalidParameter("maxTradeNotional", 0, 1, type(uint96).max);
        if (p.ripcordMaxTradeNotional < p.maxTradeNotional) {
            revert IScalingVault.InvalidParameter(
                "ripcordMaxTradeNotional", p.ripcordMaxTradeNotional, p.maxTradeNotional, type(uint96).max
            );
        }
        if (p.ripcordMarginBuffer > MAX_MARGIN_BUFFER) {
            revert IScalingVault.InvalidParameter("ripcordMarginBuffer", p.ripcordMarginBuffer, 0, MAX_MARGIN_BUFFER);
        }
        _params = p;
        emit IScalingVault.ParamsUpdated(p);
    }

    /// @dev 0 < min <= target <= max < ripcord <= cap <= MAX_LEVERAGE_CAP and cap < every asset's venue maximum.
    function _validateLeverage(IScalingVault.Params memory p) internal view {
        if (p.minLeverage == 0) revert IScalingVault.LeverageOutOfOrder(0, 0);
        if (p.minLeverage > p.targetLeverage) revert IScalingVault.LeverageOutOfOrder(p.minLeverage, p.targetLeverage);
        if (p.targetLeverage > p.maxLeverage) revert IScalingVault.LeverageOutOfOrder(p.targetLeverage, p.maxLeverage);
        if (p.maxLeverage >= p.ripcordLeverage) {
            revert IScalingVault.LeverageOutOfOrder(p.maxLeverage, p.ripcordLeverage);
        }
        if (p.ripcordLeverage > p.leverageCap) revert IScalingVault.LeverageOutOfOrder(p.ripcordLeverage, p.leverageCap);
        if (p.leverageCap > MAX_LEVERAGE_CAP) revert IScalingVault.LeverageOutOfOrder(p.leverageCap, MAX_LEVERAGE_CAP);
        uint256 n = _assetCount();
        for (uint256 i; i < n; ++i) {
            uint256 venueMax = _venueMaxLeverage(i);
            if (p.leverageCap >= venueMax) {
                revert IScalingVault.LeverageCapAboveVenueMax(_assetId(i), p.leverageCap, venueMax);
            }
        }
    }
}
