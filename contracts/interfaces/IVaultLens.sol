// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IScalingVault} from "./IScalingVault.sol";

/// @title IVaultLens
/// @notice Everything a keeper needs about any number of ScalingVaults in one eth_call per block.
/// @dev Never reverts because of a vault's price state: a vault with a stale or broken price is reported with
///      account.pricesOk = false, per-position price statuses and action NONE / PRICE_UNAVAILABLE. A vault that
///      does not answer at all (wrong address) is reported with ok = false. Units as in IScalingVault (WAD;
///      totalAssets and idle in collateral token units).
interface IVaultLens {
    struct PositionView {
        uint256 assetId; // venue asset id
        int256 weight; // WAD, signed target weight
        uint256 notionalCap; // WAD
        int256 size; // WAD, signed
        int256 openNotional; // WAD cost basis (entry price = openNotional / size)
        uint256 price; // WAD oracle price, 0 when unusable
        uint8 priceStatus; // 0 = usable, else IPriceOracle.PriceStatus
        uint256 notional; // WAD |size| * price, rounded up (0 when the price is unusable)
        int256 exposure; // WAD signed notional / equity (0 when equity <= 0 or price unusable)
        int256 pendingExposure; // WAD remaining chunk target (0 when none)
    }

    struct VaultView {
        address vault;
        bool ok; // false: the address did not answer as a ScalingVault
        address venue;
        address asset;
        uint256 totalSupply;
        uint256 totalAssets; // token units (last good equity + idle when prices are unusable)
        uint256 idle; // token units held by the vault itself
        IScalingVault.AccountView account; // pricesOk, equity, grossNotional, maintenanceRequirement, leverage
        uint256 marginRatio; // WAD equity / maintenance requirement (max without positions, 0 when insolvent)
        uint256 liquidationDistance; // WAD fraction: uniform adverse price move that brings equity to maintenance
        IScalingVault.Params params;
        IScalingVault.VaultState state; // last rebalance/iterate/ripcord timestamps, pending chunk masks, pause
        IScalingVault.Action action; // shouldRebalance
        IScalingVault.Reason reason;
        int256[] suggestedSizes; // indexed like positions
        PositionView[] positions;
    }

    function getVaults(address[] calldata vaults) external view returns (VaultView[] memory views);

    function getVault(address vault) external view returns (VaultView memory);
}
