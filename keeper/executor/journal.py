"""SQLite journal of intents and their transactions (stdlib sqlite3, WAL, fsync on every commit).

The executor writes a signed transaction here BEFORE broadcasting it, so after a crash or restart it can
re-broadcast the same bytes (same hash), adopt a mined transaction, or replace/cancel at the same nonce: it never
has to sign blind.

Tables
    intent(id, vault, kind, payload, created_block, status, nonce, reason, created_at, updated_at)
    tx(seq, hash, intent_id, nonce, kind, raw, gas_limit, max_fee, prio_fee, status, signed_at, sent_at,
       sent_block, attempts, receipt_block, receipt_block_hash, receipt_status, gas_used, effective_gas_price,
       revert_selector, error)
    vault_lock(vault, intent_id)          one row per vault of each in-flight intent
    meta(key, value)                      chain id and signer address the journal belongs to

Rules enforced by the database itself, not only by the code:
    - never two different intents at one nonce: `intent.nonce` is UNIQUE and a trigger rejects a tx whose nonce
      differs from its intent's; a nonce is released (set to NULL) only when the node refused the transaction;
    - one in-flight intent per vault: `vault_lock.vault` is the primary key; locks go when the intent is final;
    - state transitions follow INTENT_TRANSITIONS / TX_TRANSITIONS (JournalError otherwise).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from keeper.executor.errors import JournalError, VaultBusy
from keeper.executor.models import (
    IN_FLIGHT,
    LIVE_TX,
    Intent,
    IntentRecord,
    IntentStatus,
    SignedTx,
    TxKind,
    TxRecord,
    TxStatus,
)

_S = IntentStatus
_T = TxStatus
_FINAL_INTENT = frozenset(s for s in IntentStatus if s not in IN_FLIGHT)

INTENT_TRANSITIONS: dict[IntentStatus, frozenset[IntentStatus]] = {
    _S.PENDING: frozenset({_S.CANCELLING, _S.MINED} | _FINAL_INTENT) - {_S.DRY_RUN},
    _S.CANCELLING: frozenset({_S.MINED} | _FINAL_INTENT) - {_S.DRY_RUN},
    _S.MINED: frozenset({_S.PENDING, _S.CANCELLING} | _FINAL_INTENT) - {_S.DRY_RUN, _S.REJECTED, _S.DROPPED},
    **{s: frozenset() for s in _FINAL_INTENT},
}

TX_TRANSITIONS: dict[TxStatus, frozenset[TxStatus]] = {
    _T.SIGNED: frozenset({_T.SENT, _T.MINED, _T.REPLACED, _T.REJECTED, _T.DROPPED}),
    _T.SENT: frozenset({_T.MINED, _T.REPLACED, _T.DROPPED}),
    _T.REPLACED: frozenset({_T.MINED, _T.DROPPED}),
    _T.MINED: frozenset({_T.SENT, _T.REPLACED, _T.FINAL}),  # back to SENT/REPLACED on a reorg
    _T.FINAL: frozenset(),
    _T.REJECTED: frozenset(),
    _T.DROPPED: frozenset(),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS intent (
    id TEXT PRIMARY KEY,
    vault TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_block INTEGER NOT NULL,
    status TEXT NOT NULL,
    nonce INTEGER UNIQUE,
    reason TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS intent_status ON intent(status);
CREATE TABLE IF NOT EXISTS vault_lock (
    vault TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL REFERENCES intent(id)
);
CREATE TABLE IF NOT EXISTS tx (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL UNIQUE,
    intent_id TEXT NOT NULL REFERENCES intent(id),
    nonce INTEGER NOT NULL,
    kind TEXT NOT NULL,
    raw BLOB NOT NULL,
    gas_limit INTEGER NOT NULL,
    max_fee INTEGER NOT NULL,
    prio_fee INTEGER NOT NULL,
    status TEXT NOT NULL,
    signed_at REAL NOT NULL,
    sent_at REAL,
    sent_block INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    receipt_block INTEGER,
    receipt_block_hash TEXT,
    receipt_status INTEGER,
    gas_used INTEGER,
    effective_gas_price INTEGER,
    revert_selector TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS tx_intent ON tx(intent_id);
CREATE TRIGGER IF NOT EXISTS tx_nonce_is_intent_nonce BEFORE INSERT ON tx
WHEN NEW.nonce IS NOT (SELECT nonce FROM intent WHERE id = NEW.intent_id)
BEGIN SELECT RAISE(ABORT, 'tx nonce differs from its intent nonce'); END;
"""

_IN_FLIGHT_SQL = ",".join(f"'{s.value}'" for s in IN_FLIGHT)


class Journal:
    """Durable record of intents and transactions. Not thread-safe: one executor owns one journal."""

    def __init__(self, path: str | Path, clock: Any = time.time) -> None:
        self.path = str(path)
        self._clock = clock
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- identity ---------------------------------------------------------------------------------------------

    def bind(self, chain_id: int, signer: str) -> None:
        """Tie the journal to one chain and signer; refuse to run a journal written for another."""
        want = {"chain_id": str(chain_id), "signer": signer.lower()}
        with self._write() as db:
            for key, value in want.items():
                row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
                if row is None:
                    db.execute("INSERT INTO meta(key, value) VALUES (?, ?)", (key, value))
                elif row["value"] != value:
                    raise JournalError(f"journal {self.path}: written for {key} {row['value']}, now running with {value}")

    # -- reads ------------------------------------------------------------------------------------------------

    def intent(self, intent_id: str) -> IntentRecord | None:
        row = self._db.execute("SELECT * FROM intent WHERE id = ?", (intent_id,)).fetchone()
        return _intent_record(row) if row else None

    def in_flight(self) -> list[IntentRecord]:
        rows = self._db.execute(f"SELECT * FROM intent WHERE status IN ({_IN_FLIGHT_SQL}) ORDER BY nonce").fetchall()
        return [_intent_record(r) for r in rows]

    def intents(self, limit: int = 100) -> list[IntentRecord]:
        rows = self._db.execute("SELECT * FROM intent ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)).fetchall()
        return [_intent_record(r) for r in rows]

    def txs(self, intent_id: str) -> list[TxRecord]:
        rows = self._db.execute("SELECT * FROM tx WHERE intent_id = ? ORDER BY seq", (intent_id,)).fetchall()
        return [_tx_record(r) for r in rows]

    def tx(self, tx_hash: str) -> TxRecord | None:
        row = self._db.execute("SELECT * FROM tx WHERE hash = ?", (tx_hash,)).fetchone()
        return _tx_record(row) if row else None

    def unacknowledged(self) -> list[TxRecord]:
        """Signed transactions no node has acknowledged yet, oldest first: they are re-broadcast before anything new."""
        rows = self._db.execute("SELECT * FROM tx WHERE status = ? ORDER BY seq", (_T.SIGNED.value,)).fetchall()
        return [_tx_record(r) for r in rows]

    def busy_vaults(self) -> dict[str, str]:
        """vault -> id of the in-flight intent holding it."""
        return {r["vault"]: r["intent_id"] for r in self._db.execute("SELECT vault, intent_id FROM vault_lock")}

    def next_nonce_floor(self) -> int:
        """1 + the highest nonce held by an in-flight intent (0 when none): the nonce manager never goes below it."""
        row = self._db.execute(f"SELECT MAX(nonce) AS n FROM intent WHERE status IN ({_IN_FLIGHT_SQL})").fetchone()
        return 0 if row["n"] is None else int(row["n"]) + 1

    # -- writes -----------------------------------------------------------------------------------------------

    def open_intent(self, intent: Intent, tx: SignedTx) -> None:
        """Record a new in-flight intent, lock its vaults and store its first signed transaction, atomically."""
        now = self._clock()
        with self._write() as db:
            if db.execute("SELECT 1 FROM intent WHERE id = ?", (intent.id,)).fetchone():
                raise JournalError(f"intent {intent.id}: already journalled")
            for vault in intent.all_vaults:
                row = db.execute("SELECT intent_id FROM vault_lock WHERE vault = ?", (vault,)).fetchone()
                if row:
                    raise VaultBusy(vault, row["intent_id"])
            holder = db.execute("SELECT id FROM intent WHERE nonce = ?", (tx.nonce,)).fetchone()
            if holder:
                raise JournalError(f"nonce {tx.nonce}: already held by intent {holder['id']}")
            self._insert_intent(db, intent, _S.PENDING, tx.nonce, None, now)
            db.executemany(
                "INSERT INTO vault_lock(vault, intent_id) VALUES (?, ?)", [(v, intent.id) for v in intent.all_vaults]
            )
            self._insert_tx(db, intent.id, tx, now)

    def record_final(self, intent: Intent, status: IntentStatus, reason: str) -> None:
        """Record an intent that ended before any transaction (simulation revert or benign no-op)."""
        if status not in (_S.NOOP, _S.REJECTED):
            raise JournalError(f"intent {intent.id}: only noop or rejected can be recorded without a transaction")
        with self._write() as db:
            if db.execute("SELECT 1 FROM intent WHERE id = ?", (intent.id,)).fetchone():
                raise JournalError(f"intent {intent.id}: already journalled")
            self._insert_intent(db, intent, status, None, reason, self._clock())

    def add_tx(self, intent_id: str, tx: SignedTx, intent_status: IntentStatus | None = None) -> None:
        """Store a replacement or cancel at the intent's nonce; older live transactions become REPLACED."""
        with self._write() as db:
            record = self._intent_row(db, intent_id)
            if record.status not in IN_FLIGHT:
                raise JournalError(f"intent {intent_id}: is {record.status.value}, cannot add a transaction")
            for row in db.execute(
                "SELECT hash, status FROM tx WHERE intent_id = ? AND status IN (?, ?)", (intent_id, _T.SIGNED.value, _T.SENT.value)
            ).fetchall():
                self._set_tx_status(db, row["hash"], TxStatus(row["status"]), _T.REPLACED)
            self._insert_tx(db, intent_id, tx, self._clock())
            if intent_status is not None and intent_status != record.status:
                self._set_intent_status(db, record, intent_status, None)

    def reassign_nonce(self, intent_id: str, old_hash: str, tx: SignedTx) -> None:
        """The node said the intent's nonce was already used before anything of ours was mined at it: move the
        intent to `tx.nonce` (a fresh one) and drop the old transaction, atomically."""
        with self._write() as db:
            record = self._intent_row(db, intent_id)
            if record.status != _S.PENDING:
                raise JournalError(f"intent {intent_id}: is {record.status.value}, cannot move to another nonce")
            self._set_tx_status(db, old_hash, self._tx_status(db, old_hash), _T.DROPPED, "nonce used by another transaction")
            db.execute("UPDATE intent SET nonce = ?, updated_at = ? WHERE id = ?", (tx.nonce, self._clock(), intent_id))
            self._insert_tx(db, intent_id, tx, self._clock())

    def mark_sent(self, tx_hash: str, block: int) -> None:
        """A node acknowledged the bytes (again). The first acknowledgement fixes `sent_at` / `sent_block`."""
        now = self._clock()
        with self._write() as db:
            status = self._tx_status(db, tx_hash)
            if status == _T.SIGNED:
                self._set_tx_status(db, tx_hash, status, _T.SENT)
            elif status not in (_T.SENT, _T.REPLACED, _T.MINED):
                raise JournalError(f"tx {tx_hash}: illegal transition {status.value} -> {_T.SENT.value}")
            db.execute(
                "UPDATE tx SET sent_at = COALESCE(sent_at, ?), sent_block = COALESCE(sent_block, ?),"
                " attempts = attempts + 1 WHERE hash = ?",
                (now, block, tx_hash),
            )
            if status == _T.SIGNED:
                db.execute("UPDATE tx SET error = NULL WHERE hash = ?", (tx_hash,))  # the send error is history

    def mark_attempt(self, tx_hash: str, error: str) -> None:
        with self._write() as db:
            db.execute("UPDATE tx SET attempts = attempts + 1, error = ? WHERE hash = ?", (error, tx_hash))

    def mark_tx(self, tx_hash: str, status: TxStatus, error: str | None = None) -> None:
        with self._write() as db:
            self._set_tx_status(db, tx_hash, self._tx_status(db, tx_hash), status, error)

    def mark_mined(
        self,
        tx_hash: str,
        block: int,
        block_hash: str,
        receipt_status: int,
        gas_used: int,
        effective_gas_price: int,
        revert_selector: str | None = None,
        revert_reason: str | None = None,
    ) -> None:
        """A receipt for `tx_hash` exists in `block`; the intent becomes MINED."""
        with self._write() as db:
            row = db.execute("SELECT intent_id, status FROM tx WHERE hash = ?", (tx_hash,)).fetchone()
            if row is None:
                raise JournalError(f"tx {tx_hash}: not in the journal")
            self._set_tx_status(db, tx_hash, TxStatus(row["status"]), _T.MINED, revert_reason)
            db.execute(
                "UPDATE tx SET receipt_block = ?, receipt_block_hash = ?, receipt_status = ?, gas_used = ?,"
                " effective_gas_price = ?, revert_selector = ? WHERE hash = ?",
                (block, block_hash, receipt_status, gas_used, effective_gas_price, revert_selector, tx_hash),
            )
            record = self._intent_row(db, row["intent_id"])
            if record.status != _S.MINED:
                self._set_intent_status(db, record, _S.MINED, None)

    def unmine(self, tx_hash: str, reason: str) -> None:
        """A reorg removed the block holding `tx_hash`: clear its receipt; the intent goes back in flight."""
        with self._write() as db:
            row = db.execute("SELECT intent_id FROM tx WHERE hash = ?", (tx_hash,)).fetchone()
            if row is None:
                raise JournalError(f"tx {tx_hash}: not in the journal")
            newest = db.execute(
                "SELECT hash FROM tx WHERE intent_id = ? AND status IN (?, ?, ?, ?) ORDER BY seq DESC LIMIT 1",
                (row["intent_id"], *(s.value for s in LIVE_TX)),
            ).fetchone()
            back = _T.SENT if newest and newest["hash"] == tx_hash else _T.REPLACED
            self._set_tx_status(db, tx_hash, _T.MINED, back, reason)
            db.execute(
                "UPDATE tx SET receipt_block = NULL, receipt_block_hash = NULL, receipt_status = NULL, gas_used = NULL,"
                " effective_gas_price = NULL, revert_selector = NULL WHERE hash = ?",
                (tx_hash,),
            )
            record = self._intent_row(db, row["intent_id"])
            has_cancel = db.execute(
                "SELECT 1 FROM tx WHERE intent_id = ? AND kind = ? AND status IN (?, ?, ?, ?)",
                (record.id, TxKind.CANCEL.value, *(s.value for s in LIVE_TX)),
            ).fetchone()
            if record.status == _S.MINED:
                self._set_intent_status(db, record, _S.CANCELLING if has_cancel else _S.PENDING, None)

    def finalize(self, intent_id: str, status: IntentStatus, winner: str | None, reason: str | None = None) -> None:
        """End an intent: the winning transaction (if any) becomes FINAL, every other live one DROPPED, the vault
        locks are released, and a REJECTED intent gives its nonce back."""
        if status in IN_FLIGHT:
            raise JournalError(f"intent {intent_id}: finalize needs a final status, got {status.value}")
        with self._write() as db:
            record = self._intent_row(db, intent_id)
            for row in db.execute(
                "SELECT hash, status FROM tx WHERE intent_id = ? AND status IN (?, ?, ?, ?)",
                (intent_id, *(s.value for s in LIVE_TX)),
            ).fetchall():
                target = _T.FINAL if row["hash"] == winner else _T.DROPPED
                if status == _S.REJECTED and row["hash"] != winner:
                    target = _T.REJECTED
                self._set_tx_status(db, row["hash"], TxStatus(row["status"]), target)
            self._set_intent_status(db, record, status, reason)

    # -- internals --------------------------------------------------------------------------------------------

    def _insert_intent(
        self, db: sqlite3.Connection, intent: Intent, status: IntentStatus, nonce: int | None, reason: str | None, now: float
    ) -> None:
        db.execute(
            "INSERT INTO intent(id, vault, kind, payload, created_block, status, nonce, reason, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (intent.id, intent.vault, intent.kind, intent.payload_json(), intent.created_block, status.value, nonce, reason, now, now),
        )

    def _insert_tx(self, db: sqlite3.Connection, intent_id: str, tx: SignedTx, now: float) -> None:
        try:
            db.execute(
                "INSERT INTO tx(hash, intent_id, nonce, kind, raw, gas_limit, max_fee, prio_fee, status, signed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (tx.hash, intent_id, tx.nonce, tx.kind.value, tx.raw, tx.gas_limit, tx.max_fee, tx.prio_fee, _T.SIGNED.value, now),
            )
        except sqlite3.IntegrityError as exc:
            raise JournalError(f"tx {tx.hash} for intent {intent_id}: {exc}") from None

    def _intent_row(self, db: sqlite3.Connection, intent_id: str) -> IntentRecord:
        row = db.execute("SELECT * FROM intent WHERE id = ?", (intent_id,)).fetchone()
        if row is None:
            raise JournalError(f"intent {intent_id}: not in the journal")
        return _intent_record(row)

    def _tx_status(self, db: sqlite3.Connection, tx_hash: str) -> TxStatus:
        row = db.execute("SELECT status FROM tx WHERE hash = ?", (tx_hash,)).fetchone()
        if row is None:
            raise JournalError(f"tx {tx_hash}: not in the journal")
        return TxStatus(row["status"])

    def _set_tx_status(
        self, db: sqlite3.Connection, tx_hash: str, old: TxStatus, new: TxStatus, error: str | None = None
    ) -> None:
        if new == old:
            return
        if new not in TX_TRANSITIONS[old]:
            raise JournalError(f"tx {tx_hash}: illegal transition {old.value} -> {new.value}")
        db.execute("UPDATE tx SET status = ?, error = COALESCE(?, error) WHERE hash = ?", (new.value, error, tx_hash))

    def _set_intent_status(
        self, db: sqlite3.Connection, record: IntentRecord, new: IntentStatus, reason: str | None
    ) -> None:
        if new not in INTENT_TRANSITIONS[record.status]:
            raise JournalError(f"intent {record.id}: illegal transition {record.status.value} -> {new.value}")
        db.execute(
            "UPDATE intent SET status = ?, reason = COALESCE(?, reason), updated_at = ? WHERE id = ?",
            (new.value, reason, self._clock(), record.id),
        )
        if new not in IN_FLIGHT:
            db.execute("DELETE FROM vault_lock WHERE intent_id = ?", (record.id,))
        if new == _S.REJECTED:
            db.execute("UPDATE intent SET nonce = NULL WHERE id = ?", (record.id,))


def _intent_record(row: sqlite3.Row) -> IntentRecord:
    payload: dict[str, Any] = json.loads(row["payload"])
    return IntentRecord(
        intent=Intent.from_payload(row["id"], row["kind"], payload),
        status=IntentStatus(row["status"]),
        nonce=row["nonce"],
        reason=row["reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _tx_record(row: sqlite3.Row) -> TxRecord:
    return TxRecord(
        seq=row["seq"],
        hash=row["hash"],
        intent_id=row["intent_id"],
        nonce=row["nonce"],
        kind=TxKind(row["kind"]),
        raw=bytes(row["raw"]),
        gas_limit=row["gas_limit"],
        max_fee=row["max_fee"],
        prio_fee=row["prio_fee"],
        status=TxStatus(row["status"]),
        signed_at=row["signed_at"],
        sent_at=row["sent_at"],
        sent_block=row["sent_block"],
        attempts=row["attempts"],
        receipt_block=row["receipt_block"],
        receipt_block_hash=row["receipt_block_hash"],
        receipt_status=row["receipt_status"],
        gas_used=row["gas_used"],
        effective_gas_price=row["effective_gas_price"],
        revert_selector=row["revert_selector"],
        error=row["error"],
    )
