def test_stack_deploys(market, token, oracle, stack, collateral_decimals):
    assert token.decimals() == collateral_decimals
    assert market.assetCount() == 2
    assert oracle.getPrice(bytes.fromhex(stack.assets["ETH"]["oracle_key"][2:])) == 2000 * 10**18
    assert market.poolAssets() == 10_000_000 * 10**collateral_decimals
