// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {IPerpMarket} from "../interfaces/IPerpMarket.sol";
import {IScalingVault} from "../interfaces/IScalingVault.sol";
import {IVaultLens} from "../interfaces/IVaultLens.sol";
import {VaultMath} from "./libraries/VaultMath.sol";

/// @title VaultLens
/// @notice Read-only aggregator for keepers (see IVaultLens). Stateless; every call into a vault or the venue is
///         wrapped so that one bad vault cannot make the whole call revert.
/// @dev Reads open notionals from the vault's venue as an IPerpMarket.
contract VaultLens is IVaultLens {
    uint256 internal constant WAD = 1e18;

    /// @inheritdoc IVaultLens
    function getVaults(address[] calldata vaults) external view returns (VaultView[] memory views) {
        views = new VaultView[](vaults.length);
        for (uint256 i; i < vaults.length; ++i) {
            views[i] = getVault(vaults[i]);
        }
    }

    /// @inheritdoc IVaultLens
    function getVault(address vault) public view returns (VaultView memory v) {
        v.vault = vault;
        if (vault.code.length == 0) return v;
        IScalingVault sv = IScalingVault(vault);
        uint256[] memory prices;
        uint8[] memory statuses;
        int256[] memory sizes;
        try sv.marks() returns (IScalingVault.AccountView memory a, uint256[] memory p, uint8[] memory s, int256[] memory z) {
            (v.account, prices, statuses, sizes) = (a, p, s, z);
        } catch {
            return v;
        }
        v.ok = true;
        _fillHeader(v, sv);
        _fillRisk(v);
        try sv.shouldRebalance() returns (IScalingVault.Action action, IScalingVault.Reason reason, int256[] memory sz) {
            (v.action, v.reason, v.suggestedSizes) = (action, reason, sz);
        } catch {}
        _fillPositions(v, sv, prices, statuses, sizes);
    }

    function _fillHeader(VaultView memory v, IScalingVault sv) internal view {
        v.venue = sv.venue();
        v.asset = sv.asset();
        v.totalSupply = sv.totalSupply();
        v.totalAssets = sv.totalAssets();
        v.idle = IERC20(v.asset).balanceOf(address(sv));
        v.params = sv.params();
        v.state = sv.vaultState();
    }

    function _fillRisk(VaultView memory v) internal pure {
        IScalingVault.AccountView memory a = v.account;
        if (!a.pricesOk) return;
        if (a.maintenanceRequirement == 0) {
            v.marginRatio = type(uint256).max;
        } else if (a.equity > 0) {
            v.marginRatio = Math.mulDiv(uint256(a.equity), WAD, a.maintenanceRequirement);
        }
        if (a.grossNotional == 0) {
            v.liquidationDistance = type(uint256).max;
        } else if (a.equity > int256(a.maintenanceRequirement)) {
            v.liquidationDistance = Math.mulDiv(uint256(a.equity) - a.maintenanceRequirement, WAD, a.grossNotional);
        }
    }

    function _fillPositions(
        VaultView memory v,
        IScalingVault sv,
        uint256[] memory prices,
        uint8[] memory statuses,
        int256[] memory sizes
    ) internal view {
        IScalingVault.AssetParams[] memory assets = sv.assetParams();
        int256[] memory pending = sv.pendingExposures();
        uint256 n = assets.length;
        v.positions = new PositionView[](n);
        for (uint256 i; i < n; ++i) {
            PositionView memory p = v.positions[i];
            p.assetId = assets[i].assetId;
            p.weight = assets[i].weight;
            p.notionalCap = assets[i].notionalCap;
            p.size = sizes[i];
            p.price = prices[i];
            p.priceStatus = statuses[i];
            p.pendingExposure = pending[i];
            try IPerpMarket(v.venue).position(address(sv), p.assetId) returns (IPerpMarket.Position memory pos) {
                p.openNotional = pos.openNotional;
            } catch {}
            if (p.priceStatus == 0 && p.price != 0) {
                p.notional = VaultMath.notionalUp(p.size, p.price);
                if (v.account.equity > 0) {
                    p.exposure = VaultMath.mulDivToZero(VaultMath.notionalSigned(p.size, p.price), WAD, uint256(v.account.equity));
                }
            }
        }
    }
}
