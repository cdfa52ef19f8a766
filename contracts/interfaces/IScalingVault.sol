// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";

/// @title IScalingVault
/// @notice An ERC-4626 vault over a perp venue's collateral whose leveraged positions in up to four assets are
///         scaled by a keeper inside rules the contract enforces (model: Index Coop FLI / Set's perp extension).
/// @dev Units. Leverage, weights, slippage, tolerances and buffers are WAD (1e18 = 1x / 100%). Sizes, prices and
///      notionals are WAD as on the venue. `ripcordReward` and ERC-4626 amounts are in collateral token units.
///      Leverage = gross notional / venue account equity (sum |size| * oracle price over equity), rounded up;
///      type(uint256).max when equity <= 0 with open positions. Idle collateral held by the vault itself
///      (donations, unpaid rewards) counts in totalAssets but not in leverage until `sweep` moves it to margin.
///      Trust. KEEPER chooses sizes and timing only; every rule is checked on chain. MANAGER sets the policy
///      within validated ranges. GUARDIAN can stop risk-increasing actions only. Exits never need a keeper.
///      Sharp edges: the oracle is trusted (an exit or deposit at a lagging oracle price is priced at that price);
///      see docs/VAULT.md "Known issues".
interface IScalingVault is IERC4626 {
    // ---------------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------------

    /// @notice What a keeper should call next (`shouldRebalance`, `checkUpkeep`).
    enum Action {
        NONE,
        REBALANCE,
        ITERATE,
        RIPCORD
    }

    /// @notice Why `shouldRebalance` returned its action.
    enum Reason {
        NONE, // nothing to report
        WITHIN_BAND, // leverage inside the band and near target, or the interval has not elapsed
        PRICE_UNAVAILABLE, // a needed price is stale / invalid: only views work
        EMPTY, // no equity and no positions
        RIPCORD_LEVERAGE, // leverage >= ripcordLeverage
        RIPCORD_MARGIN, // equity < maintenance requirement * (1 + ripcordMarginBuffer)
        RIPCORD_COOLDOWN, // ripcord due but ripcordCooldown since the last trade has not elapsed
        PENDING_CHUNK, // a chunked rebalance has a remaining target
        CHUNK_COOLDOWN, // a trade is due but chunkCooldown since the last trade has not elapsed
        ABOVE_MAX, // leverage > maxLeverage
        BELOW_MIN, // leverage < minLeverage
        RECENTER, // inside the band, rebalanceInterval elapsed, |leverage - target| > tolerance
        PAUSED // the only useful trade would increase risk while the guardian pause is on
    }

    /// @notice The policy (set by MANAGER, validated on every change). Packed in four storage slots.
    /// @dev Ordering: 0 < minLeverage <= targetLeverage <= maxLeverage < ripcordLeverage <= leverageCap
    ///      < min over assets of the venue's max leverage (1 / initial margin ratio) and <= MAX_LEVERAGE_CAP;
    ///      rebalanceInterval >= chunkCooldown >= ripcordCooldown; maxSlippage <= ripcordSlippage <= 10%,
    ///      maxSlippage <= 5%; 0 < maxTradeNotional <= ripcordMaxTradeNotional;
    ///      tolerance <= min(target - min, max - target).
    struct Params {
        // slot 0
        uint64 minLeverage; // WAD
        uint64 targetLeverage; // WAD
        uint64 maxLeverage; // WAD
        uint64 leverageCap; // WAD: no keeper call may end above it; above it chunk limits are lifted for delevering
        // slot 1
        uint64 tolerance; // WAD leverage: a trade landing within target +- tolerance always passes the outcome check
        uint64 minImprovement; // WAD leverage: otherwise |L - target| must shrink by at least this (or a full chunk)
        uint64 maxSlippage; // WAD fraction of the oracle price: bound on keeper acceptable prices
        uint32 rebalanceInterval; // seconds between rebalances while leverage is inside the band
        uint32 chunkCooldown; // seconds between chunks (iterate) and between out-of-band rebalances
        // slot 2
        uint96 maxTradeNotional; // WAD notional per keeper call (sum over assets of |sizeDelta| * price)
        uint64 ripcordLeverage; // WAD
        uint64 ripcordSlippage; // WAD fraction: ripcord and exit trades (acceptable price computed on chain)
        uint32 ripcordCooldown; // seconds since the last trade before a ripcord
        // slot 3
        uint96 ripcordMaxTradeNotional; // WAD notional per ripcord (lifted above leverageCap)
        uint96 ripcordReward; // collateral token units paid to the ripcord caller, capped by what is available
        uint64 ripcordMarginBuffer; // WAD fraction over the maintenance requirement that triggers the ripcord
    }

    /// @notice One asset of the vault: venue asset id, signed target weight and notional cap.
    /// @dev sum |weight| over the vault's assets is exactly 1e18. weight > 0: long only, < 0: short only,
    ///      0: may only be reduced. Target notional of asset i = weight_i * targetLeverage * equity.
    struct AssetParams {
        uint256 assetId; // venue asset id
        int64 weight; // WAD, signed
        uint192 notionalCap; // WAD notional: risk-increasing trades may not leave |size| * price above it
    }

    /// @notice One keeper adjustment for `rebalance`.
    /// @param assetId venue asset id (must be one of the vault's assets)
    /// @param sizeDelta WAD size change, signed (> 0 buys)
    /// @param acceptablePrice worst fill (max for buys, min for sells); 0 = the policy bound
    ///        oracle * (1 +- maxSlippage). A non-zero value beyond that bound reverts.
    struct Adjustment {
        uint256 assetId;
        int256 sizeDelta;
        uint256 acceptablePrice;
    }

    /// @notice Timestamps and flags, packed in one slot read by every keeper call.
    struct VaultState {
        uint40 lastRebalanceAt; // seconds
        uint40 lastIterateAt; // seconds
        uint40 lastRipcordAt; // seconds
        uint8 pendingMask; // bit i: vault asset i (constructor order) has a remaining chunk target
        uint8 pendingBuyMask; // bit i: the remaining target of asset i is above its size (buys)
        bool paused; // guardian pause of deposits and risk-increasing trades
        uint112 lastEquity; // token units: venue equity at the last state change with usable prices
    }

    /// @notice Venue account at current prices, as the vault measures it.
    struct AccountView {
        bool pricesOk; // false: a price of an open position is unusable; the other fields are then zero
        int256 equity; // WAD: venue collateral + unrealized PnL - funding owed
        uint256 grossNotional; // WAD: sum |size| * price
        uint256 maintenanceRequirement; // WAD (venue definition, including its keeper fee)
        uint256 leverage; // WAD, rounded up
    }

    // ---------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------

    event ParamsUpdated(Params params);
    event AssetParamsUpdated(uint256 indexed assetId, int256 weight, uint256 notionalCap);
    event ForwarderUpdated(address indexed forwarder);
    event VaultPaused(address indexed by);
    event VaultUnpaused(address indexed by);
    /// @notice A keeper trade (rebalance or iterate) with leverage before and after (after is a conservative
    ///         estimate: venue rounding can only make the real value lower), traded WAD notional, and the
    ///         pending-chunk mask left behind (0: no remaining target).
    event Rebalanced(
        address indexed keeper,
        Action indexed action,
        uint256 leverageBefore,
        uint256 leverageAfter,
        uint256 tradedNotional,
        uint8 pendingMask
    );
    /// @notice A chunked rebalance stored a remaining target for one asset (signed WAD exposure = notional / equity).
    event ChunkTargetSet(uint256 indexed assetId, int256 targetExposure);
    /// @notice A pending chunked rebalance ended without (more) trading: target reached or crossed, replaced,
    ///         ripcord, or a policy change.
    event PendingRebalanceCleared(uint8 clearedMask);
    event Ripcord(
        address indexed caller, uint256 leverageBefore, uint256 leverageAfter, uint256 cutNotional, uint256 reward
    );
    /// @notice An exit closed `fraction` (WAD) of every position; `costWad` is what the exiter paid for it
    ///         (fees + price impact + venue rounding; negative: a gain from closing against the skew).
    event ExitPositionsClosed(address indexed owner, uint256 fraction, int256 costWad);
    event Swept(uint256 amount);

    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    // configuration
    error ZeroAddress();
    error NoAssets();
    error TooManyAssets(uint256 count, uint256 max);
    error DuplicateAsset(uint256 assetId);
    error AssetNotInVault(uint256 assetId);
    error WeightsSumNotOne(uint256 sumAbsWeights);
    error AssetCountMismatch(uint256 given, uint256 expected);
    /// @notice The module passed to the constructor serves another market or asset list.
    error ModuleMismatch(address module);
    /// @notice `lower` must be <= `upper` (< for max -> ripcord; 0 < min is reported as (0, min)).
    error LeverageOutOfOrder(uint256 lower, uint256 upper);
    error LeverageCapAboveVenueMax(uint256 assetId, uint256 leverageCap, uint256 venueMaxLeverage);
    error CooldownsOutOfOrder(uint256 rebalanceInterval, uint256 chunkCooldown, uint256 ripcordCooldown);
    error InvalidParameter(string name, uint256 value, uint256 min, uint256 max);

    // keeper rules
    error NoAdjustments();
    error ZeroSizeDelta(uint256 assetId);
    error RebalanceIntervalNotElapsed(uint256 lastTradeAt, uint256 interval, uint256 nowTs);
    error ChunkCooldownNotElapsed(uint256 lastTradeAt, uint256 cooldown, uint256 nowTs);
    error RipcordCooldownNotElapsed(uint256 lastTradeAt, uint256 cooldown, uint256 nowTs);
    error NoPendingRebalance();
    error DirectionMismatch(uint256 assetId, int256 newSize, int256 weight);
    error NotionalCapExceeded(uint256 assetId, uint256 notional, uint256 cap);
    error AssetMovesAwayFromTarget(uint256 assetId, uint256 distanceBefore, uint256 distanceAfter);
    error AcceptablePriceOutOfBounds(uint256 assetId, uint256 acceptablePrice, uint256 bound);
    error RiskIncreasingWhilePaused(uint256 assetId);
    error LeverageAboveMax(uint256 leverage, uint256 maxLeverage);
    error LeverageAboveCap(uint256 leverage, uint256 leverageCap);
    /// @notice Outcome check: |after - target| must be <= tolerance, or strictly below |before - target| by at
    ///         least minImprovement (a full chunk of maxTradeNotional is exempt from the minimum).
    error InsufficientImprovement(uint256 leverageBefore, uint256 leverageAfter, uint256 target);
    error RipcordNotTriggered(uint256 leverage, uint256 ripcordLeverage, int256 equity, uint256 marginThreshold);
    error UnauthorizedUpkeepCaller(address caller);
    error NothingToPerform();

    // state and prices
    /// @param assetId venue asset id (type(uint256).max if the venue did not say which)
    /// @param status venue/oracle status code (IPriceOracle.PriceStatus for PerpMarket)
    error PriceUnavailable(uint256 assetId, uint8 status);
    error VaultIsPaused();
    /// @notice Deposits are refused while open positions have wiped out the equity.
    error VaultInsolvent(int256 equity);
    /// @notice An exit's realized cost exceeded the bound its share amount was computed with (should not happen).
    error ExitCostAboveBound(uint256 sharesNeeded, uint256 sharesBound);

    // ---------------------------------------------------------------------------------------------
    // Keeper
    // ---------------------------------------------------------------------------------------------

    /// @notice KEEPER: trade toward the policy. The keeper chooses sizes and timing; the contract checks:
    ///         fresh prices; each asset at most once; signs of the new sizes vs the weights; notional caps on
    ///         risk-increasing legs; every leg moves its asset's notional no further from weight * target * equity;
    ///         acceptable prices within maxSlippage; rebalanceInterval since the last trade while leverage is in
    ///         band, chunkCooldown otherwise; total notional above maxTradeNotional is scaled down pro rata and
    ///         the remaining target stored for `iterate` (no limit for pure delevering above leverageCap);
    ///         afterwards leverage <= leverageCap, <= maxLeverage if gross notional grew, and the outcome check
    ///         (see InsufficientImprovement). Risk-increasing legs revert while paused.
    /// @dev Replaces any pending chunked rebalance.
    function rebalance(Adjustment[] calldata adjustments) external;

    /// @notice KEEPER: next chunk of a pending rebalance after chunkCooldown, at on-chain acceptable prices.
    ///         An asset's target ends when reached (within tolerance * equity of notional) or crossed by price
    ///         moves; risk-increasing legs are dropped while paused. Ends without trading when nothing is left.
    function iterate() external;

    /// @notice Anyone: delever when leverage >= ripcordLeverage or equity < maintenance * (1 + buffer), after
    ///         ripcordCooldown since the last trade. Cuts min(ripcordMaxTradeNotional, gross - maxLeverage *
    ///         equity) pro rata across positions (uncapped above leverageCap), at oracle * (1 -+ ripcordSlippage).
    /// @return reward Token units paid to the caller: min(ripcordReward, idle + withdrawable margin); paying it can
    ///         never make the call revert.
    function ripcord() external returns (uint256 reward);

    /// @notice Never reverts. REBALANCE sizes are full deltas to the policy target (clamped by caps, increases
    ///         zeroed while paused): pass them to `rebalance`, which executes the first chunk. ITERATE / RIPCORD
    ///         sizes are what those calls would trade now. Sizes are indexed like `assetIds()`.
    function shouldRebalance() external view returns (Action action, Reason reason, int256[] memory sizes);

    /// @notice Chainlink Automation: performData = abi.encode(Action, Adjustment[]). Never reverts.
    function checkUpkeep(bytes calldata checkData) external view returns (bool upkeepNeeded, bytes memory performData);

    /// @notice Chainlink Automation: KEEPER or the configured forwarder; re-validates everything.
    function performUpkeep(bytes calldata performData) external;

    /// @notice Anyone: move idle collateral held by the vault into venue margin.
    function sweep() external;

    // ---------------------------------------------------------------------------------------------
    // Governance
    // ---------------------------------------------------------------------------------------------

    /// @notice MANAGER. Clears any pending chunked rebalance.
    function setParams(Params calldata params) external;

    /// @notice MANAGER: weights and caps of every vault asset, in `assetIds()` order. Clears pending chunks.
    function setAssetParams(int64[] calldata weights, uint192[] calldata notionalCaps) external;

    /// @notice MANAGER: the Chainlink Automation forwarder allowed to call `performUpkeep` (0 = none).
    function setForwarder(address forwarder) external;

    /// @notice GUARDIAN: stop deposits and risk-increasing trades. Exits, delevering and ripcord keep working.
    function pause() external;

    function unpause() external;

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    function params() external view returns (Params memory);
    function vaultState() external view returns (VaultState memory);
    function assetIds() external view returns (uint256[] memory);
    function assetParams() external view returns (AssetParams[] memory);
    /// @notice Remaining chunk target of each asset (signed WAD exposure), indexed like `assetIds()`.
    function pendingExposures() external view returns (int256[] memory);
    /// @notice The venue account measured at current prices; never reverts (pricesOk = false instead).
    function accountView() external view returns (AccountView memory);
    function forwarder() external view returns (address);
    /// @notice Address of the venue (the PerpMarket).
    function venue() external view returns (address);
    /// @notice The vault's module: the contract whose code runs (by DELEGATECALL, on the vault's storage) exits,
    ///         governance and the views; shared by vaults with the same market and asset ids.
    function module() external view returns (address);

    /// @notice Account plus, per asset (indexed like `assetIds()`), the oracle price (0 when unusable), its
    ///         status (0 = usable) and the position size. Never reverts.
    function marks()
        external
        view
        returns (AccountView memory account, uint256[] memory prices, uint8[] memory priceStatuses, int256[] memory sizes);
}
