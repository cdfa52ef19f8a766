// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {SignedMath} from "@openzeppelin/contracts/utils/math/SignedMath.sol";

import {IPerpMarket} from "../interfaces/IPerpMarket.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {PerpMath} from "./libraries/PerpMath.sol";

/// @title PerpMarket
/// @notice Oracle-priced multi-asset linear perpetuals against a liquidity pool, with cross-margined accounts.
/// @dev See IPerpMarket for units and the accounting identity. Funding accrues per asset on every touch;
///      a position settles its funding whenever it is traded or liquidated.
contract PerpMarket is IPerpMarket, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using SafeCast for int256;

    bytes32 public constant RISK_MANAGER_ROLE = keccak256("RISK_MANAGER_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    uint256 public constant MAX_ASSETS = 128;
    uint256 internal constant WAD = 1e18;
    /// @dev OpenZeppelin-style decimals offset of 6 for LP shares against the first-depositor attack.
    uint256 internal constant LP_VIRTUAL_SHARES = 1e6;
    uint256 internal constant LP_VIRTUAL_ASSETS = 1;

    // Validated parameter ranges (README, "Parameters").
    uint256 internal constant MIN_IMR = 0.01e18; // 100x
    uint256 internal constant MIN_MMR = 0.001e18;
    uint256 internal constant MAX_TRADING_FEE = 0.01e18;
    uint256 internal constant MAX_FUNDING_RATE = 1e18; // per day
    uint256 internal constant MAX_LIQUIDATION_FEE_RATIO = 0.05e18;
    uint256 internal constant MAX_KEEPER_FEE = 1e6 * 1e18;

    IERC20 internal immutable _token;
    /// @dev 10 ** (18 - collateral decimals): WAD amount / scale = token amount.
    uint256 internal immutable _scale;
    IPriceOracle public immutable oracle;

    struct AccountData {
        int128 collateral; // token units; may be negative while other positions carry profit
        uint128 openMask; // bit i: position open in asset i
    }

    struct PoolData {
        int128 assets; // token units
        uint128 insurance; // token units
    }

    /// @dev Everything a trade reads from global configuration, in one slot.
    struct Globals {
        uint64 liquidationFeeRatio;
        uint64 insuranceFeeShare;
        uint64 lpReserveRatio;
        bool paused;
    }

    struct KeeperFees {
        uint128 minKeeperFee;
        uint128 maxKeeperFee;
    }

    /// @dev AssetConfig in two slots: oracle keys are at most 8 bytes, skew scale and caps fit 96 bits.
    struct PackedConfig {
        bytes8 oracleKey;
        uint96 skewScale;
        uint96 maxOpenInterest;
        uint64 initialMarginRatio;
        uint64 maintenanceMarginRatio;
        uint64 tradingFee;
        uint64 maxFundingRate;
    }

    uint256 public assetCount;
    mapping(uint256 assetId => PackedConfig) internal _configs;
    mapping(uint256 assetId => AssetState) internal _states;
    mapping(address account => AccountData) internal _accounts;
    mapping(address account => mapping(uint256 assetId => Position)) internal _positions;
    PoolData internal _pool;
    Globals internal _globals;
    KeeperFees internal _keeperFees;
    uint256 public totalBadDebt;
    uint256 public totalLpShares;
    mapping(address provider => uint256) public lpShares;

    constructor(IERC20 collateral_, IPriceOracle oracle_, address admin, RiskParams memory params) {
        if (address(collateral_) == address(0) || address(oracle_) == address(0) || admin == address(0)) {
            revert ZeroAddress();
        }
        uint8 decimals = IERC20Metadata(address(collateral_)).decimals();
        if (decimals > 18) revert InvalidCollateralDecimals(decimals);
        _token = collateral_;
        _scale = 10 ** (18 - decimals);
        oracle = oracle_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(RISK_MANAGER_ROLE, admin);
        _grantRole(GUARDIAN_ROLE, admin);
        _setRiskParams(params);
    }

    // =============================================================================================
    // Governance
    // =============================================================================================

    function listAsset(AssetConfig calldata config) external onlyRole(RISK_MANAGER_ROLE) returns (uint256 assetId) {
        assetId = assetCount;
        if (assetId >= MAX_ASSETS) revert TooManyAssets(MAX_ASSETS);
        _validateAssetConfig(config);
        // Fail early on an oracle key the oracle does not serve.
        oracle.getPrice(config.oracleKey);
        assetCount = assetId + 1;
        _configs[assetId] = _pack(config);
        _states[assetId].lastFundingTime = uint64(block.timestamp);
        emit AssetListed(assetId, config.oracleKey, config);
    }

    /// @dev The oracle key cannot change: positions are denominated in the asset it prices.
    function setAssetConfig(uint256 assetId, AssetConfig calldata config) external onlyRole(RISK_MANAGER_ROLE) {
        AssetConfig memory current = _config(assetId);
        if (config.oracleKey != current.oracleKey) {
            revert InvalidParameter("oracleKey", uint256(config.oracleKey), uint256(current.oracleKey), uint256(current.oracleKey));
        }
        _validateAssetConfig(config);
        // Accrue at the old rate before the funding parameters change (skipped when the price is unusable:
        // the accrual then uses the new rate from the last update, a bounded and documented approximation).
        (IPriceOracle.PriceStatus status, uint256 price,) = oracle.tryGetPrice(current.oracleKey);
        if (status == IPriceOracle.PriceStatus.OK) {
            AssetState memory st = _states[assetId];
            _accrue(st, current, price);
            _states[assetId] = st;
        }
        _configs[assetId] = _pack(config);
        emit AssetConfigUpdated(assetId, config);
    }

    function setRiskParams(RiskParams calldata params) external onlyRole(RISK_MANAGER_ROLE) {
        _setRiskParams(params);
    }

    /// @notice Stops risk-increasing trades and LP deposits; reduce-only trades, margin withdrawals,
    ///         liquidations and LP withdrawals keep working.
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _globals.paused = true;
        emit Paused(msg.sender);
    }

    function unpause() external onlyRole(GUARDIAN_ROLE) {
        _globals.paused = false;
        emit Unpaused(msg.sender);
    }

    // =============================================================================================
    // Margin
    // =============================================================================================

    /// @inheritdoc IPerpMarket
    function depositMargin(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        AccountData storage account = _accounts[msg.sender];
        account.collateral = (int256(account.collateral) + amount.toInt256()).toInt128();
        _token.safeTransferFrom(msg.sender, address(this), amount);
        emit MarginDeposited(msg.sender, amount);
    }

    /// @inheritdoc IPerpMarket
    function withdrawMargin(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        AccountData memory account = _accounts[msg.sender];
        if (int256(account.collateral) < amount.toInt256()) revert InsufficientCollateral(account.collateral, amount);
        _accounts[msg.sender].collateral = (int256(account.collateral) - int256(amount)).toInt128();
        if (account.openMask != 0) {
            (, MarginState memory state) = _marginState(msg.sender, type(uint256).max, 0, true);
            if (state.equity < int256(state.initialRequirement)) {
                revert InsufficientMargin(state.equity, state.initialRequirement);
            }
        }
        _token.safeTransfer(msg.sender, amount);
        emit MarginWithdrawn(msg.sender, amount);
    }

    // =============================================================================================
    // Trading
    // =============================================================================================

    /// @dev Working values of one trade (kept in memory to stay within the stack limit).
    struct Trade {
        uint256 assetId;
        int256 sizeDelta;
        uint256 price;
        uint256 fill;
        uint256 fee;
        int256 index;
        int256 fundingToAccount;
        int256 realized;
        int256 newSize;
        int256 newOpenNotional;
        int256 skewBefore;
        bool reduceOnly;
    }

    /// @inheritdoc IPerpMarket
    function modifyPosition(uint256 assetId, int256 sizeDelta, uint256 acceptablePrice, uint256 deadline)
        external
        nonReentrant
        returns (uint256 fill, uint256 fee)
    {
        if (block.timestamp > deadline) revert DeadlineExpired(deadline, block.timestamp);
        if (sizeDelta == 0) revert ZeroSizeDelta();
        AssetConfig memory cfg = _config(assetId);
        Trade memory t;
        t.assetId = assetId;
        t.sizeDelta = sizeDelta;
        t.price = oracle.getPrice(cfg.oracleKey);

        AssetState memory st = _states[assetId];
        t.index = _accrue(st, cfg, t.price);
        Position memory pos = _positions[msg.sender][assetId];
        t.reduceOnly = PerpMath.isReduceOnly(pos.size, sizeDelta);
        Globals memory g = _globals;
        if (g.paused && !t.reduceOnly) revert MarketPaused();

        t.skewBefore = _skew(st);
        t.fill = PerpMath.fillPrice(t.price, t.skewBefore, sizeDelta, cfg.skewScale);
        if (sizeDelta > 0 ? t.fill > acceptablePrice : t.fill < acceptablePrice) {
            revert SlippageExceeded(t.fill, acceptablePrice, sizeDelta > 0);
        }

        // Settle this position's funding, then the trade itself.
        t.fundingToAccount =
            PerpMath.toTokenDown(-PerpMath.fundingOwed(pos.size, t.index, pos.lastFundingIndex), _scale);
        int256 realizedWad;
        (t.newSize, t.newOpenNotional, realizedWad) = PerpMath.applyTrade(pos.size, pos.openNotional, sizeDelta, t.fill);
        t.realized = PerpMath.toTokenDown(realizedWad, _scale);
        t.fee = Math.ceilDiv(PerpMath.tradingFee(sizeDelta, t.fill, cfg.tradingFee), _scale);

        _updateAggregates(st, pos, t.newSize, t.newOpenNotional, t.index);
        _states[assetId] = st;
        _settleTrade(t, g.insuranceFeeShare);

        if (!t.reduceOnly) {
            uint256 sideOpenInterest = sizeDelta > 0 ? st.longOpenInterest : st.shortOpenInterest;
            if (sideOpenInterest > cfg.maxOpenInterest) {
                revert OpenInterestCapExceeded(assetId, sideOpenInterest, cfg.maxOpenInterest);
            }
            _checkPoolExposure(assetId, t.skewBefore, _skew(st), t.price);
            (, MarginState memory state) = _marginState(msg.sender, assetId, t.price, true);
            if (state.equity < int256(state.initialRequirement)) {
                revert InsufficientMargin(state.equity, state.initialRequirement);
            }
        }

        emit PositionModified(
            msg.sender,
            assetId,
            sizeDelta,
            t.fill,
            t.fee,
            t.realized,
            -t.fundingToAccount,
            t.newSize,
            t.newOpenNotional,
            t.index
        );
        return (t.fill, t.fee);
    }

    /// @dev A trade that grows |skew| may not leave the pool's net exposure in the asset above its assets.
    function _checkPoolExposure(uint256 assetId, int256 skewBefore, int256 skewAfter, uint256 price) internal view {
        if (SignedMath.abs(skewAfter) <= SignedMath.abs(skewBefore)) return;
        uint256 exposure = PerpMath.notionalUp(skewAfter, price);
        int256 poolWad = int256(_pool.assets) * int256(_scale);
        if (int256(exposure) > poolWad) revert PoolExposureExceeded(assetId, exposure, poolWad);
    }

    /// @dev Moves a trade's funding, PnL and fee between the account, the pool and insurance, and writes
    ///      the position. An account closed out below zero has its shortfall covered as bad debt.
    function _settleTrade(Trade memory t, uint256 insuranceFeeShare) internal {
        AccountData memory account = _accounts[msg.sender];
        int256 collateral = int256(account.collateral) + t.fundingToAccount + t.realized - int256(t.fee);
        uint256 toInsurance = PerpMath.mulDivDown(t.fee, insuranceFeeShare, WAD);
        PoolData memory pool = _pool;
        int256 poolAssets = int256(pool.assets) - t.fundingToAccount - t.realized + int256(t.fee - toInsurance);
        pool.insurance += toInsurance.toUint128();

        account.openMask = _writePosition(msg.sender, t.assetId, account.openMask, t.newSize, t.newOpenNotional, t.index);
        if (t.reduceOnly && account.openMask == 0 && collateral < 0) {
            (poolAssets, pool.insurance) = _coverBadDebt(msg.sender, uint256(-collateral), poolAssets, pool.insurance);
            collateral = 0;
        }
        account.collateral = collateral.toInt128();
        _accounts[msg.sender] = account;
        pool.assets = poolAssets.toInt128();
        _pool = pool;
    }

    /// @inheritdoc IPerpMarket
    function liquidate(address account) external nonReentrant returns (uint256 reward) {
        AccountData memory data = _accounts[account];
        if (data.openMask == 0) revert NoPositions(account);
        (, MarginState memory state) = _marginState(account, type(uint256).max, 0, true);
        if (state.equity >= int256(state.maintenanceRequirement)) {
            revert NotLiquidatable(state.equity, state.maintenanceRequirement);
        }

        int256 collateral = data.collateral;
        PoolData memory pool = _pool;
        int256 poolAssets = pool.assets;
        uint256 mask = data.openMask;
        for (uint256 assetId; mask != 0; ++assetId) {
            if (mask & 1 != 0) {
                int256 settled = _closeAtOraclePrice(account, assetId);
                collateral += settled;
                poolAssets -= settled;
            }
            mask >>= 1;
        }

        Globals memory g = _globals;
        KeeperFees memory kf = _keeperFees;
        reward = PerpMath.keeperFee(state.grossNotional, g.liquidationFeeRatio, kf.minKeeperFee, kf.maxKeeperFee)
            / _scale;
        uint256 toPool;
        if (collateral >= int256(reward)) {
            toPool = uint256(collateral) - reward;
            poolAssets += int256(toPool);
        } else {
            (poolAssets, pool.insurance) =
                _coverBadDebt(account, uint256(int256(reward) - collateral), poolAssets, pool.insurance);
        }
        pool.assets = poolAssets.toInt128();
        _pool = pool;
        _accounts[account] = AccountData({collateral: 0, openMask: 0});

        if (reward != 0) _token.safeTransfer(msg.sender, reward);
        emit AccountLiquidated(account, msg.sender, state.equity, state.maintenanceRequirement, reward, toPool);
    }

    // =============================================================================================
    // Liquidity
    // =============================================================================================

    /// @inheritdoc IPerpMarket
    function depositLiquidity(uint256 amount, uint256 minShares) external nonReentrant returns (uint256 shares) {
        if (amount == 0) revert ZeroAmount();
        if (_globals.paused) revert MarketPaused();
        (int256 value,,) = _poolValue(true);
        if (value < 0) revert PoolValueNegative(value);
        uint256 supply = totalLpShares;
        shares = Math.mulDiv(amount, supply + LP_VIRTUAL_SHARES, uint256(value) + LP_VIRTUAL_ASSETS);
        if (shares == 0 || shares < minShares) revert SharesBelowMinimum(shares, minShares);
        totalLpShares = supply + shares;
        lpShares[msg.sender] += shares;
        _pool.assets = (int256(_pool.assets) + amount.toInt256()).toInt128();
        _token.safeTransferFrom(msg.sender, address(this), amount);
        emit LiquidityDeposited(msg.sender, amount, shares);
    }

    /// @inheritdoc IPerpMarket
    function withdrawLiquidity(uint256 shares, uint256 minAmount) external nonReentrant returns (uint256 amount) {
        if (shares == 0) revert ZeroAmount();
        uint256 balance = lpShares[msg.sender];
        if (shares > balance) revert InsufficientShares(shares, balance);
        (int256 value, int256 traderClaim, uint256 reserve) = _poolValue(false);
        if (value < 0) revert PoolValueNegative(value);
        uint256 supply = totalLpShares;
        amount = Math.mulDiv(shares, uint256(value) + LP_VIRTUAL_ASSETS, supply + LP_VIRTUAL_SHARES);
        if (amount == 0 || amount < minAmount) revert AmountBelowMinimum(amount, minAmount);
        int256 free = int256(_pool.assets) - (traderClaim > 0 ? traderClaim : int256(0)) - int256(reserve);
        if (free < int256(amount)) revert InsufficientFreeLiquidity(amount, free > 0 ? uint256(free) : 0);
        lpShares[msg.sender] = balance - shares;
        totalLpShares = supply - shares;
        _pool.assets = (int256(_pool.assets) - int256(amount)).toInt128();
        _token.safeTransfer(msg.sender, amount);
        emit LiquidityWithdrawn(msg.sender, shares, amount);
    }

    /// @inheritdoc IPerpMarket
    function fundInsurance(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        _pool.insurance += amount.toUint128();
        _token.safeTransferFrom(msg.sender, address(this), amount);
        emit InsuranceFunded(msg.sender, amount);
    }

    // =============================================================================================
    // Views
    // =============================================================================================

    function collateralToken() external view returns (address) {
        return address(_token);
    }

    function assetConfig(uint256 assetId) external view returns (AssetConfig memory) {
        return _config(assetId);
    }

    function assetState(uint256 assetId) external view returns (AssetState memory) {
        _config(assetId);
        return _states[assetId];
    }

    function riskParams() external view returns (RiskParams memory) {
        Globals memory g = _globals;
        KeeperFees memory kf = _keeperFees;
        return RiskParams({
            liquidationFeeRatio: g.liquidationFeeRatio,
            insuranceFeeShare: g.insuranceFeeShare,
            lpReserveRatio: g.lpReserveRatio,
            minKeeperFee: kf.minKeeperFee,
            maxKeeperFee: kf.maxKeeperFee
        });
    }

    function paused() external view returns (bool) {
        return _globals.paused;
    }

    function position(address account, uint256 assetId) external view returns (Position memory) {
        return _positions[account][assetId];
    }

    function collateralOf(address account) external view returns (int256) {
        return _accounts[account].collateral;
    }

    function openAssets(address account) external view returns (uint256) {
        return _accounts[account].openMask;
    }

    function marginState(address account) external view returns (MarginState memory state) {
        (, state) = _marginState(account, type(uint256).max, 0, true);
    }

    function tryMarginState(address account) external view returns (bool ok, MarginState memory state) {
        return _marginState(account, type(uint256).max, 0, false);
    }

    function quoteFillPrice(uint256 assetId, int256 sizeDelta) external view returns (uint256) {
        AssetConfig memory cfg = _config(assetId);
        if (sizeDelta == 0) revert ZeroSizeDelta();
        return PerpMath.fillPrice(oracle.getPrice(cfg.oracleKey), _skew(_states[assetId]), sizeDelta, cfg.skewScale);
    }

    function currentFundingIndex(uint256 assetId, uint256 price) external view returns (int256) {
        AssetConfig memory cfg = _config(assetId);
        return _currentIndex(_states[assetId], cfg, price);
    }

    function canLiquidate(address account) external view returns (bool) {
        (bool ok, MarginState memory state) = _marginState(account, type(uint256).max, 0, false);
        return ok && state.grossNotional != 0 && state.equity < int256(state.maintenanceRequirement);
    }

    function poolValue() external view returns (int256 value) {
        (value,,) = _poolValue(false);
    }

    function poolAssets() external view returns (int256) {
        return _pool.assets;
    }

    function insuranceFund() external view returns (uint256) {
        return _pool.insurance;
    }

    function collateralScale() external view returns (uint256) {
        return _scale;
    }

    // =============================================================================================
    // Internals
    // =============================================================================================

    function _config(uint256 assetId) internal view returns (AssetConfig memory cfg) {
        cfg = _unpack(_configs[assetId]);
        // Listed assets always have a non-zero skew scale, so this doubles as the existence check.
        if (cfg.skewScale == 0) revert UnknownAsset(assetId, assetCount);
    }

    function _skew(AssetState memory st) internal pure returns (int256) {
        return int256(uint256(st.longOpenInterest)) - int256(uint256(st.shortOpenInterest));
    }

    function _currentIndex(AssetState memory st, AssetConfig memory cfg, uint256 price)
        internal
        view
        returns (int256)
    {
        uint256 elapsed = block.timestamp - st.lastFundingTime;
        if (elapsed == 0) return st.fundingIndex;
        int256 rate = PerpMath.fundingRate(_skew(st), cfg.skewScale, cfg.maxFundingRate);
        return st.fundingIndex + PerpMath.fundingIndexDelta(rate, price, elapsed);
    }

    /// @dev Brings the in-memory state's funding index to now; the caller writes `st` back.
    function _accrue(AssetState memory st, AssetConfig memory cfg, uint256 price) internal view returns (int256 index) {
        index = _currentIndex(st, cfg, price);
        st.fundingIndex = index.toInt128();
        st.lastFundingTime = uint64(block.timestamp);
    }

    /// @dev Moves a position's contribution to the asset aggregates from its old to its new values.
    function _updateAggregates(
        AssetState memory st,
        Position memory pos,
        int256 newSize,
        int256 newOpenNotional,
        int256 index
    ) internal pure {
        if (pos.size > 0) st.longOpenInterest -= uint128(pos.size);
        else st.shortOpenInterest -= uint128(-pos.size);
        if (newSize > 0) st.longOpenInterest += uint256(newSize).toUint128();
        else st.shortOpenInterest += uint256(-newSize).toUint128();
        st.sumOpenNotional = (int256(st.sumOpenNotional) - pos.openNotional + newOpenNotional).toInt128();
        st.sumFundingBasis = (
            int256(st.sumFundingBasis) - _fundingBasis(pos.size, pos.lastFundingIndex) + _fundingBasis(newSize, index)
        ).toInt128();
    }

    function _fundingBasis(int256 size, int256 index) internal pure returns (int256) {
        return PerpMath.mulDivSigned(size, index, WAD, false);
    }

    /// @dev Writes (or deletes) a position and returns the account's updated open mask.
    function _writePosition(
        address account,
        uint256 assetId,
        uint128 mask,
        int256 newSize,
        int256 newOpenNotional,
        int256 index
    ) internal returns (uint128) {
        if (newSize == 0) {
            delete _positions[account][assetId];
            return mask & ~uint128(1 << assetId);
        }
        _positions[account][assetId] = Position({
            size: newSize.toInt128(),
            openNotional: newOpenNotional.toInt128(),
            lastFundingIndex: index.toInt128()
        });
        return mask | uint128(1 << assetId);
    }

    /// @dev Closes one position at the oracle price without price impact or fee (liquidation).
    /// @return settled Token amount credited to the account (negative: debited), funding included.
    function _closeAtOraclePrice(address account, uint256 assetId) internal returns (int256 settled) {
        AssetConfig memory cfg = _unpack(_configs[assetId]);
        uint256 price = oracle.getPrice(cfg.oracleKey);
        AssetState memory st = _states[assetId];
        int256 index = _accrue(st, cfg, price);
        Position memory pos = _positions[account][assetId];
        int256 realizedWad = PerpMath.unrealizedPnl(pos.size, pos.openNotional, price);
        int256 fundingWad = PerpMath.fundingOwed(pos.size, index, pos.lastFundingIndex);
        settled = PerpMath.toTokenDown(realizedWad - fundingWad, _scale);
        _updateAggregates(st, pos, 0, 0, index);
        _states[assetId] = st;
        delete _positions[account][assetId];
        emit PositionLiquidated(account, assetId, pos.size, price, settled);
    }

    /// @dev Pays a shortfall from insurance first, then the pool, and records it.
    function _coverBadDebt(address account, uint256 amount, int256 poolAssets, uint128 insurance)
        internal
        returns (int256, uint128)
    {
        uint256 fromInsurance = Math.min(amount, insurance);
        uint256 fromPool = amount - fromInsurance;
        totalBadDebt += amount;
        emit BadDebt(account, amount, fromInsurance, fromPool);
        return (poolAssets - int256(fromPool), insurance - uint128(fromInsurance));
    }

    /// @dev Cross-margin state. `knownAsset`/`knownPrice` reuse a price the caller already read.
    ///      With `strict`, an unusable price reverts (the oracle's error); otherwise it returns ok = false.
    function _marginState(address account, uint256 knownAsset, uint256 knownPrice, bool strict)
        internal
        view
        returns (bool ok, MarginState memory state)
    {
        AccountData memory data = _accounts[account];
        state.equity = int256(data.collateral) * int256(_scale);
        uint256 mask = data.openMask;
        for (uint256 assetId; mask != 0; ++assetId) {
            if (mask & 1 != 0) {
                AssetConfig memory cfg = _unpack(_configs[assetId]);
                uint256 price = knownPrice;
                if (assetId != knownAsset) {
                    (ok, price) = _price(cfg.oracleKey, strict);
                    if (!ok) return (false, state);
                }
                _addPosition(state, _positions[account][assetId], cfg, _currentIndex(_states[assetId], cfg, price), price);
            }
            mask >>= 1;
        }
        Globals memory g = _globals;
        KeeperFees memory kf = _keeperFees;
        uint256 fee = PerpMath.keeperFee(state.grossNotional, g.liquidationFeeRatio, kf.minKeeperFee, kf.maxKeeperFee);
        state.initialRequirement += fee;
        state.maintenanceRequirement += fee;
        ok = true;
    }

    /// @dev Adds one marked position to a margin state (requirements without the keeper fee).
    function _addPosition(
        MarginState memory state,
        Position memory pos,
        AssetConfig memory cfg,
        int256 index,
        uint256 price
    ) internal pure {
        state.equity += PerpMath.unrealizedPnl(pos.size, pos.openNotional, price)
            - PerpMath.fundingOwed(pos.size, index, pos.lastFundingIndex);
        uint256 notional = PerpMath.notionalUp(pos.size, price);
        state.grossNotional += notional;
        state.initialRequirement += PerpMath.mulDivUp(notional, cfg.initialMarginRatio, WAD);
        state.maintenanceRequirement += PerpMath.mulDivUp(notional, cfg.maintenanceMarginRatio, WAD);
    }

    function _price(bytes32 key, bool strict) internal view returns (bool ok, uint256 price) {
        if (strict) return (true, oracle.getPrice(key));
        IPriceOracle.PriceStatus status;
        (status, price,) = oracle.tryGetPrice(key);
        ok = status == IPriceOracle.PriceStatus.OK;
    }

    /// @dev Pool value to LPs (token units) = pool assets - trader PnL + pending funding, rounded up for
    ///      deposits and down for withdrawals (against the LP). Also returns the traders' net claim (PnL minus
    ///      funding owed, rounded up) and the reserve kept back for the pool's net exposure.
    function _poolValue(bool roundUp) internal view returns (int256 value, int256 traderClaim, uint256 reserve) {
        int256 claimWad;
        uint256 skewNotional;
        uint256 count = assetCount;
        for (uint256 assetId; assetId < count; ++assetId) {
            (int256 claim, uint256 notional) = _assetClaim(assetId, roundUp);
            claimWad += claim;
            skewNotional += notional;
        }
        // Value = assets - claim; rounding the claim toward +inf makes the value round down.
        int256 claimTokenUp = -PerpMath.toTokenDown(-claimWad, _scale);
        int256 claimTokenDown = PerpMath.toTokenDown(claimWad, _scale);
        value = int256(_pool.assets) - (roundUp ? claimTokenDown : claimTokenUp);
        traderClaim = claimTokenUp;
        reserve = Math.mulDiv(skewNotional, _globals.lpReserveRatio, WAD * _scale, Math.Rounding.Ceil);
    }

    /// @dev All traders' net claim on the pool in one asset (PnL minus funding owed, WAD; toward -inf when
    ///      `roundDown`... see _poolValue) and the pool's net exposure notional.
    function _assetClaim(uint256 assetId, bool claimDown) internal view returns (int256 claim, uint256 skewNotional) {
        AssetState memory st = _states[assetId];
        if (st.longOpenInterest == 0 && st.shortOpenInterest == 0) return (0, 0);
        AssetConfig memory cfg = _unpack(_configs[assetId]);
        uint256 price = oracle.getPrice(cfg.oracleKey);
        int256 skew = _skew(st);
        int256 index = _currentIndex(st, cfg, price);
        // Sums over positions of size*price - openNotional and of size*(index - lastIndex).
        int256 pnl = PerpMath.mulDivSigned(skew, int256(price), WAD, !claimDown) - st.sumOpenNotional;
        int256 funding = PerpMath.mulDivSigned(skew, index, WAD, claimDown) - st.sumFundingBasis;
        return (pnl - funding, PerpMath.notionalUp(skew, price));
    }

    function _pack(AssetConfig calldata c) internal pure returns (PackedConfig memory) {
        return PackedConfig({
            oracleKey: bytes8(c.oracleKey),
            skewScale: uint96(c.skewScale),
            maxOpenInterest: uint96(c.maxOpenInterest),
            initialMarginRatio: c.initialMarginRatio,
            maintenanceMarginRatio: c.maintenanceMarginRatio,
            tradingFee: c.tradingFee,
            maxFundingRate: c.maxFundingRate
        });
    }

    function _unpack(PackedConfig memory p) internal pure returns (AssetConfig memory) {
        return AssetConfig({
            oracleKey: bytes32(p.oracleKey),
            skewScale: p.skewScale,
            maxOpenInterest: p.maxOpenInterest,
            initialMarginRatio: p.initialMarginRatio,
            maintenanceMarginRatio: p.maintenanceMarginRatio,
            tradingFee: p.tradingFee,
            maxFundingRate: p.maxFundingRate
        });
    }

    function _validateAssetConfig(AssetConfig calldata c) internal pure {
        // The key is stored in 8 bytes (ASCII symbols such as "ETH"); longer keys would be truncated.
        if (uint256(c.oracleKey) & type(uint192).max != 0) {
            revert InvalidParameter("oracleKey", uint256(c.oracleKey), 0, uint256(type(uint64).max) << 192);
        }
        if (c.skewScale < WAD || c.skewScale > type(uint96).max) {
            revert InvalidParameter("skewScale", c.skewScale, WAD, type(uint96).max);
        }
        if (c.maxOpenInterest == 0 || c.maxOpenInterest > c.skewScale / 2) {
            revert InvalidParameter("maxOpenInterest", c.maxOpenInterest, 1, c.skewScale / 2);
        }
        if (c.initialMarginRatio < MIN_IMR || c.initialMarginRatio > WAD) {
            revert InvalidParameter("initialMarginRatio", c.initialMarginRatio, MIN_IMR, WAD);
        }
        if (c.maintenanceMarginRatio < MIN_MMR || c.maintenanceMarginRatio >= c.initialMarginRatio) {
            revert MarginRatiosOutOfOrder(c.initialMarginRatio, c.maintenanceMarginRatio);
        }
        if (c.tradingFee > MAX_TRADING_FEE) revert InvalidParameter("tradingFee", c.tradingFee, 0, MAX_TRADING_FEE);
        if (c.maxFundingRate > MAX_FUNDING_RATE) {
            revert InvalidParameter("maxFundingRate", c.maxFundingRate, 0, MAX_FUNDING_RATE);
        }
    }

    function _setRiskParams(RiskParams memory p) internal {
        if (p.liquidationFeeRatio > MAX_LIQUIDATION_FEE_RATIO) {
            revert InvalidParameter("liquidationFeeRatio", p.liquidationFeeRatio, 0, MAX_LIQUIDATION_FEE_RATIO);
        }
        if (p.insuranceFeeShare > WAD) revert InvalidParameter("insuranceFeeShare", p.insuranceFeeShare, 0, WAD);
        if (p.lpReserveRatio > WAD) revert InvalidParameter("lpReserveRatio", p.lpReserveRatio, 0, WAD);
        if (p.maxKeeperFee > MAX_KEEPER_FEE) revert InvalidParameter("maxKeeperFee", p.maxKeeperFee, 0, MAX_KEEPER_FEE);
        if (p.minKeeperFee > p.maxKeeperFee) revert KeeperFeesOutOfOrder(p.minKeeperFee, p.maxKeeperFee);
        _globals = Globals({
            liquidationFeeRatio: p.liquidationFeeRatio,
            insuranceFeeShare: p.insuranceFeeShare,
            lpReserveRatio: p.lpReserveRatio,
            paused: _globals.paused
        });
        _keeperFees = KeeperFees({minKeeperFee: p.minKeeperFee, maxKeeperFee: p.maxKeeperFee});
        emit RiskParamsUpdated(p);
    }
}
