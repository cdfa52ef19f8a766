"""Build the executor from the validated keeper config (the one place that maps config units to wei and bps)."""

from __future__ import annotations

from pathlib import Path

from web3 import Web3

from keeper.config import ExecutorConfig, KeeperConfig
from keeper.executor.fees import BPS, GWEI, FeeCaps, FeePolicy
from keeper.executor.journal import Journal
from keeper.executor.revert import ErrorDecoder
from keeper.executor.sender import BenignPredicate, EventListener, Executor, never_benign
from keeper.executor.signer import Signer


def fee_policy(cfg: ExecutorConfig) -> FeePolicy:
    low, mid, high = cfg.reward_percentiles
    return FeePolicy(
        caps=FeeCaps(max_fee=cfg.max_fee_wei, prio_fee=cfg.max_priority_fee_wei),
        percentiles=(low, mid, high),
        history_blocks=cfg.fee_history_blocks,
        base_fee_multiplier_min_bps=int(cfg.base_fee_multiplier_min * BPS),
        base_fee_multiplier_max_bps=int(cfg.base_fee_multiplier_max * BPS),
        min_priority_fee=int(cfg.min_priority_fee_gwei * GWEI),
    )


def build_executor(
    cfg: KeeperConfig,
    w3: Web3,
    signer: Signer,
    *,
    journal: Journal | None = None,
    is_benign: BenignPredicate = never_benign,
    decoder: ErrorDecoder | None = None,
    listener: EventListener | None = None,
) -> Executor:
    """An Executor with the config's fees, depths and dry-run flag, checked against the node's chain id."""
    return Executor(
        w3,
        signer,
        journal or Journal(Path(cfg.db)),
        fee_policy(cfg.executor),
        confirmations=cfg.executor.confirmations,
        stuck_blocks=cfg.executor.stuck_blocks,
        gas_limit_multiplier_bps=int(cfg.executor.gas_limit_multiplier * BPS),
        is_benign=is_benign,
        decoder=decoder,
        dry_run=cfg.dry_run,
        listener=listener,
        expected_chain_id=cfg.chain_id,
    )
