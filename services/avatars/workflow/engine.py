"""Runs an upload's steps from its stored state to the end (or to the review queue).

The `avatars-workflow` consumer group reads `avatars.uploads` (key = upload id, so one upload's
events are in order on one partition) and calls `handle`. For each step:

- the worker takes the step's lease (`Leases`): a redelivered event or a second replica never
  runs a step another live worker is running; a dead worker's lease is taken over after
  AVATARS_LEASE_SECONDS, and the step runs again from the stored state;
- each attempt is bounded by AVATARS_STEP_TIMEOUT_SECONDS; a failed attempt is retried after
  a full-jitter exponential backoff (`shared.consumer.RetryPolicy`), up to
  AVATARS_STEP_MAX_ATTEMPTS; a bad image (`RefusedImageError`) fails the upload at once;
- when the attempts run out the upload is `failed` with the reason, the player is told, and the
  event is dead-lettered to `avatars.uploads.dlq` with that reason (`PermanentError`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from services.avatars.imaging.sniff import RefusedImageError
from services.avatars.workflow.leases import Leases
from services.avatars.workflow.notify import Announcer
from services.avatars.workflow.steps import Move, Step, Steps
from services.avatars.workflow.uploads import REVIEWS, Uploads
from shared.bus.base import Record
from shared.consumer import PermanentError, RetryPolicy
from shared.consumer.deadletter import describe
from shared.events.contracts.avatars import AvatarReviewDecided, AvatarUploaded
from shared.events.envelope import CloudEvent

log = logging.getLogger("services.avatars.workflow")
Sleep = Callable[[float], Awaitable[None]]
# States the steps announce themselves (with Web Push for outcomes); the rest are announced
# here as they are entered.
SELF_ANNOUNCED = frozenset({"in_review", "rejected", "failed", "published"})
STEP_NAMES = {
    "received": "inspect",
    "inspected": "moderate",
    "moderated": "decide",
    "in_review": "hold",
    "approved": "variants",
    "variants_ready": "publish",
    "rejected": "reject",
    "failed": "fail",
}


class LeaseBusyError(RuntimeError):
    """Another live worker holds the step; the event is retried by the consumer."""


class Workflow:
    def __init__(
        self,
        uploads: Uploads,
        steps: Steps,
        leases: Leases,
        announcer: Announcer,
        *,
        max_attempts: int,
        backoff_seconds: float,
        step_timeout: float,
        lease_seconds: float,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.uploads, self.leases, self.announcer = uploads, leases, announcer
        self.steps_object = steps
        self.steps: dict[str, Step] = steps.table()
        self.retry = RetryPolicy(
            max_attempts=max_attempts,
            base_delay=backoff_seconds,
            max_delay=max(backoff_seconds, 30.0),
        )
        # The pool's own timeout (the step's) fires first for CPU work, restarting the pool.
        self.step_timeout = step_timeout + 1.0
        self.lease_seconds = lease_seconds
        self._sleep, self._rng, self.clock = sleep, rng or random.Random(), clock

    async def handle(self, event: CloudEvent[Any], record: Record) -> None:
        data = event.data
        if isinstance(data, AvatarReviewDecided):
            await self.review(data)
        elif isinstance(data, AvatarUploaded):
            await self.advance(data.upload_id)

    async def advance(self, upload_id: str) -> None:
        """Run steps until the upload is finished, published, or waits for a reviewer."""
        dead_letter: str | None = None
        doc = await self.uploads.get(upload_id)
        while doc is not None and self._runnable(doc):
            outcome, doc = await self._run(doc, doc["state"])
            dead_letter = dead_letter or outcome
            if doc is None:  # moved on by another worker: see where it is now
                doc = await self.uploads.get(upload_id)
        if dead_letter is not None:
            raise PermanentError(dead_letter)

    @staticmethod
    def _runnable(doc: dict[str, Any]) -> bool:
        state = doc["state"]
        if state in ("pending", "published") or doc.get("finished"):
            return False
        return not (state == "in_review" and doc.get("held"))

    async def _run(
        self, doc: dict[str, Any], state: str
    ) -> tuple[str | None, dict[str, Any] | None]:
        """One step: a dead-letter reason when its attempts ran out, and the document as the
        step left it (None when another worker had moved it on)."""
        key = f"{doc['_id']}:{state}"
        await self._take(key)
        try:
            # Read under the lease: what a worker before us did is in the store now.
            fresh = await self.uploads.get(doc["_id"])
            if fresh is None or fresh["state"] != state or not self._runnable(fresh):
                return None, None
            return await self._attempts(fresh, state, key)
        finally:
            self.leases.release(key)

    async def _take(self, key: str) -> None:
        waited = 0.0
        while not await self.leases.acquire(key):
            if waited > 2 * self.lease_seconds:
                raise LeaseBusyError(f"step {key} is held by another worker")
            pause = min(1.0, self.lease_seconds / 4) * (0.5 + self._rng.random())
            await self._sleep(pause)
            waited += pause

    async def _attempts(
        self, doc: dict[str, Any], state: str, key: str
    ) -> tuple[str | None, dict[str, Any]]:
        step = self.steps[state]
        name = STEP_NAMES[state]
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1:  # taken (or taken over) just now for the first
                await self.leases.renew(key)
            try:
                async with asyncio.timeout(self.step_timeout):
                    result = await step(doc)
                break
            except RefusedImageError as refused:
                fields = {"reason": refused.reason}
                await self._enter(doc, "failed", fields, refused.reason)
                return None, {**doc, **fields, "state": "failed"}
            except Exception as exc:
                error = describe(exc) if not isinstance(exc, TimeoutError) else "timed out"
                await self.uploads.update(
                    doc["_id"], {f"attempts.{name}": attempt, "last_error": error}
                )
                if attempt >= self.retry.max_attempts:
                    reason = f"step {name} failed after {attempt} attempts: {error}"
                    log.error("upload %s: %s", doc["_id"], reason)
                    await self._enter(doc, "failed", {"reason": reason}, reason)
                    return reason, {**doc, "reason": reason, "state": "failed"}
                log.warning(
                    "upload %s: step %s attempt %d failed: %s", doc["_id"], name, attempt, error
                )
                await self._sleep(self.retry.delay(attempt, self._rng))
        if isinstance(result, Move):
            await self._enter(doc, result.state, result.fields, result.reason)
            return None, {**doc, **result.fields, "state": result.state}
        await self.uploads.update(doc["_id"], result.fields)
        return None, {**doc, **result.fields}

    async def _enter(
        self, doc: dict[str, Any], state: str, fields: dict[str, Any], reason: str
    ) -> None:
        await self.uploads.move(doc["_id"], state, self.clock(), fields)
        if state not in SELF_ANNOUNCED:
            await self.announcer.state(doc, state, reason)

    async def review(self, decision: AvatarReviewDecided) -> None:
        key = f"{decision.upload_id}:review"
        await self._take(key)
        try:
            doc = await self.uploads.get(decision.upload_id)
            if doc is None or doc["state"] != "in_review":
                return  # decided already (a repeated decision) or never held
            state = "approved" if decision.decision == "approve" else "rejected"
            reason = decision.reason or (
                "approved by a reviewer" if state == "approved" else "rejected by a reviewer"
            )
            review = {
                "reviewer": decision.reviewer,
                "decision": decision.decision,
                "at": self.clock(),
            }
            await self._enter(
                doc, state, {"reason": reason, "review": review, "held": False}, reason
            )
            await self.steps_object.db[REVIEWS].delete_one({"_id": doc["_id"]})
        finally:
            self.leases.release(key)
        await self.advance(decision.upload_id)
