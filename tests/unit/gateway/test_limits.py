"""Token buckets (fake clock), the four levels, queue-instead-of-reject, worker split, headers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from pymongo.errors import PyMongoError

from services.gateway.auth.identity import Identity
from services.gateway.limits.bucket import BucketMap, TokenBucket
from services.gateway.limits.headers import rate_limit_headers
from services.gateway.limits.limiter import Admission, Limiter
from services.gateway.limits.plans import PlanStore, UsagePlan
from services.gateway.limits.policy import PolicyState
from services.gateway.limits.quotas import Quotas
from services.gateway.routing.table import Bucket
from shared.http.problems import Problem
from shared.store import Store
from tests.unit.gateway.g2_support import (
    FakeTime,
    LimitTestSettings,
    WallClock,
    request,
    route,
    utc,
)

pytestmark = pytest.mark.unit

ANON = Identity()
KEY = Identity(kind="api_key", key_id="0123456789ab", plan_id="tiny")


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def plans(store: Store) -> PlanStore:
    plans = PlanStore(store.db["plans"])
    await plans.create(UsagePlan(id="tiny", name="Tiny", rate=1, burst=2))
    return plans


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def make(
    clock: FakeTime,
    plans: PlanStore,
    registry: CollectorRegistry | None = None,
    *,
    workers: int = 1,
    quotas: Quotas | None = None,
    **settings: Any,
) -> Limiter:
    return Limiter(
        LimitTestSettings(**settings),
        plans=plans,
        registry=registry,
        clock=clock,
        sleep=clock.sleep,
        workers=workers,
        quotas=quotas,
    )


async def refusal(limiter: Limiter, *args: Any, **kwargs: Any) -> Problem:
    with pytest.raises(Problem) as caught:
        await limiter.admit(*args, **kwargs)
    assert caught.value.status == 429
    return caught.value


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=2, burst=3, now=0)
    assert [bucket.try_take(0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_time(0) == pytest.approx(0.5)
    assert not bucket.try_take(0.49)
    assert bucket.try_take(0.5)
    assert bucket.full_in(0.5) == pytest.approx(1.5)
    assert bucket.remaining(100) == 3  # never above the burst


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.1, max_value=50),
    burst=st.integers(min_value=1, max_value=20),
    steps=st.lists(
        st.tuples(st.floats(min_value=0, max_value=2), st.integers(1, 5), st.booleans()),
        max_size=60,
    ),
)
def test_no_window_ever_admits_more_than_burst_plus_rate_times_its_length(
    rate: float, burst: int, steps: list[tuple[float, int, bool]]
) -> None:
    bucket, now, admitted = TokenBucket(rate, burst, 0.0), 0.0, []
    for dt, attempts, queue in steps:
        now += dt
        for _ in range(attempts):
            if queue:  # a queued request is admitted when its reservation falls due
                admitted.append(now + bucket.reserve(now))
            elif bucket.try_take(now):
                admitted.append(now)
    admitted.sort()
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            assert j - i + 1 <= burst + rate * (admitted[j] - start) + 1e-6


def test_the_bucket_map_is_bounded(clock: FakeTime) -> None:
    buckets = BucketMap(3, clock)
    for n in range(100):
        buckets.get(f"203.0.113.{n}", 1, 1).try_take(clock())
    assert len(buckets) == 3


def test_headers_show_the_most_restrictive_policy() -> None:
    policies = [PolicyState("global", 100, 1, 90, 1), PolicyState("key", 20, 2, 3, 2)]
    assert rate_limit_headers(policies) == {
        "RateLimit-Policy": '"global";q=100;w=1, "key";q=20;w=2',
        "RateLimit": '"key";r=3;t=2',
    }
    assert rate_limit_headers(policies, current="global")["RateLimit"] == '"global";r=90;t=1'
    assert Admission().headers() == {}


async def test_under_the_limit_the_headers_show_what_is_left(
    clock: FakeTime, plans: PlanStore
) -> None:
    limiter = make(clock, plans)
    admission = await limiter.admit(request(), route(rate_limit={"rate": 10, "burst": 5}), ANON)
    assert admission.headers() == {
        "RateLimit-Policy": '"route";q=5;w=1',
        "RateLimit": '"route";r=4;t=1',
    }


@pytest.mark.parametrize("level", ["global", "route", "key", "ip"])
async def test_each_level_refuses_with_429_retry_after_and_headers(
    clock: FakeTime, plans: PlanStore, registry: CollectorRegistry, level: str
) -> None:
    limiter = make(clock, plans, registry)
    tight: dict[str, Any] = {"rate": 1, "burst": 2}
    fields = {"route": {"rate_limit": tight}, "ip": {"ip_rate_limit": tight}}.get(level, {})
    identity = KEY if level == "key" else ANON
    glob = Bucket(**tight) if level == "global" else None
    for _ in range(2):
        await limiter.admit(request(), route(**fields), identity, global_limit=glob)
    problem = await refusal(limiter, request(), route(**fields), identity, global_limit=glob)
    assert problem.headers["Retry-After"] == "1"
    assert f'"{level}";q=2;w=2' in problem.headers["RateLimit-Policy"]
    assert problem.headers["RateLimit"] == f'"{level}";r=0;t=2'
    body = json.loads(problem.text or "")
    assert body["limit"] == level
    assert body["retry_after"] == 1
    assert "1 requests/s (burst 2)" in problem.detail
    assert registry.get_sample_value("gateway_throttled_total", {"level": level}) == 1
    clock.advance(1)
    await limiter.admit(request(), route(**fields), identity, global_limit=glob)


async def test_ip_buckets_are_per_address_and_only_for_anonymous_callers(
    clock: FakeTime, plans: PlanStore
) -> None:
    limiter = make(clock, plans)
    open_route = route(ip_rate_limit={"rate": 1, "burst": 1})
    await limiter.admit(request(ip="203.0.113.1"), open_route, ANON)
    await refusal(limiter, request(ip="203.0.113.1"), open_route, ANON)
    await limiter.admit(request(ip="203.0.113.2"), open_route, ANON)
    keyed = Identity(kind="api_key", key_id="0123456789ab", plan_id="default")
    for _ in range(3):  # limited by its plan (burst 20), not by its address
        await limiter.admit(request(ip="203.0.113.1"), open_route, keyed)


async def test_a_keys_bucket_is_shared_by_routes_and_separate_from_other_keys(
    clock: FakeTime, plans: PlanStore
) -> None:
    limiter = make(clock, plans)
    await limiter.admit(request(), route(id="a"), KEY)
    await limiter.admit(request(), route(id="b"), KEY)
    problem = await refusal(limiter, request(), route(id="c"), KEY)
    assert "usage plan 'tiny' of API key 0123456789ab" in problem.detail
    other = Identity(kind="api_key", key_id="ba9876543210", plan_id="tiny")
    await limiter.admit(request(), route(id="a"), other)


async def test_tokens_are_taken_from_all_levels_or_none(clock: FakeTime, plans: PlanStore) -> None:
    limiter = make(clock, plans)
    glob = Bucket(rate=1, burst=2)
    narrow = route(id="narrow", rate_limit={"rate": 1, "burst": 1})
    await limiter.admit(request(), narrow, ANON, global_limit=glob)
    await refusal(limiter, request(), narrow, ANON, global_limit=glob)  # route says no
    # ...so the global token it would have needed is still there for another route.
    await limiter.admit(request(), route(id="wide"), ANON, global_limit=glob)
    problem = await refusal(limiter, request(), route(id="wide"), ANON, global_limit=glob)
    assert json.loads(problem.text or "")["limit"] == "global"


async def test_a_changed_route_limit_applies_without_resetting_the_level(
    clock: FakeTime, plans: PlanStore
) -> None:
    limiter = make(clock, plans)
    await limiter.admit(request(), route(rate_limit={"rate": 1, "burst": 1}), ANON)
    await refusal(limiter, request(), route(rate_limit={"rate": 1, "burst": 5}), ANON)
    clock.advance(1)
    await limiter.admit(request(), route(rate_limit={"rate": 1, "burst": 5}), ANON)


async def test_queueing_admits_within_the_timeout_in_order_and_429s_beyond(
    clock: FakeTime, plans: PlanStore, registry: CollectorRegistry
) -> None:
    limiter = make(clock, plans, registry)
    queued = route(rate_limit={"rate": 1, "burst": 1, "queue_timeout_seconds": 2})
    assert (await limiter.admit(request(), queued, ANON)).waited_seconds == 0
    second = asyncio.create_task(limiter.admit(request(), queued, ANON))
    third = asyncio.create_task(limiter.admit(request(), queued, ANON))
    await clock.until_sleeping(2)
    problem = await refusal(limiter, request(), queued, ANON)  # would need 3 s > 2 s
    assert problem.headers["Retry-After"] == "3"
    clock.advance(1)
    assert (await second).waited_seconds == pytest.approx(1)
    assert not third.done()
    clock.advance(1)
    assert (await third).waited_seconds == pytest.approx(2)
    assert registry.get_sample_value("gateway_queued_total") == 2


async def test_a_cancelled_wait_gives_its_place_back(clock: FakeTime, plans: PlanStore) -> None:
    limiter = make(clock, plans)
    queued = route(rate_limit={"rate": 1, "burst": 1, "queue_timeout_seconds": 5})
    await limiter.admit(request(), queued, ANON)
    waiting = asyncio.create_task(limiter.admit(request(), queued, ANON))
    await clock.until_sleeping(1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    clock.advance(1)
    # Without the refund the token would belong to the cancelled request and this would wait.
    admitted = await asyncio.wait_for(limiter.admit(request(), queued, ANON), timeout=2)
    assert admitted.waited_seconds == 0


async def test_the_queue_is_bounded(clock: FakeTime, plans: PlanStore) -> None:
    limiter = make(clock, plans, limits_queue_max=1)
    queued = route(rate_limit={"rate": 10, "burst": 1, "queue_timeout_seconds": 5})
    await limiter.admit(request(), queued, ANON)
    waiting = asyncio.create_task(limiter.admit(request(), queued, ANON))
    await clock.until_sleeping(1)
    await refusal(limiter, request(), queued, ANON)
    clock.advance(0.1)
    assert (await waiting).waited_seconds == pytest.approx(0.1)


async def test_a_plan_can_queue_instead_of_reject(clock: FakeTime, plans: PlanStore) -> None:
    await plans.put(UsagePlan(id="patient", name="P", rate=1, burst=1, queue_timeout_seconds=1))
    limiter = make(clock, plans)
    patient = Identity(kind="api_key", key_id="0123456789ab", plan_id="patient")
    await limiter.admit(request(), route(), patient)
    waiting = asyncio.create_task(limiter.admit(request(), route(), patient))
    await clock.until_sleeping(1)
    clock.advance(1)
    assert (await waiting).waited_seconds == pytest.approx(1)


async def test_workers_split_rate_and_burst_and_headers_show_the_cluster_limit(
    clock: FakeTime, plans: PlanStore
) -> None:
    limiter = make(clock, plans, workers=2)
    assert limiter.split(1, 1) == (0.5, 1.0)  # never below one token
    split = route(rate_limit={"rate": 10, "burst": 10})
    first = await limiter.admit(request(), split, ANON)
    assert first.headers()["RateLimit-Policy"] == '"route";q=10;w=1'
    assert first.headers()["RateLimit"] == '"route";r=8;t=1'
    for _ in range(4):
        await limiter.admit(request(), split, ANON)
    await refusal(limiter, request(), split, ANON)  # this worker's half is used up
    clock.advance(1)  # refills at 5/s here
    for _ in range(5):
        await limiter.admit(request(), split, ANON)
    await refusal(limiter, request(), split, ANON)


async def test_quotas_refuse_without_spending_tokens_and_reset_at_midnight(
    clock: FakeTime, plans: PlanStore, registry: CollectorRegistry
) -> None:
    await plans.put(UsagePlan(id="tiny", name="T", rate=100, burst=100, quota_day=2))
    wall = WallClock(utc(2024, 5, 1, 23, 59, 0))
    limiter = make(clock, plans, registry, quotas=Quotas(now=wall))
    admission = await limiter.admit(request(), route(), KEY)
    assert '"quota-day";q=2;w=86400' in admission.headers()["RateLimit-Policy"]
    await limiter.admit(request(), route(), KEY)
    problem = await refusal(limiter, request(), route(), KEY)
    assert problem.headers["Retry-After"] == "60"
    assert problem.headers["RateLimit"] == '"quota-day";r=0;t=60'
    assert "day quota of 2 requests for API key 0123456789ab is used up" in problem.detail
    assert registry.get_sample_value("gateway_throttled_total", {"level": "quota-day"}) == 1
    wall.advance(seconds=60)
    admission = await limiter.admit(request(), route(), KEY)
    assert admission.headers()["RateLimit"].startswith('"quota-day";r=1;')


async def test_a_request_refused_by_a_bucket_costs_no_quota(
    clock: FakeTime, plans: PlanStore
) -> None:
    await plans.put(UsagePlan(id="tiny", name="T", rate=1, burst=1, quota_day=5))
    quotas = Quotas(now=WallClock(utc(2024, 5, 1, 12)))
    limiter = make(clock, plans, quotas=quotas)
    await limiter.admit(request(), route(), KEY)
    await refusal(limiter, request(), route(), KEY)
    [day] = await quotas.current(KEY.key_id or "", {"day": 5})
    assert day.used == 1


async def test_plans_fall_back_to_the_default_and_are_cached(clock: FakeTime, store: Store) -> None:
    here = PlanStore(store.db["plans"], cache_seconds=5, clock=clock)
    elsewhere = PlanStore(store.db["plans"], cache_seconds=5, clock=clock)
    assert (await here.resolve("missing")).id == "default"
    assert (await here.resolve(None)).rate == 10
    assert (await elsewhere.resolve("gold")).id == "default"  # loads (and caches) no gold
    assert await here.create(UsagePlan(id="gold", name="G", rate=5, burst=5))
    assert not await here.create(UsagePlan(id="gold", name="G", rate=5, burst=5))
    assert (await here.resolve("gold")).id == "gold"  # this process: at once
    assert (await elsewhere.resolve("gold")).id == "default"
    clock.advance(5)
    assert (await elsewhere.resolve("gold")).id == "gold"  # others: within the TTL
    await here.put(UsagePlan(id="default", name="D", rate=1, burst=1))
    assert (await here.resolve("missing")).rate == 1  # a stored default overrides
    assert await here.delete("default")
    assert (await here.resolve("missing")).rate == 10
    assert [plan.id for plan in await here.list()] == ["default", "gold"]


class BrokenCollection:
    def find(self, *args: Any, **kwargs: Any) -> Any:
        raise PyMongoError("store down")

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        raise PyMongoError("store down")


async def test_a_store_outage_keeps_the_last_plans_and_counts_quotas_locally(
    clock: FakeTime, store: Store
) -> None:
    plans = PlanStore(store.db["plans"], cache_seconds=5, clock=clock)
    await plans.create(UsagePlan(id="gold", name="G", rate=5, burst=5))
    assert (await plans.resolve("gold")).id == "gold"
    plans._collection = BrokenCollection()
    clock.advance(10)
    assert (await plans.resolve("gold")).id == "gold"
    quotas = Quotas(BrokenCollection(), now=WallClock(utc(2024, 5, 1)))
    reservation = await quotas.reserve("k", {"day": 2})
    assert [state.used for state in reservation.states] == [1]


async def test_a_routes_user_plan_limits_each_signed_in_user_and_counts_their_quota(
    clock: FakeTime, plans: PlanStore
) -> None:
    await plans.create(UsagePlan(id="uploads", name="Uploads", rate=1, burst=2, quota_day=3))
    limiter = make(clock, plans)
    uploads = route(id="uploads", user_plan="uploads")
    ann = Identity(kind="jwt", subject="ann")
    await limiter.admit(request(), uploads, ann)
    await limiter.admit(request(), uploads, ann)
    problem = await refusal(limiter, request(), uploads, ann)
    assert "usage plan 'uploads' of user ann" in problem.detail
    await limiter.admit(request(), uploads, Identity(kind="jwt", subject="bob"))  # per user
    await limiter.admit(request(), route(id="other"), ann)  # only on that route
    clock.advance(2.0)
    await limiter.admit(request(), uploads, ann)  # the third request of the day
    clock.advance(2.0)
    quota = await refusal(limiter, request(), uploads, ann)
    assert "day quota of 3 requests for user ann is used up" in quota.detail
    # API-key callers keep their key's plan; anonymous callers are not counted per user.
    await limiter.admit(request(), uploads, KEY)
    await limiter.admit(request(), uploads, ANON)
