// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IPerpMarket} from "../interfaces/IPerpMarket.sol";
import {ScalingVaultBase} from "./ScalingVaultBase.sol";
import {ScalingVaultCore} from "./ScalingVaultCore.sol";
import {ScalingVaultModule} from "./ScalingVaultModule.sol";
import {PerpMarketVenue} from "./venue/PerpMarketVenue.sol";

/// @title ScalingVault
/// @notice The scaling vault on scalevault's PerpMarket: the rules (ScalingVaultCore + ScalingVaultModule) with
///         the PerpMarketVenue hooks. See IScalingVault for the API and docs/VAULT.md for the design.
contract ScalingVault is ScalingVaultCore, PerpMarketVenue {
    /// @param market the PerpMarket; the vault's asset is its collateral token
    /// @param admin receives DEFAULT_ADMIN_ROLE, MANAGER_ROLE and GUARDIAN_ROLE (grant KEEPER_ROLE separately)
    /// @param assets 1 to 4 market assets with signed weights (sum |w| = 1e18) and notional caps
    /// @param p the policy, validated like setParams
    /// @param module_ a ScalingVaultPerpModule deployed for the same market and asset ids (checked here)
    constructor(
        IPerpMarket market,
        string memory name_,
        string memory symbol_,
        address admin,
        AssetParams[] memory assets,
        Params memory p,
        ScalingVaultPerpModule module_
    )
        ScalingVaultBase(IERC20(market.collateralToken()), name_, symbol_)
        ScalingVaultCore(admin, address(module_))
        PerpMarketVenue(market, _ids(assets))
    {
        bool sameIds = keccak256(abi.encode(module_.assetIds())) == keccak256(abi.encode(_ids(assets)));
        if (module_.venue() != address(market) || !sameIds) revert ModuleMismatch(address(module_));
        _initialize(assets, p);
    }

    function _ids(AssetParams[] memory assets) private pure returns (uint256[] memory ids) {
        ids = new uint256[](assets.length);
        for (uint256 i; i < assets.length; ++i) {
            ids[i] = assets[i].assetId;
        }
    }
}

/// @title ScalingVaultPerpModule
/// @notice ScalingVault's module: ScalingVaultModule with the same PerpMarketVenue immutables as its vault
///         (deploy one per market + asset list and pass it to the vault, which checks the match). Its code runs only
///         by DELEGATECALL from a vault; it holds nothing itself and can serve any number of vaults with the same
///         market and asset ids.
contract ScalingVaultPerpModule is ScalingVaultModule, PerpMarketVenue {
    constructor(IPerpMarket market, uint256[] memory ids)
        ScalingVaultBase(IERC20(market.collateralToken()), "", "")
        PerpMarketVenue(market, ids)
    {}
}
