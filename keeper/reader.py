"""Chain reads of the keeper loop: one VaultLens.getVaults eth_call per block for every configured vault, pinned
to that block, decoded into a Snapshot; venue state for the exact rules; price history for the estimators.

Per new block n (see docs/KEEPER.md for the RPC budget):
    eth_getBlockByNumber(n)             hash and timestamp (the rules compare timestamps)
    eth_call getVaults(vaults) @ hash   all vaults at once; split into calls of at most `max_vaults_per_call`
                                        (default 100: ~190k gas per vault, so 100 vaults fit a 30M eth_call cap);
                                        a call that runs out of gas is split in half and retried
Every call of one block is pinned to the block's hash (EIP-1898), so chunks can never mix two blocks, even across
a reorg (a reorged-out hash fails the read). Each RPC is retried `retries` times with exponential backoff on
transport errors, timeouts and node errors; then the block is skipped (`BlockSkipped`): the caller never sees
partial data.

`read_market` (only on blocks where some vault may act) reads the venue's asset configs and states, pause flag,
keeper-fee terms and collateral decimals at the same block hash; configs and decimals are cached.

`PriceHistory` (keeper.snapshot) keeps, per asset id, a fixed-size ring buffer of (block, timestamp, price) appended once per
processed block (idempotent: a block at or below the last one is ignored); `StateStore` persists it with the last
processed block in the executor's SQLite file (own tables `core_state`, `core_prices`), so a restart resumes
without re-reading history from the chain.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, Web3Exception, Web3RPCError
from web3.types import RPCEndpoint

from keeper.chain import lens as L
from keeper.snapshot import BlockRef, MarketAsset, MarketInfo, PriceHistory, Snapshot, VaultRecord, build_snapshot


class ReadError(Exception):
    """A chain read failed for good (after retries); the message is one line naming the call and the block."""


class BlockSkipped(ReadError):
    """The block could not be read completely: the keeper does not act on it."""


class NodeError(Exception):
    """The node answered with a JSON-RPC error (retried like a transport error)."""


TRANSIENT = (
    requests.exceptions.RequestException,
    ConnectionError,
    TimeoutError,
    OSError,
    TimeExhausted,
    Web3RPCError,
    Web3Exception,
    NodeError,
    ValueError,  # web3 raises ValueError for some malformed / error answers
)


@dataclass(frozen=True)
class ReaderSettings:
    retries: int = 3  # extra attempts after the first
    backoff_seconds: float = 0.05  # first wait; doubled after each failure
    max_vaults_per_call: int = 100
    market_config_refresh_blocks: int = 300


def _is_out_of_gas(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "out of gas" in text or "gas required exceeds" in text or "outofgas" in text


class ChainReader:
    """Reads the configured vaults through the lens at one block."""

    def __init__(
        self,
        w3: Web3,
        lens: str,
        vaults: Sequence[str],
        settings: ReaderSettings = ReaderSettings(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not vaults:
            raise ValueError("reader: no vaults configured")
        self._w3 = w3
        self.lens = to_checksum_address(lens)
        self.vaults = tuple(to_checksum_address(v) for v in vaults)
        self.settings = settings
        self._sleep = sleep
        self._chunk = max(1, settings.max_vaults_per_call)
        self._configs: dict[tuple[str, int], bytes] = {}
        self._config_block: dict[str, int] = {}
        self._scales: dict[str, int] = {}
        self._risk: dict[str, tuple[int, int, int]] = {}

    # -- retrying RPC -----------------------------------------------------------------------------------------

    def _retry(self, what: str, fn: Callable[[], Any]) -> Any:
        delay = self.settings.backoff_seconds
        last: BaseException | None = None
        for attempt in range(self.settings.retries + 1):
            try:
                return fn()
            except ContractLogicError:
                raise
            except TRANSIENT as exc:
                if _is_out_of_gas(exc):
                    raise
                last = exc
                if attempt < self.settings.retries:
                    self._sleep(delay)
                    delay *= 2
        assert last is not None
        raise ReadError(f"{what}: failed after {self.settings.retries + 1} attempts: {type(last).__name__}: {_short(last)}")

    def head(self) -> int:
        """eth_blockNumber (retried)."""
        return int(self._retry("eth_blockNumber", lambda: self._w3.eth.block_number))

    def block(self, number: int) -> BlockRef:
        def get() -> BlockRef:
            b = self._w3.eth.get_block(number)
            return BlockRef(int(b["number"]), "0x" + bytes(b["hash"]).hex(), int(b["timestamp"]))

        return self._retry(f"eth_getBlockByNumber({number})", get)  # type: ignore[no-any-return]

    def _call(self, to: str, data: bytes, block: BlockRef, what: str) -> bytes:
        """eth_call pinned to the block hash, straight to the provider (web3's validation middleware would add two
        eth_chainId requests per call)."""

        def call() -> bytes:
            params = [{"to": to, "data": "0x" + data.hex()}, {"blockHash": block.hash}]
            response = self._w3.provider.make_request(RPCEndpoint("eth_call"), params)
            error = response.get("error")
            if error:
                message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
                if "revert" in message.lower():
                    raise ContractLogicError(message, data=error.get("data") if isinstance(error, dict) else None)
                raise NodeError(f"eth_call: {message}")
            raw = response.get("result")
            if not isinstance(raw, str):
                raise NodeError(f"eth_call: unexpected result {raw!r}")
            return bytes(Web3.to_bytes(hexstr=HexStr(raw)))

        return self._retry(f"{what} at block {block.number}", call)  # type: ignore[no-any-return]

    # -- vaults ---------------------------------------------------------------------------------------------------

    def read_vaults(self, block: BlockRef) -> list[VaultRecord]:
        """Every configured vault at `block`, in configuration order, or ReadError (never a partial list)."""
        out: list[VaultRecord] = []
        start = 0
        while start < len(self.vaults):
            part = self.vaults[start : start + self._chunk]
            try:
                raw = self._call(self.lens, L.encode_get_vaults(part), block, f"getVaults({len(part)} vaults)")
            except ContractLogicError as exc:
                raise ReadError(f"getVaults at block {block.number}: lens {self.lens} reverted: {_short(exc)}") from None
            except TRANSIENT as exc:
                if _is_out_of_gas(exc) and len(part) > 1:
                    self._chunk = max(1, len(part) // 2)
                    continue
                raise ReadError(f"getVaults at block {block.number}: {type(exc).__name__}: {_short(exc)}") from None
            try:
                records = L.decode_vaults(raw)
            except L.LensDecodeError as exc:
                raise ReadError(f"getVaults at block {block.number}: {exc} (is {self.lens} a VaultLens?)") from None
            if len(records) != len(part):
                raise ReadError(f"getVaults at block {block.number}: {len(records)} answers for {len(part)} vaults")
            out.extend(records)
            start += len(part)
        return out

    def read(self, number: int) -> Snapshot:
        """Header + vaults at block `number`; BlockSkipped when any part failed after its retries."""
        try:
            block = self.block(number)
            return build_snapshot(block, self.read_vaults(block))
        except ReadError as exc:
            raise BlockSkipped(f"block {number} skipped: {exc}") from None

    # -- venue ----------------------------------------------------------------------------------------------------

    def read_market(self, snap: Snapshot, vault_indices: Iterable[int]) -> MarketInfo:
        """Venue state for the vaults at `vault_indices` at the snapshot's block (one venue per call site; vaults on
        several venues are supported as long as they share the asset ids' venue)."""
        block = snap.block
        venues: dict[str, set[int]] = {}
        token_of: dict[str, str] = {}
        for i in vault_indices:
            r = snap.records[i]
            venues.setdefault(r.venue, set()).update(r.asset_ids)
            token_of[r.venue] = r.asset
        if len(venues) > 1:
            raise ReadError(f"read_market: vaults on {len(venues)} venues in one call")
        if not venues:
            return MarketInfo(assets={})
        venue, ids = next(iter(venues.items()))
        refresh = block.number - self._config_block.get(venue, -10**9) >= self.settings.market_config_refresh_blocks
        if refresh:
            self._configs = {k: v for k, v in self._configs.items() if k[0] != venue}
            self._config_block[venue] = block.number
        assets: dict[int, MarketAsset] = {}
        for asset_id in sorted(ids):
            key = (venue, asset_id)
            if key not in self._configs:
                self._configs[key] = self._call(venue, L.encode_uint_call("assetConfig", asset_id), block, f"assetConfig({asset_id})")
            state = self._call(venue, L.encode_uint_call("assetState", asset_id), block, f"assetState({asset_id})")
            assets[asset_id] = L.decode_market_asset(asset_id, self._configs[key], state)
        paused = bool(int.from_bytes(self._call(venue, L.encode_plain_call("paused"), block, "paused()")[-32:], "big"))
        if refresh or venue not in self._risk:
            self._risk[venue] = L.decode_risk_params(self._call(venue, L.encode_plain_call("riskParams"), block, "riskParams()"))
        if venue not in self._scales:
            token = token_of[venue]
            raw = self._call(token, L.encode_plain_call("decimals"), block, "decimals()")
            self._scales[venue] = 10 ** (18 - int.from_bytes(raw[-32:], "big"))
        lfr, kmin, kmax = self._risk[venue]
        return MarketInfo(
            assets=assets, paused=paused, liquidation_fee_ratio=lfr, min_keeper_fee=kmin, max_keeper_fee=kmax,
            token_scale=self._scales[venue],
        )


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:240] + ("..." if len(text) > 240 else "")


# --- persistence ---------------------------------------------------------------------------------------------------


class StateStore:
    """Last processed block and the price history, in tables of their own in the executor's SQLite file."""

    _SCHEMA = """
    CREATE TABLE IF NOT EXISTS core_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS core_prices (
        asset_id INTEGER NOT NULL, block INTEGER NOT NULL, ts REAL NOT NULL, price REAL NOT NULL,
        PRIMARY KEY (asset_id, block)
    );
    """

    def __init__(self, path: str | Path, capacity: int = 4096) -> None:
        self.path = Path(path)
        self.capacity = capacity
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(self._SCHEMA)

    def close(self) -> None:
        self._db.close()

    def last_block(self) -> int | None:
        row = self._db.execute("SELECT value FROM core_state WHERE key = 'last_block'").fetchone()
        return None if row is None else int(row[0])

    def get(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM core_state WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO core_state (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def commit_block(self, block: int, timestamp: float, prices: dict[int, float]) -> None:
        """Atomically: append the block's prices (trimming each asset to the capacity) and move last_block."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO core_prices (asset_id, block, ts, price) VALUES (?, ?, ?, ?)",
                [(a, block, timestamp, p) for a, p in prices.items()],
            )
            for a in prices:
                db.execute(
                    "DELETE FROM core_prices WHERE asset_id = ? AND block <= ("
                    " SELECT block FROM core_prices WHERE asset_id = ? ORDER BY block DESC LIMIT 1 OFFSET ?)",
                    (a, a, self.capacity),
                )
            db.execute("INSERT OR REPLACE INTO core_state (key, value) VALUES ('last_block', ?)", (str(block),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def load_history(self) -> PriceHistory:
        hist = PriceHistory(self.capacity)
        rows = self._db.execute("SELECT block, ts, asset_id, price FROM core_prices ORDER BY block, asset_id").fetchall()
        by_block: dict[int, tuple[float, dict[int, float]]] = {}
        for block, ts, asset_id, price in rows:
            by_block.setdefault(int(block), (float(ts), {}))[1][int(asset_id)] = float(price)
        for block in sorted(by_block):
            ts, prices = by_block[block]
            hist.append(block, ts, prices)
        return hist
