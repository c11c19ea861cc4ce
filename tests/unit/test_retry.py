from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.consumer.retry import RetryPolicy

pytestmark = pytest.mark.unit

policies = st.builds(
    lambda attempts, base, extra: RetryPolicy(attempts, base, base + extra),
    st.integers(1, 20),
    st.floats(0, 5, allow_nan=False),
    st.floats(0, 60, allow_nan=False),
)


@given(policy=policies, attempt=st.integers(1, 10_000), seed=st.integers(0, 2**32))
def test_full_jitter_stays_between_zero_and_the_capped_exponential(
    policy: RetryPolicy, attempt: int, seed: int
) -> None:
    delay = policy.delay(attempt, random.Random(seed))
    ceiling = policy.ceiling(attempt)
    assert 0.0 <= delay <= ceiling <= policy.max_delay
    assert ceiling == min(policy.max_delay, policy.base_delay * 2.0 ** min(attempt - 1, 60))


@given(policy=policies, attempt=st.integers(1, 200))
def test_the_ceiling_never_shrinks_from_one_attempt_to_the_next(
    policy: RetryPolicy, attempt: int
) -> None:
    assert policy.ceiling(attempt) <= policy.ceiling(attempt + 1)


def test_delays_use_the_whole_range_not_just_the_cap() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=8.0)
    rng = random.Random(7)
    samples = [policy.delay(3, rng) for _ in range(2000)]  # ceiling 4 s
    assert max(samples) <= 4.0
    assert min(samples) < 0.2
    assert max(samples) > 3.8
    assert 1.8 < sum(samples) / len(samples) < 2.2  # uniform: mean is half the ceiling


@pytest.mark.parametrize(
    ("attempts", "base", "cap"), [(0, 0.1, 1.0), (3, -1.0, 1.0), (3, 2.0, 1.0)]
)
def test_nonsense_policies_are_refused(attempts: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError, match=r"max_attempts|base_delay"):
        RetryPolicy(attempts, base, cap)


def test_attempts_are_one_based() -> None:
    with pytest.raises(ValueError, match="1-based"):
        RetryPolicy().ceiling(0)
