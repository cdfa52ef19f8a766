// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {IScalingVault} from "../interfaces/IScalingVault.sol";
import {VaultMath} from "./libraries/VaultMath.sol";
import {ScalingVaultBase} from "./ScalingVaultBase.sol";

/// @title ScalingVaultCore
/// @notice The vault's own code: ERC-4626 entries (deposit/mint and their views), the keeper's trading path
///         (rebalance, iterate, performUpkeep) and thin wrappers that run everything else in the module by
///         DELEGATECALL (state-changing calls) or by a static self-call that delegates (views).
abstract contract ScalingVaultCore is ScalingVaultBase, IScalingVault {
    using Math for uint256;
    using SafeERC20 for IERC20;
    using VaultMath for int256;

    /// @dev The module (ScalingVaultModule + the same venue), created by the concrete constructor.
    address internal immutable MODULE;

    /// @dev Working memory of one keeper call.
    struct Ctx {
        uint256 target;
        uint256 maxLev;
        uint256 cap;
        uint256 tolerance;
        uint256 minImprovement;
        uint256 slippage;
        uint256 maxNotional;
        int256 equity0;
        uint256 gross0;
        uint256 lev0;
        int256 equity1;
        uint256 gross1;
        uint256 traded;
        bool paused;
        bool chunked;
    }

    error OnlySelf();

    constructor(address admin, address module_) {
        if (admin == address(0) || module_ == address(0)) revert ZeroAddress();
        MODULE = module_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MANAGER_ROLE, admin);
        _grantRole(GUARDIAN_ROLE, admin);
    }

    /// @dev Called by the concrete constructor once the venue is set up.
    function _initialize(AssetParams[] memory assets, Params memory p) internal {
        uint256 n = _assetCount();
        if (assets.length != n) revert AssetCountMismatch(assets.length, n);
        int64[] memory weights = new int64[](n);
        uint192[] memory caps = new uint192[](n);
        for (uint256 i; i < n; ++i) {
            weights[i] = assets[i].weight;
            caps[i] = assets[i].notionalCap;
        }
        _setAssetParams(weights, caps);
        _setParams(p);
    }

    // =============================================================================================
    // ERC-4626 entries (own code)
    // =============================================================================================

    /// @inheritdoc ERC4626
    function decimals() public view override(ERC4626, IERC20Metadata) returns (uint8) {
        return super.decimals();
    }

    /// @inheritdoc IERC4626
    /// @dev 0 while paused, while a price of an open position is unusable, or while the account is insolvent.
    function maxDeposit(address) public view override(ERC4626, IERC4626) returns (uint256) {
        if (_state.paused) return 0;
        (bool ok, VenueAccount memory a) = _tryAccount();
        if (!ok || (a.grossNotional != 0 && a.equity <= 0)) return 0;
        return MAX_DEPOSIT;
    }

    /// @inheritdoc IERC4626
    function maxMint(address receiver) public view override(ERC4626, IERC4626) returns (uint256) {
        uint256 assets = maxDeposit(receiver);
        if (assets == 0) return 0;
        return assets.mulDiv(totalSupply() + VIRTUAL_SHARES, totalAssets() + 1);
    }

    /// @inheritdoc IERC4626
    /// @dev Reverts PriceUnavailable / VaultInsolvent like deposit (not VaultIsPaused).
    function previewDeposit(uint256 assets) public view override(ERC4626, IERC4626) returns (uint256) {
        return assets.mulDiv(totalSupply() + VIRTUAL_SHARES, _entryAssets() + 1);
    }

    /// @inheritdoc IERC4626
    function previewMint(uint256 shares) public view override(ERC4626, IERC4626) returns (uint256) {
        return shares.mulDiv(_entryAssets() + 1, totalSupply() + VIRTUAL_SHARES, Math.Rounding.Ceil);
    }

    /// @inheritdoc IERC4626
    /// @dev New collateral goes straight to venue margin; the keeper then levers it up.
    function deposit(uint256 assets, address receiver)
        public
        override(ERC4626, IERC4626)
        nonReentrant
        returns (uint256 shares)
    {
        if (_state.paused) revert VaultIsPaused();
        uint256 ta = _entryAssets();
        if (assets > MAX_DEPOSIT) revert ERC4626ExceededMaxDeposit(receiver, assets, MAX_DEPOSIT);
        shares = assets.mulDiv(totalSupply() + VIRTUAL_SHARES, ta + 1);
        _enter(receiver, assets, shares);
    }

    /// @inheritdoc IERC4626
    function mint(uint256 shares, address receiver)
        public
        override(ERC4626, IERC4626)
        nonReentrant
        returns (uint256 assets)
    {
        if (_state.paused) revert VaultIsPaused();
        assets = shares.mulDiv(_entryAssets() + 1, totalSupply() + VIRTUAL_SHARES, Math.Rounding.Ceil);
        if (assets > MAX_DEPOSIT) revert ERC4626ExceededMaxMint(receiver, shares, maxMint(receiver));
        _enter(receiver, assets, shares);
    }

    /// @dev totalAssets for entries: equity rounded up (against the depositor); reverts on unusable prices and on
    ///      an insolvent account with open positions.
    function _entryAssets() internal view returns (uint256) {
        VenueAccount memory a = _strictAccount();
        if (a.grossNotional != 0 && a.equity <= 0) revert VaultInsolvent(a.equity);
        return a.equity.toTokenUp(_tokenScale()) + _idle();
    }

    function _enter(address receiver, uint256 assets, uint256 shares) internal {
        IERC20(asset()).safeTransferFrom(msg.sender, address(this), assets);
        if (assets != 0) _depositMargin(assets);
        _mint(receiver, shares);
        (bool ok, VenueAccount memory a) = _tryAccount();
        if (ok) _state.lastEquity = _equityTokens(a.equity);
        emit Deposit(msg.sender, receiver, assets, shares);
    }

    // =============================================================================================
    // ERC-4626 exits and views (module)
    // =============================================================================================

    /// @inheritdoc IERC4626
    /// @dev Closes the pro-rata part of every position (reduce-only, acceptable price oracle -+ ripcordSlippage)
    ///      and pays pro-rata assets minus the realized closing cost (rounded up): the other holders' leverage and
    ///      share value are unchanged. Needs usable prices while positions are open (PriceUnavailable otherwise).
    function redeem(uint256, address, address) public override(ERC4626, IERC4626) nonReentrant returns (uint256) {
        return abi.decode(_delegate(msg.data), (uint256));
    }

    /// @inheritdoc IERC4626
    /// @dev Closes the positions of `previewWithdraw(assets)` shares (an upper bound), then burns only the shares
    ///      covering `assets` plus the realized cost; the rest of the bound stays with the owner.
    function withdraw(uint256, address, address) public override(ERC4626, IERC4626) nonReentrant returns (uint256) {
        return abi.decode(_delegate(msg.data), (uint256));
    }

    /// @inheritdoc IERC4626
    /// @dev 0 while a price of an open position is unusable; otherwise an underestimate by a few token units.
    function maxWithdraw(address) public view override(ERC4626, IERC4626) returns (uint256) {
        _returnView();
    }

    /// @inheritdoc IERC4626
    /// @dev 0 while a price of an open position is unusable.
    function maxRedeem(address) public view override(ERC4626, IERC4626) returns (uint256) {
        _returnView();
    }

    /// @inheritdoc IERC4626
    /// @dev Upper bound from the venue's closing-cost model (fee + adverse impact of closing whole positions).
    function previewWithdraw(uint256) public view override(ERC4626, IERC4626) returns (uint256) {
        _returnView();
    }

    /// @inheritdoc IERC4626
    /// @dev Lower bound of `redeem`: pro-rata assets minus the bounded cost of closing the pro-rata positions.
    function previewRedeem(uint256) public view override(ERC4626, IERC4626) returns (uint256) {
        _returnView();
    }

    // =============================================================================================
    // Keeper
    // =============================================================================================

    /// @inheritdoc IScalingVault
    function rebalance(Adjustment[] calldata adjustments) external nonReentrant onlyRole(KEEPER_ROLE) {
        _rebalance(adjustments);
    }

    /// @inheritdoc IScalingVault
    function iterate() external nonReentrant onlyRole(KEEPER_ROLE) {
        _iterate();
    }

    /// @inheritdoc IScalingVault
    function ripcord() external nonReentrant returns (uint256) {
        return _ripcord();
    }

    /// @inheritdoc IScalingVault
    function performUpkeep(bytes calldata performData) external nonReentrant {
        if (msg.sender != _forwarder && !hasRole(KEEPER_ROLE, msg.sender)) revert UnauthorizedUpkeepCaller(msg.sender);
        (Action action, Adjustment[] memory adjustments) = abi.decode(performData, (Action, Adjustment[]));
        if (action == Action.REBALANCE) _rebalance(adjustments);
        else if (action == Action.ITERATE) _iterate();
        else if (action == Action.RIPCORD) _ripcord();
        else revert NothingToPerform();
    }

    /// @inheritdoc IScalingVault
    function sweep() external nonReentrant {
        _delegate(msg.data);
    }

    /// @inheritdoc IScalingVault
    function shouldRebalance() external view returns (Action, Reason, int256[] memory) {
        _returnView();
    }

    /// @inheritdoc IScalingVault
    function checkUpkeep(bytes calldata) external view returns (bool, bytes memory) {
        _returnView();
    }

    // =============================================================================================
    // Governance and views (module)
    // =============================================================================================

    /// @inheritdoc IScalingVault
    function setParams(Params calldata) external {
        _delegate(msg.data);
    }

    /// @inheritdoc IScalingVault
    function setAssetParams(int64[] calldata, uint192[] calldata) external {
        _delegate(msg.data);
    }

    /// @inheritdoc IScalingVault
    function setForwarder(address) external {
        _delegate(msg.data);
    }

    /// @inheritdoc IScalingVault
    function pause() external {
        _delegate(msg.data);
    }

    /// @inheritdoc IScalingVault
    function unpause() external {
        _delegate(msg.data);
    }

    /// @inheritdoc IScalingVault
    function params() external view returns (Params memory) {
        _returnView();
    }

    /// @inheritdoc IScalingVault
    function vaultState() external view returns (VaultState memory) {
        _returnView();
    }

    /// @inheritdoc IScalingVault
    function assetIds() external view returns (uint256[] memory) {
        _returnView();
    }

    /// @inheritdoc IScalingVault
    function assetParams() external view returns (AssetParams[] memory) {
        _returnView();
    }

    /// @inheritdoc IScalingVault
    function pendingExposures() external view returns (int256[] memory) {
        _returnView();
    }

    /// @inheritdoc IScalingVault
    function accountView() external view returns (AccountView memory) {
        _returnView();
    }

    /// @inheritdoc IScalingVault
    function marks() external view returns (AccountView memory, uint256[] memory, uint8[] memory, int256[] memory) {
        _returnView();
    }

    /// @inheritdoc IScalingVault
    function forwarder() external view returns (address) {
        return _forwarder;
    }

    /// @inheritdoc IScalingVault
    function venue() external view returns (address) {
        return _venueAddress();
    }

    /// @inheritdoc IScalingVault
    function module() external view returns (address) {
        return MODULE;
    }

    /// @notice Runs a view of the module on this vault's storage. Only the vault itself may call it (through a
    ///         STATICCALL from its view functions, so the module code cannot change state).
    function delegateView(bytes calldata data) external returns (bytes memory) {
        if (msg.sender != address(this)) revert OnlySelf();
        return _delegate(data);
    }

    /// @dev DELEGATECALL into the module; bubbles its revert data.
    function _delegate(bytes memory data) internal returns (bytes memory ret) {
        bool ok;
        (ok, ret) = MODULE.delegatecall(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    /// @dev Answers the current call with the module's answer to the same calldata (view functions only).
    function _returnView() internal view {
        (bool ok, bytes memory ret) = address(this).staticcall(abi.encodeCall(this.delegateView, (msg.data)));
        assembly ("memory-safe") {
            if iszero(ok) { revert(add(ret, 32), mload(ret)) }
            // ret = abi.encode(bytes inner): skip the offset word and return inner's bytes as they are.
            let inner := add(ret, 64)
            return(add(inner, 32), mload(inner))
        }
    }

    // =============================================================================================
    // Keeper rules (own code: the hot path)
    // =============================================================================================

    function _rebalance(Adjustment[] memory adjustments) internal {
        VaultState memory st = _state;
        Ctx memory c = _loadCtx(st);
        uint256 last = _lastTradeAt(st);
        if (c.lev0 >= _params.minLeverage && c.lev0 <= c.maxLev) {
            uint256 interval = _params.rebalanceInterval;
            if (block.timestamp < last + interval) revert RebalanceIntervalNotElapsed(last, interval, block.timestamp);
        } else {
            _checkChunkCooldown(last);
        }

        uint256 n = adjustments.length;
        if (n == 0) revert NoAdjustments();
        Leg[] memory legs = new Leg[](n);
        uint256 seen;
        uint256 notional;
        bool allReduce = true;
        for (uint256 i; i < n; ++i) {
            Adjustment memory a = adjustments[i];
            uint256 index = _indexOf(a.assetId);
            if (seen & (1 << index) != 0) revert DuplicateAsset(a.assetId);
            seen |= 1 << index;
            if (a.sizeDelta == 0) revert ZeroSizeDelta(a.assetId);
            Leg memory l = legs[i];
            l.index = index;
            l.price = _price(index);
            l.size = _size(index);
            l.delta = a.sizeDelta;
            l.limit = a.acceptablePrice;
            // Static rules on the full adjustment; a pro-rata chunk of it satisfies them too (they are convex).
            _checkLeg(c, l);
            notional += VaultMath.notionalUp(l.delta, l.price);
            if (!VaultMath.isReduceOnly(l.size, l.delta)) allReduce = false;
        }

        if (notional > c.maxNotional && !(allReduce && c.lev0 > c.cap)) {
            if (c.equity0 <= 0) revert VaultInsolvent(c.equity0);
            _storePlan(st, c, legs);
            for (uint256 i; i < n; ++i) {
                legs[i].delta = VaultMath.mulDivToZero(legs[i].delta, c.maxNotional, notional);
            }
            c.chunked = true;
        } else if (st.pendingMask != 0) {
            emit PendingRebalanceCleared(st.pendingMask);
            st.pendingMask = 0;
            st.pendingBuyMask = 0;
        }

        _executeLegs(c, legs);
        uint256 lev1 = _checkOutcome(c);
        st.lastRebalanceAt = uint40(block.timestamp);
        st.lastEquity = _equityTokens(c.equity1);
        _state = st;
        emit Rebalanced(msg.sender, Action.REBALANCE, c.lev0, lev1, c.traded, st.pendingMask);
    }

    function _iterate() internal {
        VaultState memory st = _state;
        if (st.pendingMask == 0) revert NoPendingRebalance();
        Ctx memory c = _loadCtx(st);
        _checkChunkCooldown(_lastTradeAt(st));

        (Leg[] memory legs, uint256 notional, uint8 live) = _iterateLegs(c, st);
        if (live == 0) {
            emit PendingRebalanceCleared(st.pendingMask);
            st.pendingMask = 0;
            st.pendingBuyMask = 0;
            _state = st;
            return;
        }
        for (uint256 i; i < legs.length; ++i) {
            if (legs[i].delta != 0) _checkLeg(c, legs[i]);
        }
        if (notional > c.maxNotional) {
            for (uint256 i; i < legs.length; ++i) {
                legs[i].delta = VaultMath.mulDivToZero(legs[i].delta, c.maxNotional, notional);
            }
            c.chunked = true;
            st.pendingMask = live;
        } else {
            st.pendingMask = 0;
            st.pendingBuyMask = 0;
        }

        _executeLegs(c, legs);
        uint256 lev1 = _checkOutcome(c);
        st.lastIterateAt = uint40(block.timestamp);
        st.lastEquity = _equityTokens(c.equity1);
        _state = st;
        emit Rebalanced(msg.sender, Action.ITERATE, c.lev0, lev1, c.traded, st.pendingMask);
    }

    /// @dev Reads the policy used by rebalance/iterate (param slots 0-2) and the account (strict).
    function _loadCtx(VaultState memory st) internal view returns (Ctx memory c) {
        Params storage p = _params;
        c.target = p.targetLeverage;
        c.maxLev = p.maxLeverage;
        c.cap = p.leverageCap;
        c.tolerance = p.tolerance;
        c.minImprovement = p.minImprovement;
        c.slippage = p.maxSlippage;
        c.maxNotional = p.maxTradeNotional;
        c.paused = st.paused;
        VenueAccount memory a = _strictAccount();
        c.equity0 = a.equity;
        c.gross0 = a.grossNotional;
        c.lev0 = VaultMath.leverageUp(a.grossNotional, a.equity);
    }

    function _checkChunkCooldown(uint256 last) internal view {
        uint256 cooldown = _params.chunkCooldown;
        if (block.timestamp < last + cooldown) revert ChunkCooldownNotElapsed(last, cooldown, block.timestamp);
    }

    /// @dev Direction vs weight sign, pause, notional cap (risk-increasing legs) and "no further from the asset's
    ///      target notional weight * target leverage * equity".
    function _checkLeg(Ctx memory c, Leg memory l) internal view {
        AssetSlot memory s = _assets[l.index];
        int256 newSize = l.size + l.delta;
        bool reduce = VaultMath.isReduceOnly(l.size, l.delta);
        if (s.weight > 0 ? newSize < 0 : (s.weight < 0 ? newSize > 0 : !reduce)) {
            revert DirectionMismatch(_assetId(l.index), newSize, s.weight);
        }
        if (!reduce) {
            if (c.paused) revert RiskIncreasingWhilePaused(_assetId(l.index));
            uint256 newNotional = VaultMath.notionalUp(newSize, l.price);
            if (newNotional > s.notionalCap) revert NotionalCapExceeded(_assetId(l.index), newNotional, s.notionalCap);
        }
        int256 targetNotional;
        if (c.equity0 > 0) {
            targetNotional = VaultMath.mulDivToZero(VaultMath.policyExposure(s.weight, c.target), uint256(c.equity0), WAD);
        }
        uint256 before = VaultMath.absDiffSigned(VaultMath.notionalSigned(l.size, l.price), targetNotional);
        uint256 afterwards = VaultMath.absDiffSigned(VaultMath.notionalSigned(newSize, l.price), targetNotional);
        if (afterwards > before) revert AssetMovesAwayFromTarget(_assetId(l.index), before, afterwards);
    }

    /// @dev Trades every non-zero leg; tracks a conservative post-trade equity and the exact gross notional.
    function _executeLegs(Ctx memory c, Leg[] memory legs) internal {
        c.equity1 = c.equity0;
        c.gross1 = c.gross0;
        int256 rounding = int256(_tradeRoundingWad());
        for (uint256 i; i < legs.length; ++i) {
            Leg memory l = legs[i];
            if (l.delta == 0) continue;
            (uint256 fill, uint256 feeWad) = _trade(l.index, l.delta, _acceptablePrice(l, c.slippage));
            c.equity1 +=
                VaultMath.mulDivDownSigned(l.delta, int256(l.price) - int256(fill), WAD) - int256(feeWad) - rounding;
            c.gross1 = c.gross1 + VaultMath.notionalUp(l.size + l.delta, l.price) - VaultMath.notionalUp(l.size, l.price);
            c.traded += VaultMath.notionalUp(l.delta, l.price);
        }
    }

    /// @dev Post-trade rules: cap always, max when gross grew, and the outcome (anti ping-pong) check.
    function _checkOutcome(Ctx memory c) internal pure returns (uint256 lev1) {
        lev1 = VaultMath.leverageUp(c.gross1, c.equity1);
        if (lev1 > c.cap) revert LeverageAboveCap(lev1, c.cap);
        if (c.gross1 > c.gross0 && lev1 > c.maxLev) revert LeverageAboveMax(lev1, c.maxLev);
        uint256 d0 = VaultMath.absDiff(c.lev0, c.target);
        uint256 d1 = VaultMath.absDiff(lev1, c.target);
        if (d1 > c.tolerance && (d1 >= d0 || (!c.chunked && d0 - d1 < c.minImprovement))) {
            revert InsufficientImprovement(c.lev0, lev1, c.target);
        }
    }

    /// @dev Stores each leg's full target as an exposure (notional / equity), clamped between the current exposure
    ///      and the asset's policy exposure (weight * target leverage), so continuing toward it can never move the
    ///      asset away from its policy target.
    function _storePlan(VaultState memory st, Ctx memory c, Leg[] memory legs) internal {
        uint8 mask;
        uint8 buys;
        uint256 equity = uint256(c.equity0);
        for (uint256 i; i < legs.length; ++i) {
            Leg memory l = legs[i];
            int256 current = VaultMath.mulDivToZero(VaultMath.notionalSigned(l.size, l.price), WAD, equity);
            int256 wanted = VaultMath.mulDivToZero(VaultMath.notionalSigned(l.size + l.delta, l.price), WAD, equity);
            int256 policy = VaultMath.policyExposure(_assets[l.index].weight, c.target);
            if (l.delta > 0) {
                if (wanted > policy) wanted = policy > current ? policy : current;
            } else if (wanted < policy) {
                wanted = policy < current ? policy : current;
            }
            _pendingExposure[l.index] = int128(wanted);
            mask |= uint8(1 << l.index);
            if (l.delta > 0) buys |= uint8(1 << l.index);
            emit ChunkTargetSet(_assetId(l.index), wanted);
        }
        st.pendingMask = mask;
        st.pendingBuyMask = buys;
    }

    /// @dev Legs of the next chunk, toward each pending exposure. An asset is done when its remaining notional is
    ///      within tolerance * equity or its direction flipped (target crossed by price moves); while paused,
    ///      risk-increasing legs are dropped. `live` = assets still pending if this call trades a full chunk.
    function _iterateLegs(Ctx memory c, VaultState memory st)
        internal
        view
        returns (Leg[] memory legs, uint256 notional, uint8 live)
    {
        uint256 n = _assetCount();
        legs = new Leg[](n);
        if (c.equity0 <= 0) return (legs, 0, 0);
        uint256 dust = c.tolerance.mulDiv(uint256(c.equity0), WAD);
        for (uint256 i; i < n; ++i) {
            if (st.pendingMask & (1 << i) == 0) continue;
            Leg memory l = legs[i];
            l.index = i;
            l.price = _price(i);
            l.size = _size(i);
            int256 delta = VaultMath.deltaToExposure(_pendingExposure[i], c.equity0, l.price, l.size);
            if (delta == 0 || (delta > 0) != (st.pendingBuyMask & (1 << i) != 0)) continue;
            uint256 legNotional = VaultMath.notionalUp(delta, l.price);
            if (legNotional <= dust) continue;
            if (c.paused && !VaultMath.isReduceOnly(l.size, delta)) continue;
            l.delta = delta;
            notional += legNotional;
            live |= uint8(1 << i);
        }
    }

    // =============================================================================================
    // Ripcord (own code)
    // =============================================================================================

    function _ripcord() internal returns (uint256 reward) {
        VaultState memory st = _state;
        Params memory p = _params;
        (VenueAccount memory a, uint256 lev0) = _checkRipcord(st, p);
        uint256 fraction = VaultMath.ripcordFraction(
            a.grossNotional, a.equity, lev0, p.maxLeverage, p.leverageCap, p.ripcordMaxTradeNotional
        );
        (int256 equityChange, uint256 grossCut) = _closeFraction(fraction, WAD, p.ripcordSlippage);
        if (p.ripcordReward != 0) reward = _payReward(p.ripcordReward);
        int256 equity1 = a.equity + equityChange;
        if (st.pendingMask != 0) {
            emit PendingRebalanceCleared(st.pendingMask);
            st.pendingMask = 0;
            st.pendingBuyMask = 0;
        }
        st.lastRipcordAt = uint40(block.timestamp);
        st.lastEquity = _equityTokens(equity1 - int256(reward * _tokenScale()));
        _state = st;
        emit Ripcord(
            msg.sender, lev0, VaultMath.leverageUp(a.grossNotional - grossCut, equity1), grossCut, reward
        );
    }

    function _checkRipcord(VaultState memory st, Params memory p)
        internal
        view
        returns (VenueAccount memory a, uint256 lev0)
    {
        a = _strictAccount();
        lev0 = VaultMath.leverageUp(a.grossNotional, a.equity);
        uint256 threshold = a.maintenanceRequirement.mulDiv(WAD + p.ripcordMarginBuffer, WAD, Math.Rounding.Ceil);
        bool byMargin = a.grossNotional != 0 && a.equity < int256(threshold);
        if (lev0 < p.ripcordLeverage && !byMargin) {
            revert RipcordNotTriggered(lev0, p.ripcordLeverage, a.equity, threshold);
        }
        uint256 last = _lastTradeAt(st);
        if (block.timestamp < last + p.ripcordCooldown) {
            revert RipcordCooldownNotElapsed(last, p.ripcordCooldown, block.timestamp);
        }
    }

    /// @dev Pays up to `amount` from idle collateral, topped up from margin when the venue allows; never reverts.
    function _payReward(uint256 amount) internal returns (uint256 paid) {
        uint256 idle = _idle();
        if (idle < amount && _tryWithdrawMargin(amount - idle)) idle = _idle();
        paid = Math.min(amount, idle);
        if (paid != 0 && !SafeERC20.trySafeTransfer(IERC20(asset()), msg.sender, paid)) paid = 0;
    }

}
