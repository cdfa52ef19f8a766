"""Gas scenarios of ScalingVault for a bench script: each function runs one scenario on a deployed stack and
returns the gas of the measured transaction (receipt.gas_used, so including the 21,000 base and calldata) or,
for the lens, the gas of the eth_call as estimated by the node.

Usage (inside `ape run` / `ape test`, chain state is left changed; isolate with chain.isolate() if needed):

    sys.path.insert(0, "tests")  # a site-packages "tests" package shadows the repo's namespace package
    from vault.gas_cases import VaultEnv, ALL_CASES
    env = VaultEnv.from_stack(project, chain, stack, governance, keeper)
    for name, case in ALL_CASES.items():
        print(name, case(env, depositor, depositor2))
"""

from __future__ import annotations

from typing import Any, Callable

from .helpers import WAD, VaultEnv, default_params


def _levered_vault(env: VaultEnv, depositor: Any, weights: dict[str, float], **params: int) -> Any:
    env.sync_prices()
    vault = env.deploy_vault(weights=weights, params=default_params(env.decimals, **params))
    env.deposit(vault, depositor, env.units(100_000))
    env.rebalance_to_target(vault)
    return vault


def _recenter(env: VaultEnv, vault: Any, symbols: list[str]) -> Any:
    """Move prices so leverage leaves the band, then rebalance `symbols` back (measured)."""
    env.warp(600)
    for sym in env.prices:
        env.set_price(sym, env.prices[sym] * 88 // 100)  # -12%: 2x -> ~2.6x (above 2.3)
    action, reason, sizes = env.plan(vault)
    assert action == "REBALANCE", (action, reason)
    ids = [int(i) for i in vault.assetIds()]
    keep = {env.asset_id(s) for s in symbols}
    adjustments = [(ids[i], s, 0) for i, s in enumerate(sizes) if s != 0 and ids[i] in keep]
    return vault.rebalance(adjustments, sender=env.keeper)


def rebalance_one_asset(env: VaultEnv, depositor: Any, _: Any = None) -> int:
    """The gas goal: a one-asset vault (ETH) whose keeper adjusts the existing position."""
    vault = _levered_vault(env, depositor, {"ETH": 1.0})
    return int(_recenter(env, vault, ["ETH"]).gas_used)


def rebalance_one_of_two_assets(env: VaultEnv, depositor: Any, _: Any = None) -> int:
    """ETH+BTC vault, the keeper adjusts only ETH (the BTC price must still be read for leverage)."""
    vault = _levered_vault(env, depositor, {"ETH": 0.6, "BTC": 0.4})
    return int(_recenter(env, vault, ["ETH"]).gas_used)


def rebalance_two_assets(env: VaultEnv, depositor: Any, _: Any = None) -> int:
    vault = _levered_vault(env, depositor, {"ETH": 0.6, "BTC": 0.4})
    return int(_recenter(env, vault, ["ETH", "BTC"]).gas_used)


def first_rebalance_two_assets(env: VaultEnv, depositor: Any, _: Any = None) -> int:
    """Opening both positions of a fresh vault (cold position slots)."""
    env.sync_prices()
    vault = env.deploy_vault()
    env.deposit(vault, depositor, env.units(100_000))
    return int(env.rebalance_to_target(vault).gas_used)


def iterate(env: VaultEnv, depositor: Any, _: Any = None) -> int:
    """A chunked lever-up (maxTradeNotional 50,000) and its first iterate()."""
    env.sync_prices()
    vault = env.deploy_vault(params=default_params(env.decimals, maxTradeNotional=50_000 * WAD))
    env.deposit(vault, depositor, env.units(100_000))
    env.rebalance_to_target(vault)
    env.warp(300)
    return int(vault.iterate(sender=env.keeper).gas_used)


def ripcord(env: VaultEnv, depositor: Any, caller: Any) -> int:
    """A crash (-25% on both assets: 2x -> 2.86x) with no keeper; `caller` pulls the ripcord for the reward."""
    vault = _levered_vault(env, depositor, {"ETH": 0.6, "BTC": 0.4})
    env.warp(600)
    for sym in env.prices:
        env.set_price(sym, env.prices[sym] * 75 // 100)
    return int(vault.ripcord(sender=caller).gas_used)


def deposit(env: VaultEnv, depositor: Any, depositor2: Any) -> int:
    """A second depositor into a vault with open positions."""
    vault = _levered_vault(env, depositor, {"ETH": 0.6, "BTC": 0.4})
    env.fund(depositor2, env.units(10_000), vault)
    return int(vault.deposit(env.units(10_000), depositor2, sender=depositor2).gas_used)


def redeem_with_positions(env: VaultEnv, depositor: Any, _: Any = None) -> int:
    """Redeem a quarter of the shares: closes a quarter of both positions, pays the rest net of costs."""
    vault = _levered_vault(env, depositor, {"ETH": 0.6, "BTC": 0.4})
    shares = int(vault.balanceOf(depositor)) // 4
    return int(vault.redeem(shares, depositor, depositor, sender=depositor).gas_used)


def withdraw_with_positions(env: VaultEnv, depositor: Any, _: Any = None) -> int:
    vault = _levered_vault(env, depositor, {"ETH": 0.6, "BTC": 0.4})
    return int(vault.withdraw(env.units(20_000), depositor, depositor, sender=depositor).gas_used)


def lens_gas(env: VaultEnv, depositor: Any, counts: tuple[int, ...] = (1, 10, 100)) -> dict[int, int]:
    """eth_call gas of VaultLens.getVaults for 1, 10 and 100 distinct levered ETH+BTC vaults (one module)."""
    env.sync_prices()
    lens = env.project.VaultLens.deploy(sender=env.governance)
    module = env.deploy_module(["ETH", "BTC"])
    vaults: list[Any] = []
    out: dict[int, int] = {}
    for n in sorted(counts):
        while len(vaults) < n:
            v = env.deploy_vault(module=module)
            env.deposit(v, depositor, env.units(10_000))
            env.rebalance_to_target(v)
            vaults.append(v)
        out[n] = int(lens.getVaults.estimate_gas_cost([v.address for v in vaults[:n]], sender=env.governance))
    return out


ALL_CASES: dict[str, Callable[..., int]] = {
    "rebalance_one_asset": rebalance_one_asset,
    "rebalance_one_of_two_assets": rebalance_one_of_two_assets,
    "rebalance_two_assets": rebalance_two_assets,
    "first_rebalance_two_assets": first_rebalance_two_assets,
    "iterate": iterate,
    "ripcord": ripcord,
    "deposit": deposit,
    "redeem_with_positions": redeem_with_positions,
    "withdraw_with_positions": withdraw_with_positions,
}
