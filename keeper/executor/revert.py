"""Revert data -> a one-line reason: custom errors from the ABIs we know, plus Error(string) and Panic(uint256).

The selector (first 4 bytes, as "0x" + 8 hex digits) is what the benign-failure predicate looks at; the decoded
name and arguments are for humans.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak
from eth_utils.abi import collapse_if_tuple
from eth_utils.address import to_checksum_address
from web3.exceptions import ContractLogicError

ERROR_STRING = "0x08c379a0"  # Error(string)
PANIC = "0x4e487b71"  # Panic(uint256)


def error_selector(signature: str) -> str:
    """'Foo(uint256,address)' -> '0x' + first 4 bytes of its keccak."""
    return "0x" + keccak(text=signature)[:4].hex()


@dataclass(frozen=True)
class DecodedRevert:
    selector: str | None  # None when the revert carried no data
    name: str | None  # e.g. "ERC20InsufficientBalance"; None when the selector is unknown
    args: tuple[Any, ...]
    data: str  # the raw revert data, "0x..."

    def describe(self) -> str:
        if self.selector is None:
            return self.name or "reverted without data"
        if self.name is None:
            return f"unknown error {self.selector}"
        shown = ", ".join(_show(a) for a in self.args)
        return f"{self.name}({shown}) [{self.selector}]"


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str):
        return value if value.startswith("0x") else repr(value)
    return str(value)


class ErrorDecoder:
    """Knows the custom errors of some ABIs (lists of ABI entries, as in `.build/__local__.json`)."""

    def __init__(self, abis: Iterable[Sequence[Mapping[str, Any]]] = ()) -> None:
        self._errors: dict[str, tuple[str, list[str]]] = {
            ERROR_STRING: ("Error", ["string"]),
            PANIC: ("Panic", ["uint256"]),
        }
        for abi in abis:
            for entry in abi:
                if entry.get("type") != "error":
                    continue
                types = [collapse_if_tuple(dict(i)) for i in entry.get("inputs", [])]
                name = str(entry["name"])
                self._errors[error_selector(f"{name}({','.join(types)})")] = (name, types)

    def decode(self, data: str | bytes | None) -> DecodedRevert:
        raw = _as_bytes(data)
        text = "0x" + raw.hex()
        if len(raw) < 4:
            return DecodedRevert(None, None, (), text)
        selector = "0x" + raw[:4].hex()
        known = self._errors.get(selector)
        if known is None:
            return DecodedRevert(selector, None, (), text)
        name, types = known
        try:
            values = abi_decode(types, raw[4:])
        except (DecodingError, ValueError, OverflowError):
            return DecodedRevert(selector, name, (), text)
        args = tuple(to_checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True))
        return DecodedRevert(selector, name, args, text)

    def from_exception(self, exc: ContractLogicError) -> DecodedRevert:
        """web3 puts the revert data on `exc.data` (a hex string) for custom errors and Error(string)."""
        data = exc.data if isinstance(exc.data, (str, bytes)) else None
        decoded = self.decode(data)
        if decoded.selector is None and exc.message and exc.message != "execution reverted":
            return DecodedRevert(None, exc.message, (), decoded.data)
        return decoded


def _as_bytes(data: str | bytes | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    text = data[2:] if data.startswith("0x") else data
    try:
        return bytes.fromhex(text)
    except ValueError:
        return b""
