// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {StdInvariant} from "forge-std/StdInvariant.sol";
import {console} from "forge-std/console.sol";

import {IPerpMarket} from "../../../contracts/interfaces/IPerpMarket.sol";
import {MarketBase} from "./MarketBase.sol";
import {MarketHandler} from "./MarketHandler.sol";

/// @notice Market invariants; IDs and statements in docs/INVARIANTS.md. Run for 6- and 18-decimal collateral.
abstract contract PerpMarketInvariants is StdInvariant, MarketBase {
    MarketHandler internal handler;

    function setUp() public {
        _deployMarket();
        handler = new MarketHandler(market, oracle, token, ethFeed, btcFeed, ETH, BTC);
        targetContract(address(handler));
    }

    /// @dev Shows what a run exercised (forge test -vv).
    function afterInvariant() public view {
        console.log("trades ok", handler.tradesOk(), "reduces ok", handler.reducesOk());
        console.log("liquidations", handler.liquidationsOk(), "bad debt", market.totalBadDebt());
    }

    /// MKT-1: token.balanceOf(market) == sum(collateral) + pool + insurance, bad debt included.
    function invariant_MKT1_accountingIdentity() public view {
        int256 sum = market.poolAssets() + int256(market.insuranceFund());
        for (uint256 i; i < handler.actorCount(); ++i) {
            sum += market.collateralOf(handler.actors(i));
        }
        assertEq(int256(token.balanceOf(address(market))), sum, "MKT-1 accounting identity");
    }

    /// MKT-2: only unhealthy accounts are liquidated; a liquidated account ends with no positions; an
    ///        unhealthy account with fresh prices can always be liquidated.
    function invariant_MKT2_liquidationOnlyOfUnhealthy() public view {
        assertEq(handler.liquidatedHealthy(), 0, "MKT-2 healthy account liquidated");
        assertEq(handler.liquidationLeftOpen(), 0, "MKT-2 liquidation left positions open");
        assertEq(handler.unhealthyNotLiquidatable(), 0, "MKT-2 unhealthy account not liquidatable");
    }

    /// MKT-3: a reduce-only trade at a fresh price never reverts for margin reasons.
    function invariant_MKT3_reduceOnlyAlwaysAllowed() public view {
        assertEq(handler.reduceOnlyMarginReverts(), 0, "MKT-3 reduce-only trade reverted at a fresh price");
    }

    /// MKT-4: a stale or non-positive price blocks every risk-increasing action.
    function invariant_MKT4_badPriceBlocksRiskIncrease() public view {
        assertEq(handler.riskIncreaseOnBadPrice(), 0, "MKT-4 risk-increasing trade on a bad price");
    }

    /// MKT-5: open interest and the open-notional aggregate equal the sums over positions.
    function invariant_MKT5_aggregatesMatchPositions() public view {
        for (uint256 assetId; assetId < 2; ++assetId) {
            uint256 longs;
            uint256 shorts;
            int256 notional;
            for (uint256 i; i < handler.actorCount(); ++i) {
                IPerpMarket.Position memory p = market.position(handler.actors(i), assetId);
                if (p.size > 0) longs += uint256(int256(p.size));
                else shorts += uint256(-int256(p.size));
                notional += p.openNotional;
            }
            IPerpMarket.AssetState memory st = market.assetState(assetId);
            assertEq(st.longOpenInterest, longs, "MKT-5 long open interest");
            assertEq(st.shortOpenInterest, shorts, "MKT-5 short open interest");
            assertEq(st.sumOpenNotional, notional, "MKT-5 open notional sum");
        }
    }

    /// MKT-6: LP shares add up; the pool never pays out more than it holds (pool assets >= 0 while no bad
    ///        debt exceeded insurance).
    function invariant_MKT6_lpSharesAddUp() public view {
        uint256 sum = market.lpShares(lp);
        for (uint256 i; i < handler.lpCount(); ++i) {
            sum += market.lpShares(handler.lps(i));
        }
        assertEq(market.totalLpShares(), sum, "MKT-6 LP shares sum");
    }
}

contract PerpMarketInvariants6 is PerpMarketInvariants {
    function _collateralDecimals() internal pure override returns (uint8) {
        return 6;
    }
}

contract PerpMarketInvariants18 is PerpMarketInvariants {
    function _collateralDecimals() internal pure override returns (uint8) {
        return 18;
    }
}
