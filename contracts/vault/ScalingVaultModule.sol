// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {IScalingVault} from "../interfaces/IScalingVault.sol";
import {VaultMath} from "./libraries/VaultMath.sol";
import {ScalingVaultBase} from "./ScalingVaultBase.sol";

/// @title ScalingVaultModule
/// @notice The vault's code that is not on the keeper's trading path: exits, ripcord, governance and the views.
///         It only ever runs by DELEGATECALL from its vault (ScalingVaultCore), on the vault's storage and as the
///         vault's venue account; the vault applies the reentrancy guard before delegating.
/// @dev A direct call runs on the module's own, empty storage (no shares, no roles, no positions) and can do
///      nothing useful. Function selectors are the IScalingVault / IERC4626 ones.
abstract contract ScalingVaultModule is ScalingVaultBase {
    using Math for uint256;
    using SafeERC20 for IERC20;
    using VaultMath for int256;

    /// @dev Token units per vault asset: an exit worth no more than this is paid without trading, because the
    ///      venue's rounding of its closing trades (fee rounded up to a unit, PnL and funding rounded down) could
    ///      cost more than it is worth and the staying holders would pay the difference.
    uint256 internal constant DUST_EXIT_UNITS = 8;

    // =============================================================================================
    // Exits
    // =============================================================================================

    /// @dev See ScalingVaultCore.redeem.
    function redeem(uint256 shares, address receiver, address owner) public override returns (uint256 assets) {
        ExitCtx memory x = _exitCtx();
        uint256 balance = balanceOf(owner);
        if (shares > balance) revert ERC4626ExceededMaxRedeem(owner, shares, balance);
        assets = shares.mulDiv(x.totalAssets + 1, x.supply + VIRTUAL_SHARES);
        if (msg.sender != owner) _spendAllowance(owner, msg.sender, shares);
        _burn(owner, shares);
        uint256 cost = _closeForExit(owner, shares, x, assets, true);
        assets = assets > cost ? assets - cost : 0;
        _payOut(receiver, assets, x);
        emit Withdraw(msg.sender, receiver, owner, assets, shares);
    }

    /// @dev See ScalingVaultCore.withdraw.
    function withdraw(uint256 assets, address receiver, address owner) public override returns (uint256 shares) {
        ExitCtx memory x = _exitCtx();
        uint256 bound = _previewWithdraw(assets, x);
        uint256 balance = balanceOf(owner);
        if (bound > balance) revert ERC4626ExceededMaxWithdraw(owner, assets, _maxWithdraw(balance, x));
        uint256 cost = _closeForExit(owner, bound, x, assets, false);
        shares = x.gross == 0
            ? bound
            : (assets + cost).mulDiv(x.supply + VIRTUAL_SHARES, x.totalAssets + 1, Math.Rounding.Ceil);
        if (shares > bound) revert IScalingVault.ExitCostAboveBound(shares, bound);
        if (msg.sender != owner) _spendAllowance(owner, msg.sender, shares);
        _burn(owner, shares);
        _payOut(receiver, assets, x);
        emit Withdraw(msg.sender, receiver, owner, assets, shares);
    }

    function maxWithdraw(address owner) public view override returns (uint256) {
        (bool ok, ExitCtx memory x) = _tryExitCtx();
        if (!ok) return 0;
        return _maxWithdraw(balanceOf(owner), x);
    }

    function maxRedeem(address owner) public view override returns (uint256) {
        (bool ok,) = _tryAccount();
        return ok ? balanceOf(owner) : 0;
    }

    function previewWithdraw(uint256 assets) public view override returns (uint256) {
        return _previewWithdraw(assets, _exitCtx());
    }

    function previewRedeem(uint256 shares) public view override returns (uint256) {
        ExitCtx memory x = _exitCtx();
        uint256 gross = shares.mulDiv(x.totalAssets + 1, x.supply + VIRTUAL_SHARES);
        if (x.gross == 0 || x.supply == 0) return gross;
        (uint256 k, uint256 c) = _exitCostModel();
        uint256 cost = Math.ceilDiv(k.mulDiv(shares, x.supply, Math.Rounding.Ceil) + c, _tokenScale());
        return gross > cost ? gross - cost : 0;
    }

    function _exitCtx() internal view returns (ExitCtx memory x) {
        bool ok;
        (ok, x) = _tryExitCtx();
        if (!ok) _revertPriceUnavailable();
    }

    /// @dev Linear bound of the exit cost (WAD): cost(shares) <= ceil(k * shares / supply) + c. Per position,
    ///      k_i = notional * rate (closing all of it) and c_i covers the rounding of the closed size (one wei,
    ///      worth price / WAD + 2 wei of notional), the fee's rounding up to a token unit and the venue's
    ///      per-trade rounding.
    function _exitCostModel() internal view returns (uint256 k, uint256 c) {
        uint256 n = _assetCount();
        uint256 perTrade = _tradeRoundingWad() + _tokenScale() + 4;
        for (uint256 i; i < n; ++i) {
            int256 size = _size(i);
            if (size == 0) continue;
            (, uint256 price) = _tryPrice(i);
            uint256 rate = _closeCostRate(i, size, price);
            k += VaultMath.notionalUp(size, price).mulDiv(rate, WAD, Math.Rounding.Ceil);
            c += (price / WAD + 3).mulDiv(rate, WAD, Math.Rounding.Ceil) + perTrade;
        }
    }

    /// @dev Shares whose pro-rata assets minus the linear cost bound cover `assets` (docs/VAULT.md, "Exits").
    function _previewWithdraw(uint256 assets, ExitCtx memory x) internal view returns (uint256) {
        if (x.gross == 0 || x.supply == 0) {
            return assets.mulDiv(x.supply + VIRTUAL_SHARES, x.totalAssets + 1, Math.Rounding.Ceil);
        }
        (uint256 k, uint256 c) = _exitCostModel();
        uint256 scale = _tokenScale();
        uint256 netWad = _netAssetsWad(x, k, scale);
        if (netWad == 0) return type(uint256).max;
        uint256 needed = assets + 2 + Math.ceilDiv(c + 1, scale);
        return (needed * scale).mulDiv(x.supply + VIRTUAL_SHARES, netWad, Math.Rounding.Ceil);
    }

    /// @dev Largest `assets` with _previewWithdraw(assets) <= balance (an underestimate, as ERC-4626 allows).
    function _maxWithdraw(uint256 balance, ExitCtx memory x) internal view returns (uint256) {
        if (x.gross == 0 || x.supply == 0) return balance.mulDiv(x.totalAssets + 1, x.supply + VIRTUAL_SHARES);
        (uint256 k, uint256 c) = _exitCostModel();
        uint256 scale = _tokenScale();
        uint256 covered = balance.mulDiv(_netAssetsWad(x, k, scale), (x.supply + VIRTUAL_SHARES) * scale);
        uint256 reserve = 2 + Math.ceilDiv(c + 1, scale);
        return covered > reserve ? covered - reserve : 0;
    }

    /// @dev (totalAssets + 1) * scale - k * (supply + virtual) / supply, floored at 0 (token units * scale).
    function _netAssetsWad(ExitCtx memory x, uint256 k, uint256 scale) internal pure returns (uint256) {
        uint256 gross = (x.totalAssets + 1) * scale;
        uint256 cost = k.mulDiv(x.supply + VIRTUAL_SHARES, x.supply, Math.Rounding.Ceil);
        return gross > cost ? gross - cost : 0;
    }

    /// @dev Closes ceil(size * shares / supply) of every position and returns the realized cost in token units,
    ///      rounded up (a gain counts as zero and stays with the vault). If what stays could not carry the venue's
    ///      initial requirement after paying `payout` (minus the cost when `netOfCost`) - a dust remainder below
    ///      the venue's minimum keeper fee - the remainder is closed too, at the exiter's cost. A dust exit (see
    ///      DUST_EXIT_UNITS) does not trade. Updates x.equity.
    function _closeForExit(address owner, uint256 shares, ExitCtx memory x, uint256 payout, bool netOfCost)
        internal
        returns (uint256 cost)
    {
        if (x.gross == 0 || shares == 0 || payout <= DUST_EXIT_UNITS * _assetCount()) return 0;
        uint256 slippage = _params.ripcordSlippage;
        _closeFraction(shares, x.supply, slippage);
        VenueAccount memory a = _strictAccount();
        cost = (x.equity - a.equity).toTokenUp(_tokenScale());
        if (netOfCost) payout = payout > cost ? payout - cost : 0;
        uint256 fromMargin = payout > x.idle ? payout - x.idle : 0;
        if (a.grossNotional != 0 && a.equity - int256(fromMargin * _tokenScale()) < int256(a.initialRequirement)) {
            _closeFraction(1, 1, slippage);
            a = _strictAccount();
            cost = (x.equity - a.equity).toTokenUp(_tokenScale());
        }
        emit IScalingVault.ExitPositionsClosed(owner, shares.mulDiv(WAD, x.supply), x.equity - a.equity);
        x.equity = a.equity;
    }

    /// @dev Pays from idle collateral first, then from margin.
    function _payOut(address receiver, uint256 assets, ExitCtx memory x) internal {
        uint256 fromMargin = assets > x.idle ? assets - x.idle : 0;
        if (fromMargin != 0) _withdrawMargin(fromMargin);
        _state.lastEquity = _equityTokens(x.equity - int256(fromMargin * _tokenScale()));
        IERC20(asset()).safeTransfer(receiver, assets);
    }

    // =============================================================================================
    // Idle collateral
    // =============================================================================================

    /// @dev See IScalingVault.sweep.
    function sweep() external {
        uint256 idle = _idle();
        if (idle != 0) {
            _depositMargin(idle);
            emit IScalingVault.Swept(idle);
        }
    }

    // =============================================================================================
    // Governance
    // =============================================================================================

    function setParams(IScalingVault.Params calldata p) external onlyRole(MANAGER_ROLE) {
        _setParams(p);
        _clearPending();
    }

    function setAssetParams(int64[] calldata weights, uint192[] calldata notionalCaps)
        external
        onlyRole(MANAGER_ROLE)
    {
        _setAssetParams(weights, notionalCaps);
        _clearPending();
    }

    function setForwarder(address forwarder_) external onlyRole(MANAGER_ROLE) {
        _forwarder = forwarder_;
        emit IScalingVault.ForwarderUpdated(forwarder_);
    }

    function pause() external onlyRole(GUARDIAN_ROLE) {
        _state.paused = true;
        emit IScalingVault.VaultPaused(msg.sender);
    }

    function unpause() external onlyRole(GUARDIAN_ROLE) {
        _state.paused = false;
        emit IScalingVault.VaultUnpaused(msg.sender);
    }

    // =============================================================================================
    // Views
    // =============================================================================================

    function params() external view returns (IScalingVault.Params memory) {
        return _params;
    }

    /// @dev Also answers direct calls (immutables only): the vault's constructor checks it.
    function venue() external view returns (address) {
        return _venueAddress();
    }

    function vaultState() external view returns (IScalingVault.VaultState memory) {
        return _state;
    }

    function assetIds() external view returns (uint256[] memory ids) {
        uint256 n = _assetCount();
        ids = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            ids[i] = _assetId(i);
        }
    }

    function assetParams() public view returns (IScalingVault.AssetParams[] memory list) {
        uint256 n = _assetCount();
        list = new IScalingVault.AssetParams[](n);
        for (uint256 i; i < n; ++i) {
            list[i] = IScalingVault.AssetParams(_assetId(i), _assets[i].weight, _assets[i].notionalCap);
        }
    }

    function pendingExposures() public view returns (int256[] memory list) {
        uint256 n = _assetCount();
        list = new int256[](n);
        uint8 mask = _state.pendingMask;
        for (uint256 i; i < n; ++i) {
            if (mask & (1 << i) != 0) list[i] = _pendingExposure[i];
        }
    }

    function accountView() public view returns (IScalingVault.AccountView memory v) {
        (bool ok, VenueAccount memory a) = _tryAccount();
        if (!ok) return v;
        v = IScalingVault.AccountView(
            true, a.equity, a.grossNotional, a.maintenanceRequirement, VaultMath.leverageUp(a.grossNotional, a.equity)
        );
    }

    function marks()
        public
        view
        returns (
            IScalingVault.AccountView memory account,
            uint256[] memory prices,
            uint8[] memory priceStatuses,
            int256[] memory sizes
        )
    {
        uint256 n = _assetCount();
        prices = new uint256[](n);
        priceStatuses = new uint8[](n);
        sizes = new int256[](n);
        account = accountView();
        for (uint256 i; i < n; ++i) {
            (priceStatuses[i], prices[i]) = _tryPrice(i);
            sizes[i] = _size(i);
        }
    }

    // =============================================================================================
    // Keeper plan (shouldRebalance / checkUpkeep)
    // =============================================================================================

    /// @dev Working memory of one plan.
    struct Plan {
        IScalingVault.AccountView a;
        uint256[] prices;
        int256[] held;
        int256[] sizes;
        IScalingVault.VaultState st;
        IScalingVault.Params p;
        uint256 last;
    }

    /// @dev See IScalingVault.shouldRebalance. Priority: unusable price > nothing to manage > ripcord > pending
    ///      chunk > out of band > recentering after rebalanceInterval. Mirrors the vault's rules.
    function shouldRebalance()
        public
        view
        returns (IScalingVault.Action action, IScalingVault.Reason reason, int256[] memory sizes)
    {
        Plan memory q;
        uint8[] memory statuses;
        (q.a, q.prices, statuses, q.held) = marks();
        sizes = new int256[](q.held.length);
        q.sizes = sizes;
        if (!q.a.pricesOk) return (IScalingVault.Action.NONE, IScalingVault.Reason.PRICE_UNAVAILABLE, sizes);
        for (uint256 i; i < statuses.length; ++i) {
            if (statuses[i] != 0 || q.prices[i] == 0) {
                return (IScalingVault.Action.NONE, IScalingVault.Reason.PRICE_UNAVAILABLE, sizes);
            }
        }
        if (q.a.grossNotional == 0 && q.a.equity <= 0) {
            return (IScalingVault.Action.NONE, IScalingVault.Reason.EMPTY, sizes);
        }
        q.st = _state;
        q.p = _params;
        q.last = _lastTradeAt(q.st);
        (action, reason) = _plan(q);
    }

    /// @dev See IScalingVault.checkUpkeep: performData = abi.encode(Action, Adjustment[]).
    function checkUpkeep(bytes calldata) external view returns (bool upkeepNeeded, bytes memory performData) {
        (IScalingVault.Action action,, int256[] memory sizes) = shouldRebalance();
        if (action == IScalingVault.Action.NONE) return (false, "");
        IScalingVault.Adjustment[] memory adjustments;
        if (action == IScalingVault.Action.REBALANCE) {
            uint256 count;
            for (uint256 i; i < sizes.length; ++i) {
                if (sizes[i] != 0) ++count;
            }
            adjustments = new IScalingVault.Adjustment[](count);
            count = 0;
            for (uint256 i; i < sizes.length; ++i) {
                if (sizes[i] != 0) adjustments[count++] = IScalingVault.Adjustment(_assetId(i), sizes[i], 0);
            }
        }
        return (true, abi.encode(action, adjustments));
    }

    function _plan(Plan memory q) internal view returns (IScalingVault.Action, IScalingVault.Reason) {
        uint256 lev0 = q.a.leverage;
        uint256 threshold = q.a.maintenanceRequirement.mulDiv(WAD + q.p.ripcordMarginBuffer, WAD, Math.Rounding.Ceil);
        bool byMargin = q.a.grossNotional != 0 && q.a.equity < int256(threshold);
        if (lev0 >= q.p.ripcordLeverage || byMargin) {
            if (block.timestamp < q.last + q.p.ripcordCooldown) {
                return (IScalingVault.Action.NONE, IScalingVault.Reason.RIPCORD_COOLDOWN);
            }
            uint256 fraction = VaultMath.ripcordFraction(
                q.a.grossNotional, q.a.equity, lev0, q.p.maxLeverage, q.p.leverageCap, q.p.ripcordMaxTradeNotional
            );
            for (uint256 i; i < q.held.length; ++i) {
                uint256 held = VaultMath.abs(q.held[i]);
                uint256 cut = Math.min(held.mulDiv(fraction, WAD, Math.Rounding.Ceil), held);
                q.sizes[i] = q.held[i] > 0 ? -int256(cut) : int256(cut);
            }
            return (
                IScalingVault.Action.RIPCORD,
                lev0 >= q.p.ripcordLeverage ? IScalingVault.Reason.RIPCORD_LEVERAGE : IScalingVault.Reason.RIPCORD_MARGIN
            );
        }
        if (q.st.pendingMask != 0) {
            if (block.timestamp < q.last + q.p.chunkCooldown) {
                return (IScalingVault.Action.NONE, IScalingVault.Reason.CHUNK_COOLDOWN);
            }
            _planIterate(q);
            return (IScalingVault.Action.ITERATE, IScalingVault.Reason.PENDING_CHUNK);
        }
        IScalingVault.Reason reason;
        if (lev0 < q.p.minLeverage || lev0 > q.p.maxLeverage) {
            if (block.timestamp < q.last + q.p.chunkCooldown) {
                return (IScalingVault.Action.NONE, IScalingVault.Reason.CHUNK_COOLDOWN);
            }
            reason = lev0 < q.p.minLeverage ? IScalingVault.Reason.BELOW_MIN : IScalingVault.Reason.ABOVE_MAX;
        } else {
            if (
                VaultMath.absDiff(lev0, q.p.targetLeverage) <= q.p.tolerance
                    || block.timestamp < q.last + q.p.rebalanceInterval
            ) return (IScalingVault.Action.NONE, IScalingVault.Reason.WITHIN_BAND);
            reason = IScalingVault.Reason.RECENTER;
        }
        if (!_planTarget(q)) {
            return (IScalingVault.Action.NONE, q.st.paused ? IScalingVault.Reason.PAUSED : IScalingVault.Reason.WITHIN_BAND);
        }
        return (IScalingVault.Action.REBALANCE, reason);
    }

    /// @dev What `iterate` would trade now (before the chunk limit).
    function _planIterate(Plan memory q) internal view {
        if (q.a.equity <= 0) return;
        uint256 dust = uint256(q.p.tolerance).mulDiv(uint256(q.a.equity), WAD);
        for (uint256 i; i < q.held.length; ++i) {
            if (q.st.pendingMask & (1 << i) == 0) continue;
            int256 delta = VaultMath.deltaToExposure(_pendingExposure[i], q.a.equity, q.prices[i], q.held[i]);
            bool live = delta != 0 && (delta > 0) == (q.st.pendingBuyMask & (1 << i) != 0)
                && VaultMath.notionalUp(delta, q.prices[i]) > dust;
            if (live && !(q.st.paused && !VaultMath.isReduceOnly(q.held[i], delta))) q.sizes[i] = delta;
        }
    }

    /// @dev Full deltas to weight * target * equity per asset (clamped by caps; increases zeroed while paused).
    function _planTarget(Plan memory q) internal view returns (bool any) {
        if (q.a.equity <= 0) return false;
        for (uint256 i; i < q.held.length; ++i) {
            AssetSlot memory s = _assets[i];
            int256 exposure = VaultMath.policyExposure(s.weight, q.p.targetLeverage);
            int256 targetNotional = VaultMath.mulDivToZero(exposure, uint256(q.a.equity), WAD);
            if (VaultMath.abs(targetNotional) > s.notionalCap) {
                targetNotional = targetNotional > 0 ? int256(uint256(s.notionalCap)) : -int256(uint256(s.notionalCap));
            }
            int256 delta = VaultMath.mulDivToZero(targetNotional, WAD, q.prices[i]) - q.held[i];
            if (delta == 0 || (q.st.paused && !VaultMath.isReduceOnly(q.held[i], delta))) continue;
            q.sizes[i] = delta;
            any = true;
        }
    }
}
