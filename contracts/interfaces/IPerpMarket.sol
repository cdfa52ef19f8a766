// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IPriceOracle} from "./IPriceOracle.sol";

/// @title IPerpMarket
/// @notice An oracle-priced, multi-asset linear perpetual market with one ERC-20 collateral, a liquidity pool
///         as every trader's counterparty and cross-margined accounts (model: Synthetix Perps v2, GMX v2).
/// @dev Units: prices, sizes, notionals, PnL, funding and fees are WAD (1e18); prices are in collateral units
///      per asset unit. Token balances (account collateral, pool, insurance) are in the collateral token's own
///      decimals. Ratios are WAD fractions; funding rates are WAD fractions per day.
///      Accounting identity (invariant MKT-1): token.balanceOf(market) == sum(collateral) + pool + insurance.
///      Trust: the oracle is trusted for liveness checks (stale/non-positive prices revert); the risk role
///      can change parameters within validated ranges; the guardian can pause risk-increasing actions only.
interface IPerpMarket {
    // ---------------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------------

    /// @notice Per-asset risk parameters (stored packed in two slots: the oracle key may use at most its first
    ///         8 bytes, e.g. bytes32("ETH"), and skewScale must fit 96 bits).
    struct AssetConfig {
        bytes32 oracleKey; // asset key in the price oracle, at most 8 bytes long
        uint128 skewScale; // WAD size in [1e18, 2^96 - 1]; price impact = skew / skewScale
        uint128 maxOpenInterest; // WAD size, per side
        uint64 initialMarginRatio; // WAD fraction = 1 / max leverage
        uint64 maintenanceMarginRatio; // WAD fraction, < initialMarginRatio
        uint64 tradingFee; // WAD fraction of fill notional
        uint64 maxFundingRate; // WAD fraction per day at |skew| >= skewScale
    }

    /// @notice Per-asset state.
    struct AssetState {
        int128 fundingIndex; // WAD collateral per unit size, cumulative
        uint64 lastFundingTime; // seconds
        uint128 longOpenInterest; // WAD size
        uint128 shortOpenInterest; // WAD size
        int128 sumOpenNotional; // sum of open notionals of all positions (WAD)
        int128 sumFundingBasis; // sum of size * lastFundingIndex / WAD of all positions
    }

    /// @notice One account's position in one asset.
    struct Position {
        int128 size; // WAD, signed: > 0 long, < 0 short
        int128 openNotional; // WAD cost basis, signed like size; entry price = openNotional / size
        int128 lastFundingIndex; // funding index at the last settlement
    }

    /// @notice Global liquidation and fee parameters.
    struct RiskParams {
        uint64 liquidationFeeRatio; // WAD fraction of gross notional paid to the liquidator
        uint64 insuranceFeeShare; // WAD fraction of trading fees that goes to insurance
        uint64 lpReserveRatio; // WAD fraction of |net skew notional| the pool keeps back from LP withdrawals
        uint128 minKeeperFee; // WAD collateral
        uint128 maxKeeperFee; // WAD collateral
    }

    /// @notice An account's cross-margin state at current prices.
    struct MarginState {
        int256 equity; // WAD: collateral + unrealized PnL - funding owed
        uint256 grossNotional; // WAD: sum |size| * price
        uint256 initialRequirement; // WAD: sum |notional| * IMR + keeper fee
        uint256 maintenanceRequirement; // WAD: sum |notional| * MMR + keeper fee
    }

    // ---------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------

    event AssetListed(uint256 indexed assetId, bytes32 indexed oracleKey, AssetConfig config);
    event AssetConfigUpdated(uint256 indexed assetId, AssetConfig config);
    event RiskParamsUpdated(RiskParams params);
    event Paused(address indexed by);
    event Unpaused(address indexed by);
    event MarginDeposited(address indexed account, uint256 amount);
    event MarginWithdrawn(address indexed account, uint256 amount);
    /// @param realizedPnl token units, after rounding against the trader (funding not included)
    /// @param fundingPaid token units paid by the trader (negative: received)
    event PositionModified(
        address indexed account,
        uint256 indexed assetId,
        int256 sizeDelta,
        uint256 fillPrice,
        uint256 fee,
        int256 realizedPnl,
        int256 fundingPaid,
        int256 newSize,
        int256 newOpenNotional,
        int256 fundingIndex
    );
    event PositionLiquidated(
        address indexed account, uint256 indexed assetId, int256 size, uint256 price, int256 realizedPnl
    );
    /// @param reward token units paid to the liquidator; toPool what was left of the margin
    event AccountLiquidated(
        address indexed account,
        address indexed liquidator,
        int256 equity,
        uint256 maintenanceRequirement,
        uint256 reward,
        uint256 toPool
    );
    /// @notice A loss the account could not pay, covered explicitly (token units).
    event BadDebt(address indexed account, uint256 amount, uint256 fromInsurance, uint256 fromPool);
    event LiquidityDeposited(address indexed provider, uint256 amount, uint256 shares);
    event LiquidityWithdrawn(address indexed provider, uint256 shares, uint256 amount);
    event InsuranceFunded(address indexed from, uint256 amount);

    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    error UnknownAsset(uint256 assetId, uint256 assetCount);
    error TooManyAssets(uint256 max);
    error InvalidParameter(string name, uint256 value, uint256 min, uint256 max);
    error MarginRatiosOutOfOrder(uint256 initialMarginRatio, uint256 maintenanceMarginRatio);
    error KeeperFeesOutOfOrder(uint256 minKeeperFee, uint256 maxKeeperFee);
    error InvalidCollateralDecimals(uint8 decimals);
    error ZeroAddress();
    error ZeroAmount();
    error ZeroSizeDelta();
    error DeadlineExpired(uint256 deadline, uint256 nowTs);
    error SlippageExceeded(uint256 fillPrice, uint256 acceptablePrice, bool isBuy);
    error MarketPaused();
    error OpenInterestCapExceeded(uint256 assetId, uint256 openInterest, uint256 cap);
    /// @notice A trade would leave the pool's net exposure in one asset (|skew| * price, WAD) above its assets.
    error PoolExposureExceeded(uint256 assetId, uint256 exposure, int256 poolAssetsWad);
    error InsufficientMargin(int256 equity, uint256 required);
    error InsufficientCollateral(int256 collateral, uint256 requested);
    error NotLiquidatable(int256 equity, uint256 maintenanceRequirement);
    error NoPositions(address account);
    error PoolValueNegative(int256 value);
    error InsufficientFreeLiquidity(uint256 requested, uint256 available);
    error InsufficientShares(uint256 requested, uint256 balance);
    error SharesBelowMinimum(uint256 shares, uint256 minShares);
    error AmountBelowMinimum(uint256 amount, uint256 minAmount);

    // ---------------------------------------------------------------------------------------------
    // Trading
    // ---------------------------------------------------------------------------------------------

    /// @notice Adds collateral to the caller's margin account.
    function depositMargin(uint256 amount) external;

    /// @notice Withdraws collateral; with open positions the account must stay above its initial requirement.
    /// @dev Needs fresh prices for every open position. `amount` may not exceed the realized collateral.
    function withdrawMargin(uint256 amount) external;

    /// @notice Changes the caller's position in `assetId` by `sizeDelta` at the fill price.
    /// @dev Reduce-only trades (toward zero, not crossing it) are allowed when paused, above open-interest caps
    ///      and below margin requirements; they only need a fresh price, the deadline and the slippage bound.
    ///      Every other trade must leave equity >= the initial requirement and, when it grows the skew, the pool's
    ///      net exposure in the asset (|skew| * price) at most the pool's assets, so that trader profit cannot
    ///      outrun the pool before the price has doubled against it.
    /// @param acceptablePrice Worst fill: the maximum for buys (sizeDelta > 0), the minimum for sells.
    /// @return fillPrice WAD fill price, including price impact.
    /// @return fee Trading fee charged, token units.
    function modifyPosition(uint256 assetId, int256 sizeDelta, uint256 acceptablePrice, uint256 deadline)
        external
        returns (uint256 fillPrice, uint256 fee);

    /// @notice Closes every position of an account below its maintenance requirement at oracle prices.
    /// @return reward Token units paid to the caller.
    function liquidate(address account) external returns (uint256 reward);

    // ---------------------------------------------------------------------------------------------
    // Liquidity
    // ---------------------------------------------------------------------------------------------

    function depositLiquidity(uint256 amount, uint256 minShares) external returns (uint256 shares);

    /// @dev The pool keeps back unrealized trader profit plus lpReserveRatio of the net skew notional.
    function withdrawLiquidity(uint256 shares, uint256 minAmount) external returns (uint256 amount);

    /// @notice Adds collateral to the insurance fund, which pays bad debt before the pool.
    function fundInsurance(uint256 amount) external;

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    function collateralToken() external view returns (address);
    function oracle() external view returns (IPriceOracle);
    function assetCount() external view returns (uint256);
    function assetConfig(uint256 assetId) external view returns (AssetConfig memory);
    function assetState(uint256 assetId) external view returns (AssetState memory);
    function riskParams() external view returns (RiskParams memory);
    function paused() external view returns (bool);
    function position(address account, uint256 assetId) external view returns (Position memory);
    function collateralOf(address account) external view returns (int256);
    /// @notice Bit i set when the account has a position in asset i.
    function openAssets(address account) external view returns (uint256);

    /// @notice Margin state at current prices; reverts when a needed price is unusable.
    function marginState(address account) external view returns (MarginState memory);

    /// @notice Margin state that never reverts: ok = false when a needed price is unusable.
    function tryMarginState(address account) external view returns (bool ok, MarginState memory state);

    /// @notice Fill price of a hypothetical trade at the current oracle price (reverts on unusable price).
    function quoteFillPrice(uint256 assetId, int256 sizeDelta) external view returns (uint256);

    /// @notice Funding index including the part accrued since the last update.
    function currentFundingIndex(uint256 assetId, uint256 price) external view returns (int256);

    function canLiquidate(address account) external view returns (bool);

    /// @notice Pool value to LPs in token units (pool - trader PnL + pending funding), rounded down.
    function poolValue() external view returns (int256);
    function poolAssets() external view returns (int256);
    function insuranceFund() external view returns (uint256);
    function totalBadDebt() external view returns (uint256);
    function lpShares(address provider) external view returns (uint256);
    function totalLpShares() external view returns (uint256);
}
