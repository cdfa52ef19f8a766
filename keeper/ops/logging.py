"""Structured logs: one event per line, as key=value (default) or JSON lines, and `alert()` for what an
operator must act on.

key=value:  2026-05-08T07:50:55.527Z INFO tx_sent intent=0x12.. nonce=7 hash=0xab..
            2026-05-08T07:50:55.527Z WARNING ALERT signer_balance_low balance_eth=0.09 min_eth=0.5
JSON:       {"ts": "...", "level": "INFO", "logger": "keeper.executor", "event": "tx_sent", "nonce": 7, ...}
            alerts carry "alert": true

Everything logs under the "keeper" logger; `configure_logging` installs the one handler (idempotent).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import IO, Any

ROOT = "keeper"
_HANDLER_NAME = "keeper-structured"
_alert_listeners: list[Callable[[str, dict[str, Any]], None]] = []


def _ts(created: float) -> str:
    return datetime.fromtimestamp(created, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


def _kv_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text == "" or any(c in text for c in ' ="\n'):
        return json.dumps(text)
    return text


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event", None) or record.getMessage()
        head = f"{_ts(record.created)} {record.levelname}"
        if getattr(record, "alert", False):
            head += " ALERT"
        parts = [head, str(event).replace("\n", " ")]
        parts += [f"{k}={_kv_value(v)}" for k, v in _fields(record).items()]
        if record.exc_info:
            parts.append(f"exc={_kv_value(self.formatException(record.exc_info).splitlines()[-1])}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _ts(record.created),
            "level": record.levelname,
            "logger": record.name,
            "event": getattr(record, "event", None) or record.getMessage(),
        }
        if getattr(record, "alert", False):
            out["alert"] = True
        for key, value in _fields(record).items():
            out.setdefault(key, value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(out, default=str, separators=(",", ":"))


def configure_logging(fmt: str = "kv", level: str = "INFO", stream: IO[str] | None = None) -> None:
    """Install the structured handler on the "keeper" logger (replacing a previous one)."""
    if fmt not in ("kv", "json"):
        raise ValueError(f"log format: must be 'kv' or 'json', got {fmt!r}")
    root = logging.getLogger(ROOT)
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False


class EventLogger:
    def __init__(self, name: str) -> None:
        self._log = logging.getLogger(name if name.startswith(ROOT) else f"{ROOT}.{name}")

    def event(self, event: str, level: int = logging.INFO, /, **fields: Any) -> None:
        self._log.log(level, event, extra={"event": event, "fields": fields})

    def warning(self, event: str, /, **fields: Any) -> None:
        self.event(event, logging.WARNING, **fields)

    def error(self, event: str, /, **fields: Any) -> None:
        self.event(event, logging.ERROR, **fields)

    def alert(self, name: str, /, **fields: Any) -> None:
        """An `ALERT` line at WARNING; alert listeners (e.g. the alerts counter) are told too."""
        self._log.warning(name, extra={"event": name, "fields": fields, "alert": True})
        for listener in list(_alert_listeners):
            listener(name, fields)


def get_logger(name: str) -> EventLogger:
    return EventLogger(name)


def alert(name: str, /, **fields: Any) -> None:
    get_logger("keeper.alert").alert(name, **fields)


def add_alert_listener(listener: Callable[[str, dict[str, Any]], None]) -> None:
    _alert_listeners.append(listener)


def remove_alert_listener(listener: Callable[[str, dict[str, Any]], None]) -> None:
    if listener in _alert_listeners:
        _alert_listeners.remove(listener)
