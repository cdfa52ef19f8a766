// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";

import {IPerpMarket} from "../../../contracts/interfaces/IPerpMarket.sol";
import {IPriceOracle} from "../../../contracts/interfaces/IPriceOracle.sol";
import {IScalingVault} from "../../../contracts/interfaces/IScalingVault.sol";
import {PerpMarket} from "../../../contracts/market/PerpMarket.sol";
import {ChainlinkOracleAdapter} from "../../../contracts/oracles/ChainlinkOracleAdapter.sol";
import {MockAggregator} from "../../../contracts/mocks/MockAggregator.sol";
import {MockERC20} from "../../../contracts/mocks/MockERC20.sol";
import {ScalingVault, ScalingVaultPerpModule} from "../../../contracts/vault/ScalingVault.sol";
import {VaultLens} from "../../../contracts/vault/VaultLens.sol";

/// @notice Market + oracle + a two-asset ScalingVault (ETH long 60%, BTC long 40%; target 2x, band 1.7-2.3,
///         ripcord 2.7x, cap 3x), shared by the vault's Foundry suites.
abstract contract VaultFixture is Test {
    bytes32 internal constant ETH = "ETH";
    bytes32 internal constant BTC = "BTC";
    uint256 internal constant START = 1_700_000_000;

    address internal admin = makeAddr("governance");
    address internal keeper = makeAddr("keeper");
    address internal lp = makeAddr("lp");

    MockERC20 internal token;
    MockAggregator internal ethFeed;
    MockAggregator internal btcFeed;
    ChainlinkOracleAdapter internal oracle;
    PerpMarket internal market;
    ScalingVault internal vault;
    ScalingVaultPerpModule internal module_;
    VaultLens internal lens;
    uint256 internal ethId;
    uint256 internal btcId;
    uint256 internal unit; // one collateral token

    function _deployStack(uint8 decimals) internal {
        vm.warp(START);
        unit = 10 ** decimals;
        token = new MockERC20("Mock USD", "mUSD", decimals);
        ethFeed = new MockAggregator(8, "ETH / USD", 2000e8);
        btcFeed = new MockAggregator(8, "BTC / USD", 60_000e8);
        oracle = new ChainlinkOracleAdapter(admin, address(0), 0);
        vm.startPrank(admin);
        oracle.setFeed(ETH, address(ethFeed), 3600);
        oracle.setFeed(BTC, address(btcFeed), 3600);
        market = new PerpMarket(
            token,
            IPriceOracle(address(oracle)),
            admin,
            IPerpMarket.RiskParams({
                liquidationFeeRatio: 0.002e18,
                insuranceFeeShare: 0.2e18,
                lpReserveRatio: 0.1e18,
                minKeeperFee: 2e18,
                maxKeeperFee: 1000e18
            })
        );
        ethId = market.listAsset(_assetConfig(ETH, 1_000_000e18, 100_000e18));
        btcId = market.listAsset(_assetConfig(BTC, 50_000e18, 5_000e18));
        vm.stopPrank();

        token.mint(lp, 10_000_000 * unit);
        vm.startPrank(lp);
        token.approve(address(market), type(uint256).max);
        market.depositLiquidity(10_000_000 * unit, 0);
        vm.stopPrank();

        IScalingVault.AssetParams[] memory assets = new IScalingVault.AssetParams[](2);
        assets[0] = IScalingVault.AssetParams({assetId: ethId, weight: 0.6e18, notionalCap: 50_000_000e18});
        assets[1] = IScalingVault.AssetParams({assetId: btcId, weight: 0.4e18, notionalCap: 50_000_000e18});
        uint256[] memory ids = new uint256[](2);
        (ids[0], ids[1]) = (ethId, btcId);
        module_ = new ScalingVaultPerpModule(market, ids);
        vault = new ScalingVault(market, "Scaled ETH/BTC 2x", "sv2x", admin, assets, defaultParams(), module_);
        lens = new VaultLens();
        bytes32 keeperRole = vault.KEEPER_ROLE();
        vm.prank(admin);
        vault.grantRole(keeperRole, keeper);
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

    function defaultParams() internal pure returns (IScalingVault.Params memory) {
        return IScalingVault.Params({
            minLeverage: 1.7e18,
            targetLeverage: 2e18,
            maxLeverage: 2.3e18,
            leverageCap: 3e18,
            tolerance: 0.05e18,
            minImprovement: 0.05e18,
            maxSlippage: 0.01e18,
            rebalanceInterval: 1 days,
            chunkCooldown: 5 minutes,
            maxTradeNotional: 500_000e18,
            ripcordLeverage: 2.7e18,
            ripcordSlippage: 0.05e18,
            ripcordCooldown: 1 minutes,
            ripcordMaxTradeNotional: 1_000_000e18,
            ripcordReward: 10e6,
            ripcordMarginBuffer: 0.5e18
        });
    }

    function _deposit(address who, uint256 amount) internal returns (uint256 shares) {
        token.mint(who, amount);
        vm.startPrank(who);
        token.approve(address(vault), amount);
        shares = vault.deposit(amount, who);
        vm.stopPrank();
    }

    function _setPrices(uint256 ethPrice, uint256 btcPrice) internal {
        ethFeed.setAnswer(int256(ethPrice * 1e8 / 1e18));
        btcFeed.setAnswer(int256(btcPrice * 1e8 / 1e18));
    }

    /// @dev Rebalance toward the policy target exactly as shouldRebalance suggests.
    function _keeperRebalance() internal {
        (IScalingVault.Action action,, int256[] memory sizes) = vault.shouldRebalance();
        require(action == IScalingVault.Action.REBALANCE, "not a rebalance");
        uint256[] memory ids = vault.assetIds();
        uint256 count;
        for (uint256 i; i < sizes.length; ++i) {
            if (sizes[i] != 0) ++count;
        }
        IScalingVault.Adjustment[] memory adj = new IScalingVault.Adjustment[](count);
        count = 0;
        for (uint256 i; i < sizes.length; ++i) {
            if (sizes[i] != 0) adj[count++] = IScalingVault.Adjustment(ids[i], sizes[i], 0);
        }
        vm.prank(keeper);
        vault.rebalance(adj);
    }

    function _leverage() internal view returns (uint256) {
        return vault.accountView().leverage;
    }
}
