"""What a throttled or admitted request is told: the IETF RateLimit header fields
(draft-ietf-httpapi-ratelimit-headers-08 and later) and the 429 problem.

    RateLimit-Policy: "route";q=100;w=1, "quota-day";q=10000;w=86400
    RateLimit: "route";r=42;t=1

Both are Structured Field lists: a policy name (sf-string) with integer parameters q (quota
units), w (window seconds), r (remaining units) and t (seconds until reset). Policy names:
global, route, key, ip (token buckets: q=burst per w=ceil(burst/rate) s, t = seconds until the
bucket is full again) and quota-day / quota-week / quota-month (q per calendar period, t =
seconds until it resets). `RateLimit` carries one item: the refused policy on a 429, else the
most restrictive (least remaining, then latest reset). Values are cluster-wide as configured.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.gateway.limits.policy import PolicyState, QuotaState
from shared.http.problems import PROBLEM_TYPE_BASE, Problem

RATE_LIMITED = PROBLEM_TYPE_BASE + "rate-limited"
QUOTA_EXCEEDED = PROBLEM_TYPE_BASE + "quota-exceeded"


def rate_limit_headers(
    policies: Sequence[PolicyState], *, current: str | None = None
) -> dict[str, str]:
    """`RateLimit-Policy` lists every policy; `RateLimit` shows `current` when given, else the
    most restrictive one (least remaining, then the latest reset)."""
    if not policies:
        return {}
    shown = None if current is None else next((p for p in policies if p.name == current), None)
    if shown is None:  # min() by (remaining, -reset), first one on ties; without a key lambda
        shown = policies[0]
        for p in policies[1:]:
            if p.remaining < shown.remaining or (
                p.remaining == shown.remaining and p.reset > shown.reset
            ):
                shown = p
    return {
        "RateLimit-Policy": ", ".join(f'"{p.name}";q={p.quota};w={p.window}' for p in policies),
        "RateLimit": f'"{shown.name}";r={shown.remaining};t={shown.reset}',
    }


def quota_policies(states: Iterable[QuotaState], now: datetime) -> tuple[PolicyState, ...]:
    return tuple(
        PolicyState(f"quota-{q.period}", q.limit, q.window_seconds, q.remaining, q.reset_in(now))
        for q in states
    )


@dataclass(frozen=True)
class Admission:
    """An admitted request: the headers for its response, and how long it queued."""

    policies: tuple[PolicyState, ...] = ()
    waited_seconds: float = 0.0

    def headers(self) -> dict[str, str]:
        return rate_limit_headers(self.policies)


def too_many_requests(
    detail: str,
    *,
    limit: str,
    retry_after: int,
    policies: Sequence[PolicyState],
    type_: str = RATE_LIMITED,
) -> Problem:
    """429 with Retry-After (whole seconds, at least 1) and `RateLimit` showing `limit`."""
    headers = rate_limit_headers(policies, current=limit)
    headers["Retry-After"] = str(max(1, retry_after))
    extra = {"limit": limit, "retry_after": max(1, retry_after)}
    return Problem(429, detail, type_=type_, headers=headers, extra=extra)
