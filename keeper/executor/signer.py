"""Who signs: any object with `address` and `sign_transaction` (an eth-account `LocalAccount` fits), and the one
function that builds and signs a type-2 transaction for the executor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from eth_account import Account
from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount
from eth_account.types import TransactionDictType
from eth_typing import HexStr

from keeper.config import SignerConfig
from keeper.executor.errors import ExecutorError
from keeper.executor.fees import Fees
from keeper.executor.models import SignedTx, TxKind


class Signer(Protocol):
    @property
    def address(self) -> str: ...

    def sign_transaction(self, transaction_dict: TransactionDictType) -> SignedTransaction: ...


class SignerError(ExecutorError):
    """The signing key could not be loaded."""


def sign_tx(
    signer: Signer,
    *,
    chain_id: int,
    nonce: int,
    to: str,
    data: bytes,
    value: int,
    gas_limit: int,
    fees: Fees,
    kind: TxKind,
) -> SignedTx:
    tx: TransactionDictType = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": HexStr(to),
        "value": value,
        "data": data,
        "gas": gas_limit,
        "maxFeePerGas": fees.max_fee,
        "maxPriorityFeePerGas": fees.prio_fee,
    }
    signed = signer.sign_transaction(tx)
    return SignedTx(
        hash="0x" + bytes(signed.hash).hex(),
        raw=bytes(signed.raw_transaction),
        nonce=nonce,
        kind=kind,
        gas_limit=gas_limit,
        max_fee=fees.max_fee,
        prio_fee=fees.prio_fee,
    )


def load_account(
    *, private_key: str | None = None, keyfile: str | Path | None = None, password: str | None = None
) -> LocalAccount:
    """A private key wins; otherwise an encrypted keyfile (standard Ethereum keystore JSON, as ape writes them)
    decrypted with `password`."""
    if private_key:
        try:
            account: LocalAccount = Account.from_key(private_key)
        except (ValueError, TypeError) as exc:
            raise SignerError(f"KEEPER_PRIVATE_KEY: not a valid private key ({type(exc).__name__})") from None
        return account
    if keyfile is None:
        raise SignerError("signer: set KEEPER_PRIVATE_KEY, or a keyfile / KEEPER_ACCOUNT with KEEPER_KEYFILE_PASSWORD")
    path = Path(keyfile).expanduser()
    if password is None:
        raise SignerError(f"KEEPER_KEYFILE_PASSWORD: required to decrypt {path}")
    try:
        key = Account.decrypt(json.loads(path.read_text()), password)
    except OSError as exc:
        raise SignerError(f"keyfile {path}: cannot read ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise SignerError(f"keyfile {path}: cannot decrypt ({exc})") from None
    decrypted: LocalAccount = Account.from_key(key)
    return decrypted


def load_signer(cfg: SignerConfig) -> LocalAccount:
    """The signer named by the validated config (KEEPER_PRIVATE_KEY, keyfile, or ape account alias)."""
    return load_account(private_key=cfg.private_key, keyfile=cfg.keyfile, password=cfg.password)
