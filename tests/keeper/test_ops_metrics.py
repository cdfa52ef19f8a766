"""/metrics and /health over real HTTP, the executor-event mapping, structured log lines and the balance watch."""

from __future__ import annotations

import io
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from keeper.executor.models import ExecutorEvent
from keeper.ops.balance import SignerBalanceWatch
from keeper.ops.breaker import BreakerMode
from keeper.ops.health import Health
from keeper.ops.logging import add_alert_listener, alert, configure_logging, get_logger, remove_alert_listener
from keeper.ops.metrics import KeeperMetrics, MetricsServer

VAULT = "0x00000000000000000000000000000000000A11cE"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()


@pytest.fixture
def served() -> Iterator[tuple[KeeperMetrics, Health, Clock, list[BreakerMode], MetricsServer]]:
    clock, mode = Clock(), [BreakerMode.CLOSED]
    metrics = KeeperMetrics()
    health = Health(max_block_age_seconds=60, breaker_mode=lambda: mode[0], clock=clock)
    server = MetricsServer(metrics, health, host="127.0.0.1", port=0)
    server.start()
    yield metrics, health, clock, mode, server
    server.stop()


def event(kind: str, **kw: int) -> ExecutorEvent:
    return ExecutorEvent(kind, "0xabc", VAULT, "rebalance", 0, "0xdef", "", kw.get("gas_used", 0), kw.get("gas_cost_wei", 0))


def test_metrics_endpoint_exposes_every_keeper_series(served: tuple[KeeperMetrics, Health, Clock, list[BreakerMode], MetricsServer]) -> None:
    metrics, _, _, _, server = served
    metrics.on_block(42, at=1_700_000_000)
    for kind in ("sent", "replaced", "cancel_sent", "resent", "reorged", "noop", "reverted"):
        metrics.on_executor_event(event(kind))
    metrics.on_executor_event(event("confirmed", gas_used=21_000, gas_cost_wei=21_000 * 10**9))
    metrics.set_signer_balance(3 * 10**18 // 2)
    metrics.set_breaker(BreakerMode.OPEN)
    metrics.set_vault(VAULT, leverage=2.5, equity=1_000.0)
    metrics.set_in_flight(1)
    add_alert_listener(metrics.on_alert)
    try:
        alert("signer_balance_low", balance_eth=0.01)
    finally:
        remove_alert_listener(metrics.on_alert)
    status, body = get(server.url + "/metrics")
    assert status == 200
    expected = [
        "keeper_blocks_processed_total 1.0",
        "keeper_last_block 42.0",
        "keeper_last_block_timestamp_seconds 1.7e+09",
        'keeper_actions_total{kind="rebalance"} 1.0',
        "keeper_tx_sent_total 1.0",
        "keeper_tx_replaced_total 1.0",
        "keeper_tx_cancelled_total 1.0",
        "keeper_tx_resent_total 1.0",
        "keeper_reorgs_total 1.0",
        "keeper_tx_confirmed_total 1.0",
        "keeper_tx_noop_total 1.0",
        'keeper_tx_failed_total{reason="reverted"} 1.0',
        "keeper_gas_used_total 21000.0",
        "keeper_gas_spent_wei_total 2.1e+13",
        "keeper_signer_balance_eth 1.5",
        "keeper_circuit_breaker_state 2.0",
        "keeper_intents_in_flight 1.0",
        f'keeper_vault_leverage{{vault="{VAULT}"}} 2.5',
        f'keeper_vault_equity{{vault="{VAULT}"}} 1000.0',
        'keeper_alerts_total{name="signer_balance_low"} 1.0',
    ]
    assert [line for line in expected if line not in body.splitlines()] == []


def test_health_is_503_with_a_reason_until_recent_block_and_closed_breaker(
    served: tuple[KeeperMetrics, Health, Clock, list[BreakerMode], MetricsServer],
) -> None:
    _, health, clock, mode, server = served
    status, body = get(server.url + "/health")
    assert status == 503 and json.loads(body)["reason"] == "no block processed yet"
    health.block_processed(7)
    clock.now += 10
    status, body = get(server.url + "/health")
    assert status == 200 and json.loads(body) == {"status": "ok", "last_block": 7, "age_seconds": 10.0, "breaker": "closed"}
    clock.now += 55
    status, body = get(server.url + "/health")
    assert status == 503 and json.loads(body)["reason"] == "last block processed 65 s ago (max 60 s)"
    health.block_processed(8)
    mode[0] = BreakerMode.HALF_OPEN
    status, body = get(server.url + "/health")
    assert status == 503 and json.loads(body)["reason"] == "circuit breaker half_open"
    assert get(server.url + "/nope")[0] == 404


@pytest.fixture
def keeper_logger() -> Iterator[None]:
    """configure_logging changes the process-wide "keeper" logger: put it back for the other tests."""
    root = logging.getLogger("keeper")
    saved = (list(root.handlers), root.propagate, root.level)
    yield
    root.handlers[:], root.propagate = saved[0], saved[1]
    root.setLevel(saved[2])


def test_key_value_lines_one_event_each_and_alerts_marked(keeper_logger: None) -> None:
    stream = io.StringIO()
    configure_logging("kv", "INFO", stream)
    log = get_logger("executor")
    log.event("tx_sent", intent="0xabc", nonce=3, detail="max fee 2 gwei")
    alert("signer_balance_low", balance_eth=0.05, min_eth=0.5)
    first, second = stream.getvalue().splitlines()
    assert first.endswith(' INFO tx_sent intent=0xabc nonce=3 detail="max fee 2 gwei"')
    assert second.endswith(" WARNING ALERT signer_balance_low balance_eth=0.05 min_eth=0.5")


def test_json_lines_parse_and_carry_the_alert_flag(keeper_logger: None) -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream)
    get_logger("keeper.executor").event("tx_confirmed", nonce=1, gas_used=21_000)
    alert("replacement_blocked_by_fee_cap", nonce=1)
    get_logger("keeper.executor").event("debug_detail", logging.DEBUG)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(d["event"], d["level"], d.get("alert", False)) for d in lines] == [
        ("tx_confirmed", "INFO", False),
        ("replacement_blocked_by_fee_cap", "WARNING", True),
    ]
    assert lines[0]["logger"] == "keeper.executor" and lines[0]["gas_used"] == 21_000


def test_balance_watch_alerts_once_then_again_after_the_interval(caplog: pytest.LogCaptureFixture) -> None:
    metrics = KeeperMetrics()
    watch = SignerBalanceWatch(min_balance_wei=10**18, metrics=metrics, realert_blocks=100)
    with caplog.at_level("INFO", logger="keeper"):
        assert not watch.check(2 * 10**18, block=1)
        assert watch.check(10**17, block=2)
        assert watch.check(10**17, block=50)  # still low: no repeat yet
        assert watch.check(10**17, block=102)
        assert not watch.check(5 * 10**18, block=103)
    names = [(r.getMessage(), getattr(r, "alert", False)) for r in caplog.records]
    assert names == [("signer_balance_low", True), ("signer_balance_low", True), ("signer_balance_ok", False)]
    assert metrics.signer_balance._value.get() == 5.0
