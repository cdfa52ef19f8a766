// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";

import {PerpMarket} from "../../../contracts/market/PerpMarket.sol";
import {MockAggregator} from "../../../contracts/mocks/MockAggregator.sol";
import {MockERC20} from "../../../contracts/mocks/MockERC20.sol";
import {IScalingVault} from "../../../contracts/interfaces/IScalingVault.sol";
import {ScalingVault} from "../../../contracts/vault/ScalingVault.sol";

/// @notice Drives a two-asset ScalingVault through bounded random histories: price moves and jumps, stale feeds,
///         time warps, deposits / redeems / withdraws by three actors, keeper rebalances (sizes chosen around
///         the vault's own suggestion), iterate, ripcord, pause and liquidation attempts. Records ghost
///         violations for the properties that can only be observed during a call (VLT-1, VLT-2, VLT-3).
contract VaultHandler is Test {
    ScalingVault internal vault;
    PerpMarket internal market;
    MockERC20 internal token;
    MockAggregator internal ethFeed;
    MockAggregator internal btcFeed;
    address internal keeper;
    address internal guardian;
    uint256 internal unit;

    address[3] internal actors;
    int256 internal ethAnswer = 2000e8;
    int256 internal btcAnswer = 60_000e8;
    bool public stale;

    // ghosts
    uint256 public keeperCapViolations; // VLT-1
    uint256 public fairnessViolations; // VLT-2
    uint256 public ripcordLivenessViolations; // VLT-3
    uint256 public keeperSuccesses;
    uint256 public ripcords;
    uint256 public exits;
    mapping(bytes32 => uint256) public calls;

    constructor(
        ScalingVault vault_,
        PerpMarket market_,
        MockERC20 token_,
        MockAggregator ethFeed_,
        MockAggregator btcFeed_,
        address keeper_,
        address guardian_,
        uint256 unit_
    ) {
        vault = vault_;
        market = market_;
        token = token_;
        ethFeed = ethFeed_;
        btcFeed = btcFeed_;
        keeper = keeper_;
        guardian = guardian_;
        unit = unit_;
        actors = [makeAddr("actor0"), makeAddr("actor1"), makeAddr("actor2")];
        for (uint256 i; i < 3; ++i) {
            vm.prank(actors[i]);
            token.approve(address(vault), type(uint256).max);
        }
    }

    function actor(uint256 i) external view returns (address) {
        return actors[i];
    }

    // ------------------------------------------------------------------ market and time

    function movePrice(uint256 assetSeed, uint256 bps, bool down) external {
        calls["movePrice"]++;
        bps = bound(bps, 0, 1500);
        _move(assetSeed % 2 == 0, bps, down);
    }

    /// @dev A crash or squeeze of up to 40% on both assets at once.
    function jump(uint256 bps, bool down) external {
        calls["jump"]++;
        bps = bound(bps, 1000, 4000);
        _move(true, bps, down);
        _move(false, bps, down);
    }

    function warp(uint256 secs) external {
        calls["warp"]++;
        secs = bound(secs, 1, 2 days);
        vm.warp(block.timestamp + secs);
        _refresh();
    }

    /// @dev Time passes without a feed update: every price becomes stale (max age 3600 s).
    function goStale() external {
        calls["goStale"]++;
        vm.warp(block.timestamp + 3601);
        stale = true;
    }

    function refresh() external {
        calls["refresh"]++;
        _refresh();
    }

    function liquidate() external {
        calls["liquidate"]++;
        try market.liquidate(address(vault)) {} catch {}
    }

    /// @dev Paused one time in five.
    function togglePause(uint256 seed) external {
        calls["togglePause"]++;
        vm.prank(guardian);
        if (seed % 5 == 0) vault.pause();
        else vault.unpause();
    }

    // ------------------------------------------------------------------ holders

    function deposit(uint256 actorSeed, uint256 amount) external {
        calls["deposit"]++;
        address a = actors[actorSeed % 3];
        amount = bound(amount, unit, 200_000 * unit);
        if (vault.maxDeposit(a) < amount) return;
        token.mint(a, amount);
        vm.prank(a);
        vault.deposit(amount, a);
    }

    function redeem(uint256 actorSeed, uint256 fractionBps) external {
        calls["redeem"]++;
        address a = actors[actorSeed % 3];
        uint256 shares = vault.balanceOf(a) * bound(fractionBps, 1, 10_000) / 10_000;
        if (shares == 0 || vault.maxRedeem(a) < shares) return;
        (uint256 ta0, uint256 s0) = (vault.totalAssets(), vault.totalSupply());
        vm.prank(a);
        try vault.redeem(shares, a, a) {
            exits++;
            _checkFair(ta0, s0);
        } catch {}
    }

    function withdraw(uint256 actorSeed, uint256 fractionBps) external {
        calls["withdraw"]++;
        address a = actors[actorSeed % 3];
        uint256 assets = vault.maxWithdraw(a) * bound(fractionBps, 1, 10_000) / 10_000;
        if (assets == 0) return;
        (uint256 ta0, uint256 s0) = (vault.totalAssets(), vault.totalSupply());
        vm.prank(a);
        try vault.withdraw(assets, a, a) {
            exits++;
            _checkFair(ta0, s0);
        } catch {}
    }

    // ------------------------------------------------------------------ keeper and ripcord

    /// @dev Sends the vault's suggested deltas scaled by 50%..150% (the keeper picks the size, the vault judges).
    function keeperRebalance(uint256 scalePct, uint256 waitSecs) external {
        calls["keeperRebalance"]++;
        _keeperWaits(waitSecs);
        (IScalingVault.Action action,, int256[] memory sizes) = vault.shouldRebalance();
        if (action != IScalingVault.Action.REBALANCE) return;
        scalePct = bound(scalePct, 50, 150);
        uint256[] memory ids = vault.assetIds();
        uint256 count;
        for (uint256 i; i < sizes.length; ++i) {
            sizes[i] = sizes[i] * int256(scalePct) / 100;
            if (sizes[i] != 0) ++count;
        }
        IScalingVault.Adjustment[] memory adj = new IScalingVault.Adjustment[](count);
        count = 0;
        for (uint256 i; i < sizes.length; ++i) {
            if (sizes[i] != 0) adj[count++] = IScalingVault.Adjustment(ids[i], sizes[i], 0);
        }
        if (count == 0) return;
        uint256 gross0 = vault.accountView().grossNotional;
        vm.prank(keeper);
        try vault.rebalance(adj) {
            _afterKeeper(gross0);
        } catch {}
    }

    function keeperIterate(uint256 waitSecs) external {
        calls["keeperIterate"]++;
        _keeperWaits(waitSecs);
        uint256 gross0 = vault.accountView().grossNotional;
        vm.prank(keeper);
        try vault.iterate() {
            _afterKeeper(gross0);
        } catch {}
    }

    function ripcord(uint256 waitSecs) external {
        calls["ripcord"]++;
        vm.warp(block.timestamp + bound(waitSecs, 0, 120));
        if (waitSecs % 4 != 0) _refresh();
        bool due = _ripcordDue();
        try vault.ripcord() {
            ripcords++;
        } catch {
            if (due) ripcordLivenessViolations++;
        }
    }

    // ------------------------------------------------------------------ internals

    /// @dev A real keeper waits out its cooldown and acts on a fresh price (3 times in 4).
    function _keeperWaits(uint256 waitSecs) internal {
        vm.warp(block.timestamp + bound(waitSecs, 0, 1 days + 1));
        if (waitSecs % 4 != 0) _refresh();
    }

    function _ripcordDue() internal view returns (bool) {
        IScalingVault.AccountView memory a = vault.accountView();
        IScalingVault.Params memory p = vault.params();
        IScalingVault.VaultState memory st = vault.vaultState();
        uint256 last = _max(st.lastRebalanceAt, _max(st.lastIterateAt, st.lastRipcordAt));
        uint256 threshold = a.maintenanceRequirement * (1e18 + p.ripcordMarginBuffer) / 1e18;
        return a.pricesOk && a.grossNotional != 0
            && (a.leverage >= p.ripcordLeverage || a.equity < int256(threshold))
            && block.timestamp >= last + p.ripcordCooldown;
    }

    /// @dev Only calls that traded are judged: an iterate that just ends a plan made moot by prices changes nothing.
    function _afterKeeper(uint256 gross0) internal {
        IScalingVault.AccountView memory a = vault.accountView();
        if (a.grossNotional == gross0) return;
        keeperSuccesses++;
        IScalingVault.Params memory p = vault.params();
        if (a.leverage > p.leverageCap) keeperCapViolations++;
        if (a.grossNotional > gross0 && a.leverage > p.maxLeverage + 1e15) keeperCapViolations++;
    }

    /// @dev VLT-2: the holders who stay keep at least their pro-rata share of totalAssets (2 token units of slack).
    function _checkFair(uint256 ta0, uint256 s0) internal {
        uint256 s1 = vault.totalSupply();
        uint256 ta1 = vault.totalAssets();
        uint256 owed = (ta0 + 1) * (s1 + 1e6) / (s0 + 1e6);
        if (ta1 + 3 < owed) fairnessViolations++;
    }

    function _move(bool eth, uint256 bps, bool down) internal {
        int256 answer = eth ? ethAnswer : btcAnswer;
        int256 next = down ? answer * int256(10_000 - bps) / 10_000 : answer * int256(10_000 + bps) / 10_000;
        (int256 lo, int256 hi) = eth ? (int256(200e8), int256(20_000e8)) : (int256(6000e8), int256(600_000e8));
        if (next < lo) next = lo;
        if (next > hi) next = hi;
        if (eth) ethAnswer = next;
        else btcAnswer = next;
        _refresh();
    }

    function _refresh() internal {
        ethFeed.setAnswer(ethAnswer);
        btcFeed.setAnswer(btcAnswer);
        stale = false;
    }

    function _max(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a : b;
    }
}
