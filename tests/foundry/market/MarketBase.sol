// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";

import {IPerpMarket} from "../../../contracts/interfaces/IPerpMarket.sol";
import {IPriceOracle} from "../../../contracts/interfaces/IPriceOracle.sol";
import {PerpMarket} from "../../../contracts/market/PerpMarket.sol";
import {ChainlinkOracleAdapter} from "../../../contracts/oracles/ChainlinkOracleAdapter.sol";
import {MockAggregator} from "../../../contracts/mocks/MockAggregator.sol";
import {MockERC20} from "../../../contracts/mocks/MockERC20.sol";

/// @notice Deploys the market stack the way `keeper/chain/deployer.py` does: mock collateral, two 8-decimal
///         mock feeds (ETH 2000, BTC 60000), the adapter (max age 1 h) and the market, with LP liquidity.
abstract contract MarketBase is Test {
    bytes32 internal constant ETH = bytes32("ETH");
    bytes32 internal constant BTC = bytes32("BTC");
    uint256 internal constant MAX_AGE = 3600;

    address internal governance = makeAddr("governance");
    address internal lp = makeAddr("lp");

    MockERC20 internal token;
    MockAggregator internal ethFeed;
    MockAggregator internal btcFeed;
    ChainlinkOracleAdapter internal oracle;
    PerpMarket internal market;
    uint256 internal unit; // one collateral token in token units

    function _collateralDecimals() internal pure virtual returns (uint8);

    function _deployMarket() internal {
        vm.warp(1_700_000_000);
        uint8 decimals = _collateralDecimals();
        unit = 10 ** decimals;
        token = new MockERC20("Mock USD", "mUSD", decimals);
        ethFeed = new MockAggregator(8, "ETH / USD", 2000e8);
        btcFeed = new MockAggregator(8, "BTC / USD", 60_000e8);
        oracle = new ChainlinkOracleAdapter(governance, address(0), 0);
        vm.startPrank(governance);
        oracle.setFeed(ETH, address(ethFeed), MAX_AGE);
        oracle.setFeed(BTC, address(btcFeed), MAX_AGE);
        market = new PerpMarket(
            token,
            IPriceOracle(address(oracle)),
            governance,
            IPerpMarket.RiskParams({
                liquidationFeeRatio: 0.002e18,
                insuranceFeeShare: 0.2e18,
                lpReserveRatio: 0.1e18,
                minKeeperFee: 2e18,
                maxKeeperFee: 1000e18
            })
        );
        market.listAsset(_assetConfig(ETH, 1_000_000e18, 100_000e18));
        market.listAsset(_assetConfig(BTC, 50_000e18, 5_000e18));
        vm.stopPrank();
        _seedLiquidity(lp, 10_000_000 * unit);
    }

    function _assetConfig(bytes32 key, uint128 skewScale, uint128 maxOi)
        internal
        pure
        returns (IPerpMarket.AssetConfig memory)
    {
        return IPerpMarket.AssetConfig({
            oracleKey: key,
            skewScale: skewScale,
            maxOpenInterest: maxOi,
            initialMarginRatio: 0.04e18,
            maintenanceMarginRatio: 0.02e18,
            tradingFee: 0.0005e18,
            maxFundingRate: 0.05e18
        });
    }

    function _seedLiquidity(address who, uint256 amount) internal {
        token.mint(who, amount);
        vm.startPrank(who);
        token.approve(address(market), type(uint256).max);
        market.depositLiquidity(amount, 0);
        vm.stopPrank();
    }
}
