"""Circuit breaker states and the retry budget, driven by a fake clock."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.routing.breaker import Breaker, State
from services.gateway.routing.retries import RetryBudget, backoff_seconds
from services.gateway.routing.table import CircuitBreaker, Retries
from tests.clock import ManualClock

pytestmark = pytest.mark.unit


def state_of(breaker: Breaker) -> State:
    return breaker.state  # a call, so mypy does not carry the narrowed state across


def test_opens_after_consecutive_failures_then_half_opens_and_closes() -> None:
    clock = ManualClock(0.0)
    breaker = Breaker(CircuitBreaker(consecutive_failures=3, open_seconds=10), clock)
    for _ in range(3):
        assert breaker.allow()
        breaker.record(False)
    assert breaker.state is State.OPEN
    assert not breaker.allow()
    assert breaker.retry_after() == pytest.approx(10)
    clock.now = 10.0
    assert state_of(breaker) is State.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # one probe at a time
    breaker.record(True)
    assert state_of(breaker) is State.CLOSED


def test_a_failed_probe_opens_again() -> None:
    clock = ManualClock(0.0)
    breaker = Breaker(CircuitBreaker(consecutive_failures=1, open_seconds=5), clock)
    breaker.record(False)
    clock.now = 5.0
    assert breaker.allow()
    breaker.record(False)
    assert breaker.state is State.OPEN
    assert breaker.retry_after() == pytest.approx(5)


def test_opens_on_error_rate_within_the_window() -> None:
    clock = ManualClock(0.0)
    config = CircuitBreaker(
        consecutive_failures=100, error_rate=0.5, min_requests=10, window_seconds=10
    )
    breaker = Breaker(config, clock)
    for index in range(10):
        breaker.record(index % 2 == 0)  # alternate: never 100 in a row, 50% errors
    assert breaker.state is State.OPEN


def test_old_outcomes_leave_the_window() -> None:
    clock = ManualClock(0.0)
    config = CircuitBreaker(
        consecutive_failures=100, error_rate=0.5, min_requests=10, window_seconds=10
    )
    breaker = Breaker(config, clock)
    for _ in range(4):
        breaker.record(False)
        breaker.record(True)
    clock.now = 11.0
    breaker.record(False)
    breaker.record(False)  # with the old 8 kept this would be 6 failures in 10: open
    assert breaker.state is State.CLOSED


def test_retry_budget_caps_retries_to_a_fraction_of_traffic() -> None:
    budget = RetryBudget()
    retries = 0
    for _ in range(1000):
        budget.deposit(0.1)
        if budget.withdraw():
            retries += 1
    assert retries <= 0.1 * 1000 + 3


@given(st.integers(min_value=0, max_value=20), st.integers(min_value=0, max_value=2**32))
def test_backoff_is_full_jitter_within_the_cap(attempt: int, seed: int) -> None:
    policy = Retries(backoff_base_ms=10, backoff_max_ms=300)
    delay = backoff_seconds(policy, attempt, random.Random(seed))
    assert 0.0 <= delay <= min(0.3, 0.01 * 2**attempt)
