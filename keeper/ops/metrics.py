"""Prometheus metrics for the keeper and the HTTP server that exposes /metrics and /health.

Each `KeeperMetrics` owns its registry (no global state), so tests and several keepers in one process do not
collide. `on_executor_event` maps executor events onto the counters; the keeper loop calls `on_block`,
`set_vault`, `set_breaker` and `set_signer_balance`. Names (all prefixed `keeper_`) are listed in
docs/KEEPER_OPERATIONS.md.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from keeper.executor.models import ExecutorEvent
from keeper.ops.breaker import BreakerMode
from keeper.ops.health import Health

_FAILED = ("reverted", "rejected", "simulation_reverted", "dropped", "resend_refused")


class KeeperMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.blocks_processed = Counter("keeper_blocks_processed", "Blocks the keeper loop processed", registry=r)
        self.last_block = Gauge("keeper_last_block", "Number of the last processed block", registry=r)
        self.last_block_time = Gauge(
            "keeper_last_block_timestamp_seconds", "Unix time at which the last block was processed", registry=r
        )
        self.actions = Counter("keeper_actions", "Actions that landed and succeeded, by intent kind", ["kind"], registry=r)
        self.tx_sent = Counter("keeper_tx_sent", "New transactions broadcast (first transaction of an intent)", registry=r)
        self.tx_replaced = Counter("keeper_tx_replaced", "Fee replacements of stuck transactions", registry=r)
        self.tx_cancelled = Counter("keeper_tx_cancelled", "Cancel transactions sent (0-value self-transfers)", registry=r)
        self.tx_failed = Counter("keeper_tx_failed", "Intents that failed, by reason", ["reason"], registry=r)
        self.tx_confirmed = Counter("keeper_tx_confirmed", "Intents final and successful", registry=r)
        self.tx_noop = Counter("keeper_tx_noop", "Intents that were benign no-ops (another keeper acted first)", registry=r)
        self.tx_resent = Counter("keeper_tx_resent", "Re-broadcasts of the same signed bytes", registry=r)
        self.reorgs = Counter("keeper_reorgs", "Mined transactions whose block left the canonical chain", registry=r)
        self.gas_used = Counter("keeper_gas_used", "Gas used by the keeper's final transactions", registry=r)
        self.gas_spent = Counter("keeper_gas_spent_wei", "Wei paid for gas by the keeper's final transactions", registry=r)
        self.signer_balance = Gauge("keeper_signer_balance_eth", "Signer balance in ETH", registry=r)
        self.breaker_state = Gauge(
            "keeper_circuit_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open", registry=r
        )
        self.in_flight = Gauge("keeper_intents_in_flight", "Intents with a transaction in flight", registry=r)
        self.vault_leverage = Gauge("keeper_vault_leverage", "Vault leverage (x, not WAD)", ["vault"], registry=r)
        self.vault_equity = Gauge("keeper_vault_equity", "Vault equity in collateral units", ["vault"], registry=r)
        self.alerts = Counter("keeper_alerts", "ALERT lines logged, by name", ["name"], registry=r)

    def on_block(self, number: int, at: float | None = None) -> None:
        self.blocks_processed.inc()
        self.last_block.set(number)
        self.last_block_time.set(time.time() if at is None else at)

    def on_executor_event(self, event: ExecutorEvent) -> None:
        kind = event.kind
        if kind == "sent":
            self.tx_sent.inc()
        elif kind == "replaced":
            self.tx_replaced.inc()
        elif kind == "cancel_sent":
            self.tx_cancelled.inc()
        elif kind == "resent":
            self.tx_resent.inc()
        elif kind == "reorged":
            self.reorgs.inc()
        elif kind == "confirmed":
            self.tx_confirmed.inc()
            self.actions.labels(kind=event.intent_kind).inc()
        elif kind == "noop":
            self.tx_noop.inc()
        elif kind in _FAILED:
            self.tx_failed.labels(reason=kind).inc()
        if event.gas_used:
            self.gas_used.inc(event.gas_used)
            self.gas_spent.inc(event.gas_cost_wei)

    def on_alert(self, name: str, fields: dict[str, Any]) -> None:
        self.alerts.labels(name=name).inc()

    def set_breaker(self, mode: BreakerMode) -> None:
        self.breaker_state.set(mode.code)

    def set_signer_balance(self, wei: int) -> None:
        self.signer_balance.set(wei / 1e18)

    def set_in_flight(self, count: int) -> None:
        self.in_flight.set(count)

    def set_vault(self, vault: str, leverage: float, equity: float) -> None:
        self.vault_leverage.labels(vault=vault).set(leverage)
        self.vault_equity.labels(vault=vault).set(equity)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


class MetricsServer:
    """GET /metrics (Prometheus text format) and GET /health (200 or 503, JSON) on a daemon thread."""

    def __init__(self, metrics: KeeperMetrics, health: Health, host: str = "127.0.0.1", port: int = 9464) -> None:
        self._metrics = metrics
        self._health = health
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is None:
            return self._port
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self) -> int:
        metrics, health = self._metrics, self._health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._reply(200, CONTENT_TYPE_LATEST, metrics.render())
                elif path == "/health":
                    ok, body = health.check()
                    self._reply(200 if ok else 503, "application/json", json.dumps(body).encode())
                else:
                    self._reply(404, "application/json", b'{"error": "not found; try /metrics or /health"}')

            def _reply(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # scrapes are not events
                return

        self._server = ThreadingHTTPServer((self._host, self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="keeper-metrics", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
