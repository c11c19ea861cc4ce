"""Usage plans: the rate, burst, quotas and queueing an API key gets (AWS API Gateway style).

Plans live in MongoDB (`plans` collection, `_id` = plan id). Every admitted request with a key
resolves its plan, so the whole (small) set is cached in memory and re-read at most every
`cache_seconds`; writes through this process update the cache at once. The built-in `default`
plan applies to keys whose plan is missing; storing a plan with id `default` overrides it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymongo import IndexModel
from pymongo.errors import DuplicateKeyError, PyMongoError

log = logging.getLogger("gateway.plans")

DEFAULT_PLAN_ID = "default"
PLAN_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
MAX_PLANS = 1000
MAX_QUOTA = 10**15  # stored as a BSON int64 (and exact in a JSON double)


class PlanLimits(BaseModel):
    """A plan's settings without its id (the body of PUT /admin/plans/{id})."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    rate: float = Field(gt=0, le=1_000_000, description="steady requests per second")
    burst: int = Field(ge=1, le=1_000_000)
    quota_day: int | None = Field(default=None, ge=1, le=MAX_QUOTA)
    quota_week: int | None = Field(default=None, ge=1, le=MAX_QUOTA)
    quota_month: int | None = Field(default=None, ge=1, le=MAX_QUOTA)
    # Queue instead of reject: wait up to this long for a token before answering 429.
    queue_timeout_seconds: float = Field(default=0.0, ge=0, le=60)


class UsagePlan(PlanLimits):
    id: str = Field(pattern=PLAN_ID_PATTERN)

    def quotas(self) -> dict[str, int]:
        """The configured quotas by period ("day", "week", "month")."""
        periods = {"day": self.quota_day, "week": self.quota_week, "month": self.quota_month}
        return {period: limit for period, limit in periods.items() if limit is not None}


DEFAULT_PLAN = UsagePlan(id=DEFAULT_PLAN_ID, name="Default", rate=10.0, burst=20)


def _to_doc(plan: UsagePlan) -> dict[str, Any]:
    doc = plan.model_dump(exclude={"id"})
    doc["_id"] = plan.id
    return doc


def _from_doc(doc: dict[str, Any]) -> UsagePlan:
    fields = {k: v for k, v in doc.items() if k != "_id"}
    return UsagePlan.model_validate({**fields, "id": doc["_id"]})


class PlanStore:
    def __init__(
        self,
        collection: Any,
        *,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._collection = collection
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._plans: dict[str, UsagePlan] = {}
        self._loaded_at: float | None = None

    def indexes(self) -> dict[str, list[IndexModel]]:
        return {}  # looked up by _id only

    async def _all(self) -> dict[str, UsagePlan]:
        now = self._clock()
        if self._loaded_at is None or now - self._loaded_at >= self._cache_seconds:
            try:
                docs = await self._collection.find({}).to_list(MAX_PLANS)
            except PyMongoError:
                if self._loaded_at is None:
                    raise
                # Every keyed request reads plans: keep enforcing the last known ones.
                log.warning("plans could not be re-read; using those read before", exc_info=True)
                self._loaded_at = now
                return self._plans
            self._plans = {plan.id: plan for plan in map(_from_doc, docs)}
            self._loaded_at = now
        return self._plans

    async def get(self, plan_id: str) -> UsagePlan | None:
        plan = (await self._all()).get(plan_id)
        if plan is None and plan_id == DEFAULT_PLAN_ID:
            return DEFAULT_PLAN
        return plan

    async def resolve(self, plan_id: str | None) -> UsagePlan:
        """The plan to enforce: the named one, else the default (a deleted plan never unlimits)."""
        plan = await self.get(plan_id) if plan_id else None
        if plan is None:
            plan = await self.get(DEFAULT_PLAN_ID)
        return plan or DEFAULT_PLAN

    async def list(self) -> list[UsagePlan]:
        plans = dict(await self._all())
        plans.setdefault(DEFAULT_PLAN_ID, DEFAULT_PLAN)
        return sorted(plans.values(), key=lambda plan: plan.id)

    async def create(self, plan: UsagePlan) -> bool:
        """Insert a new plan; False when the id is stored already (storing `default` is how
        the built-in default plan is overridden)."""
        try:
            await self._collection.insert_one(_to_doc(plan))
        except DuplicateKeyError:
            return False
        self._plans[plan.id] = plan
        return True

    async def put(self, plan: UsagePlan) -> bool:
        """Create or replace; True when the plan was created."""
        result = await self._collection.replace_one({"_id": plan.id}, _to_doc(plan), upsert=True)
        self._plans[plan.id] = plan
        return result.upserted_id is not None

    async def delete(self, plan_id: str) -> bool:
        result = await self._collection.delete_one({"_id": plan_id})
        self._plans.pop(plan_id, None)
        return bool(result.deleted_count)
