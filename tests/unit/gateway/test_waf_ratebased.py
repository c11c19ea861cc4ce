"""The rate-based rule: an exact threshold, a sliding window, a timed block, bounded memory."""

from __future__ import annotations

import pytest

from services.gateway.waf.ratebased import BUCKETS, RateBasedRule
from tests.clock import ManualClock

pytestmark = pytest.mark.unit


def rule(clock: ManualClock, **overrides: float) -> RateBasedRule:
    params: dict[str, float] = {
        "limit": 2000,
        "window_seconds": 300.0,
        "block_seconds": 600.0,
        "max_tracked": 1000,
    }
    params.update(overrides)
    return RateBasedRule(
        limit=int(params["limit"]),
        window_seconds=params["window_seconds"],
        block_seconds=params["block_seconds"],
        max_tracked=int(params["max_tracked"]),
        clock=clock,
    )


def test_the_limit_is_allowed_and_one_more_exceeds_it() -> None:
    clock = ManualClock()
    rate = rule(clock)
    for _ in range(2000):
        clock.advance(0.1)  # 2000 requests within 200 s: inside the 300 s window
        assert rate.hit("203.0.113.1") is False
    assert rate.hit("203.0.113.1") is True


def test_addresses_are_counted_separately() -> None:
    clock = ManualClock()
    rate = rule(clock, limit=3)
    for _ in range(3):
        assert not rate.hit("a")
    assert not rate.hit("b")
    assert rate.hit("a")


def test_requests_older_than_the_window_stop_counting() -> None:
    clock = ManualClock()
    rate = rule(clock, limit=3, window_seconds=300)
    for _ in range(3):
        assert not rate.hit("a")
    clock.advance(300 + 300 / BUCKETS)  # at most one bucket past the window
    for _ in range(3):
        assert not rate.hit("a")
    assert rate.hit("a")


def test_requests_inside_the_window_keep_counting() -> None:
    clock = ManualClock(0.0)
    rate = rule(clock, limit=3, window_seconds=300)
    for _ in range(3):
        assert not rate.hit("a")
    clock.advance(299)
    assert rate.hit("a")


def test_a_block_lasts_its_period_then_is_released() -> None:
    clock = ManualClock()
    rate = rule(clock, block_seconds=600)
    block = rate.block("a")
    assert rate.blocked("a") == block
    assert rate.remaining(block) == 600
    clock.advance(599.9)
    assert rate.blocked("a") is not None
    clock.advance(0.1)
    assert rate.blocked("a") is None
    assert list(rate.active_blocks()) == []


def test_unblock_lifts_the_block_and_resets_the_count() -> None:
    clock = ManualClock()
    rate = rule(clock, limit=2)
    rate.hit("a")
    rate.hit("a")
    rate.block("a", 60, "manual")
    assert rate.unblock("a") is True
    assert rate.blocked("a") is None
    assert not rate.hit("a")
    assert rate.unblock("a") is False


def test_tracked_addresses_are_bounded_least_recent_first() -> None:
    clock = ManualClock()
    rate = rule(clock, limit=2, max_tracked=2)
    for key in ("a", "b", "a", "b"):
        assert not rate.hit(key)
    assert not rate.hit("c")  # a third address: "a", the least recently seen, is forgotten
    assert not rate.hit("a")  # so its count starts again (and "b" is forgotten now)
    assert not rate.hit("c")
    assert rate.hit("c")  # "c" was kept and counted all along


def test_blocks_are_bounded_too() -> None:
    clock = ManualClock()
    rate = rule(clock, max_tracked=2)
    for key in ("a", "b", "c"):
        rate.block(key)
    assert [block.key for block in rate.active_blocks()] == ["b", "c"]


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="limit>=1"):
        rule(ManualClock(), limit=0)
