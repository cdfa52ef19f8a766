"""Scripted market scenarios: price paths with events, as plain data (no chain access here).

A scenario is a list of steps. Each step advances chain time, optionally pushes new oracle answers (or leaves
the feeds silent: an outage), and optionally performs depositor actions. The runner
(`keeper/chain/scenario_runner.py`) plays the steps against a deployment, with or without a keeper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


class ScenarioError(ValueError):
    """Unknown scenario name or malformed scenario."""


@dataclass(frozen=True)
class UserAction:
    kind: str  # "deposit" | "withdraw"
    who: str  # actor name, e.g. "alice"
    amount: float = 0.0  # deposit: collateral units
    fraction: float = 0.0  # withdraw: fraction of the actor's shares in (0, 1]


@dataclass(frozen=True)
class Step:
    dt: int  # seconds of chain time before this step
    prices: dict[str, float] | None  # new feed answers; None = feeds stay silent (outage)
    phase: str
    actions: tuple[UserAction, ...] = ()


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    start_prices: dict[str, float]
    steps: tuple[Step, ...]
    depositors: dict[str, float] = field(default_factory=dict)  # initial deposits, collateral units

    @property
    def duration(self) -> int:
        return sum(s.dt for s in self.steps)


def _ramp(
    phase: str,
    start: dict[str, float],
    end: dict[str, float],
    n: int,
    dt: int,
    wiggle: Callable[[int], float] | None = None,
) -> list[Step]:
    """n steps from `start` to `end` (geometric interpolation), with an optional multiplicative wiggle."""
    steps = []
    for i in range(1, n + 1):
        w = 1.0 + (wiggle(i) if wiggle else 0.0)
        prices = {k: start[k] * (end[k] / start[k]) ** (i / n) * w for k in start}
        steps.append(Step(dt=dt, prices=prices, phase=phase))
    return steps


def _with_actions(steps: list[Step], at: int, *actions: UserAction) -> None:
    s = steps[at]
    steps[at] = Step(dt=s.dt, prices=s.prices, phase=s.phase, actions=s.actions + actions)


def demo() -> Scenario:
    """Rally, chop, a -35% flash crash within minutes, a stale-oracle outage and recovery."""
    p0 = {"ETH": 2000.0, "BTC": 60_000.0}
    rally_end = {"ETH": 2600.0, "BTC": 72_000.0}
    steps: list[Step] = []
    steps += _ramp("rally", p0, rally_end, 10, 3600)
    chop = [0.03, -0.04, 0.02, -0.03, 0.04, -0.02, 0.03, -0.03]
    steps += _ramp("chop", rally_end, rally_end, len(chop), 3600, lambda i: chop[i - 1])
    crash_end = {k: v * 0.65 for k, v in rally_end.items()}
    steps += _ramp("flash crash", rally_end, crash_end, 6, 30)  # -35% over three minutes
    steps += [Step(dt=1800, prices=None, phase="oracle outage") for _ in range(3)]  # 1.5 h without answers
    recovery_end = {k: v * 0.75 for k, v in rally_end.items()}
    steps += _ramp("recovery", crash_end, recovery_end, 8, 3600)
    _with_actions(steps, 3, UserAction("deposit", "carol", amount=50_000))
    _with_actions(steps, 12, UserAction("withdraw", "bob", fraction=0.5))
    _with_actions(steps, len(steps) - 8, UserAction("deposit", "dave", amount=20_000))
    _with_actions(steps, len(steps) - 2, UserAction("withdraw", "alice", fraction=0.3))
    return Scenario(
        name="demo",
        description="rally +30%, chop, -35% flash crash in 3 min, 1.5 h oracle outage, recovery",
        start_prices=p0,
        steps=tuple(steps),
        depositors={"alice": 100_000, "bob": 40_000},
    )


def crash() -> Scenario:
    """Only the flash crash: -35% over three minutes after a quiet hour."""
    p0 = {"ETH": 2000.0, "BTC": 60_000.0}
    end = {k: v * 0.65 for k, v in p0.items()}
    steps = [Step(dt=3600, prices=p0, phase="quiet")] + _ramp("flash crash", p0, end, 6, 30)
    steps += [Step(dt=600, prices=end, phase="after") for _ in range(4)]
    return Scenario("crash", "-35% flash crash in 3 minutes", p0, tuple(steps), {"alice": 100_000})


def outage() -> Scenario:
    """A 2-hour oracle outage with a deposit and a withdrawal attempt during it, then recovery."""
    p0 = {"ETH": 2000.0, "BTC": 60_000.0}
    steps = [Step(dt=600, prices=p0, phase="quiet")]
    steps += [Step(dt=1800, prices=None, phase="oracle outage") for _ in range(4)]
    _with_actions(steps, 3, UserAction("deposit", "bob", amount=10_000), UserAction("withdraw", "alice", fraction=0.2))
    steps += [Step(dt=600, prices={"ETH": 1950.0, "BTC": 59_000.0}, phase="recovery") for _ in range(3)]
    return Scenario("outage", "2 h stale oracle with user actions, then recovery", p0, tuple(steps), {"alice": 100_000})


def unattended_crash() -> Scenario:
    """A quiet start, then nobody runs a keeper and both assets drop 30% within one minute.

    At 2x, -30% takes leverage to 1.4 / 0.4 = 3.5x: above the 2.7x ripcord and the 3x cap, far from the market's
    liquidation (maintenance 2%). Play it with the keeper stopped after the quiet steps (`stop_keeper_after=2`)
    and a third party that pulls the ripcord.
    """
    p0 = {"ETH": 2000.0, "BTC": 60_000.0}
    end = {k: v * 0.70 for k, v in p0.items()}
    steps = [Step(dt=1800, prices=p0, phase="quiet") for _ in range(2)]
    steps += [Step(dt=600, prices=p0, phase="keeper down")]
    steps += [Step(dt=60, prices=end, phase="crash -30%")]
    steps += [Step(dt=600, prices=end, phase="after") for _ in range(2)]
    return Scenario("unattended_crash", "keeper stops, then -30% in one minute", p0, tuple(steps), {"alice": 100_000})


def stale_rally() -> Scenario:
    """+25% a minute after the keeper levered up, then the feeds go silent for about 2 h, then recovery.

    The rally leaves leverage at 2 * 1.25 / 1.5 = 1.67x, below the 1.7x minimum, while the chunk cooldown (300 s)
    still holds the keeper back; the feeds then stop. A keeper acting on the last known prices would lever up
    during the outage; the real one must wait for fresh prices. Depositor actions during the outage (refused) and
    after recovery.
    """
    p0 = {"ETH": 2000.0, "BTC": 60_000.0}
    up = {k: v * 1.25 for k, v in p0.items()}
    steps = [Step(dt=60, prices=up, phase="rally +25%")]
    steps += [Step(dt=3700, prices=None, phase="oracle outage")]  # answers now older than max_age (3600 s)
    steps += [Step(dt=1800, prices=None, phase="oracle outage") for _ in range(2)]
    bob_in, alice_out = UserAction("deposit", "bob", amount=10_000), UserAction("withdraw", "alice", fraction=0.2)
    _with_actions(steps, 2, bob_in, alice_out)
    steps += [Step(dt=600, prices=up, phase="recovery") for _ in range(3)]
    _with_actions(steps, len(steps) - 1, alice_out, bob_in)
    description = "+25% rally, 2 h stale oracle with user actions, recovery"
    return Scenario("stale_rally", description, p0, tuple(steps), {"alice": 100_000})


def chunked() -> Scenario:
    """Flat prices, deposits and redemptions every ~5 minutes. With a vault whose max_trade_notional is small
    (tests/e2e uses 30,000) the keeper's lever-up runs in chunks and the depositors come and go between them."""
    p0 = {"ETH": 2000.0, "BTC": 60_000.0}
    steps = [Step(dt=320, prices=p0, phase="chunks") for _ in range(12)]
    _with_actions(steps, 0, UserAction("deposit", "bob", amount=50_000))
    _with_actions(steps, 1, UserAction("withdraw", "alice", fraction=0.3))
    _with_actions(steps, 2, UserAction("deposit", "carol", amount=25_000))
    _with_actions(steps, 3, UserAction("withdraw", "bob", fraction=0.5))
    _with_actions(steps, 4, UserAction("deposit", "dave", amount=10_000), UserAction("withdraw", "carol", fraction=0.25))
    _with_actions(steps, 6, UserAction("withdraw", "dave", fraction=1.0))
    _with_actions(steps, 8, UserAction("deposit", "alice", amount=5_000))
    description = "flat prices, deposits and exits between rebalance chunks"
    return Scenario("chunked", description, p0, tuple(steps), {"alice": 100_000})


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    "demo": demo,
    "crash": crash,
    "outage": outage,
    "unattended_crash": unattended_crash,
    "stale_rally": stale_rally,
    "chunked": chunked,
}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]()
    except KeyError:
        raise ScenarioError(f"scenario: unknown name {name!r}; choose one of {', '.join(sorted(SCENARIOS))}") from None
