// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {StdInvariant} from "forge-std/StdInvariant.sol";
import {console2} from "forge-std/console2.sol";

import {IScalingVault} from "../../../contracts/interfaces/IScalingVault.sol";
import {VaultFixture} from "./VaultFixture.sol";
import {VaultHandler} from "./VaultHandler.sol";

/// @notice Invariants of ScalingVault (IDs as in docs/VAULT.md, "Invariants"; the IDs are the assertion messages):
///   VLT-1 no successful keeper call (rebalance / iterate) ends above leverageCap, nor above maxLeverage when it
///         increased gross notional.
///   VLT-2 an exit (redeem / withdraw) never lowers the staying holders' pro-rata totalAssets (2 units of slack).
///   VLT-3 ripcord succeeds whenever it is due (threshold crossed, prices fresh, cooldown elapsed).
///   VLT-4 with usable prices, totalAssets == max(venue equity, 0) / scale + idle collateral.
///   VLT-5 with usable prices every holder can redeem all of its shares.
///   VLT-6 the venue account never holds a position against an asset's weight sign beyond what price-free
///         transitions allow (weights are fixed here: ETH and BTC long only).
contract VaultInvariantsTest is StdInvariant, VaultFixture {
    VaultHandler internal handler;

    function setUp() public {
        _deployStack(6);
        handler = new VaultHandler(vault, market, token, ethFeed, btcFeed, keeper, admin, unit);
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](14);
        selectors[0] = VaultHandler.movePrice.selector;
        selectors[1] = VaultHandler.jump.selector;
        selectors[2] = VaultHandler.warp.selector;
        selectors[3] = VaultHandler.goStale.selector;
        selectors[4] = VaultHandler.refresh.selector;
        selectors[5] = VaultHandler.liquidate.selector;
        selectors[6] = VaultHandler.togglePause.selector;
        selectors[7] = VaultHandler.deposit.selector;
        selectors[8] = VaultHandler.redeem.selector;
        selectors[9] = VaultHandler.withdraw.selector;
        selectors[10] = VaultHandler.keeperRebalance.selector;
        selectors[11] = VaultHandler.keeperIterate.selector;
        selectors[12] = VaultHandler.ripcord.selector;
        selectors[13] = VaultHandler.deposit.selector; // deposits twice as likely
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    function invariant_VLT1_keeperCallsRespectCap() public view {
        assertEq(handler.keeperCapViolations(), 0, "VLT-1");
    }

    function invariant_VLT2_exitsAreFair() public view {
        assertEq(handler.fairnessViolations(), 0, "VLT-2");
    }

    function invariant_VLT3_ripcordLiveness() public view {
        assertEq(handler.ripcordLivenessViolations(), 0, "VLT-3");
    }

    function invariant_VLT4_totalAssetsIsEquityPlusIdle() public view {
        IScalingVault.AccountView memory a = vault.accountView();
        if (!a.pricesOk) return;
        uint256 equityTokens = a.equity > 0 ? uint256(a.equity) / 1e12 : 0;
        assertEq(vault.totalAssets(), equityTokens + token.balanceOf(address(vault)), "VLT-4");
    }

    function invariant_VLT5_everyoneCanExitFully() public {
        if (!vault.accountView().pricesOk) return;
        for (uint256 i; i < 3; ++i) {
            address a = handler.actor(i);
            uint256 shares = vault.balanceOf(a);
            if (shares == 0) continue;
            uint256 snap = vm.snapshot();
            vm.prank(a);
            (bool ok,) = address(vault).call(abi.encodeCall(vault.redeem, (shares, a, a)));
            assertTrue(ok, "VLT-5");
            vm.revertTo(snap);
        }
    }

    function invariant_VLT6_directionsFollowWeights() public view {
        assertGe(market.position(address(vault), ethId).size, 0, "VLT-6");
        assertGe(market.position(address(vault), btcId).size, 0, "VLT-6");
    }

    /// @dev Coverage of a run (not an assertion): shown with -vv.
    function afterInvariant() public view {
        console2.log("keeper trades", handler.keeperSuccesses(), "ripcords", handler.ripcords());
        console2.log("exits", handler.exits());
    }
}
