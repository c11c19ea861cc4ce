"""Jobs in the store (collection `jobs`) and the events around them.

    jobs = Jobs(store.db["jobs"], bus, source="avatars")
    job = await jobs.submit("resize", {"image": ...}, owner=user)   # -> 202 with job.channel
    ...                                                              # a worker of jobs.requested
    await jobs.complete(job_id, {"url": ...})                        # stored, then pushed

`complete`/`fail` store the outcome first, then publish a `NotificationRequested` (event
`job.completed`/`job.failed`) to `job:<id>` and to `user:<owner>`: a client subscribed to
either gets it pushed, and `GET` shows it to the others. The owner is the only user allowed on
`job:<id>`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pymongo import IndexModel, ReturnDocument

from shared.bus.base import Bus
from shared.events.contracts.jobs import JOB_REQUESTED, JobRequested
from shared.events.contracts.notifier import NOTIFICATION_REQUESTED, NotificationRequested


class JobStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    owner: str
    status: JobStatus
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def channel(self) -> str:
        return f"job:{self.id}"

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Job:
        return cls(
            id=doc["_id"],
            kind=doc["kind"],
            owner=doc["owner"],
            status=JobStatus(doc["status"]),
            params=doc.get("params") or {},
            result=doc.get("result"),
            error=doc.get("error"),
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
        )


class Jobs:
    def __init__(self, collection: Any, bus: Bus, *, source: str) -> None:
        self.collection, self.bus, self.source = collection, bus, source

    @staticmethod
    def indexes() -> dict[str, list[IndexModel]]:
        return {"jobs": [IndexModel([("owner", 1), ("created_at", -1)], name="owner_created")]}

    async def submit(self, kind: str, params: dict[str, Any], owner: str) -> Job:
        now = datetime.now(UTC)
        job_id = uuid.uuid4().hex
        doc: dict[str, Any] = {
            "_id": job_id,
            "kind": kind,
            "owner": owner,
            "status": JobStatus.PENDING.value,
            "params": params,
            "result": None,
            "error": None,
            "created_at": now,
            "updated_at": now,
        }
        await self.collection.insert_one(doc)
        request = JobRequested(job_id=job_id, kind=kind, owner=owner, params=params)
        await self.bus.publish(JOB_REQUESTED, JOB_REQUESTED.new(request, source=self.source))
        return Job.from_doc(doc)

    async def get(self, job_id: str) -> Job | None:
        doc = await self.collection.find_one({"_id": job_id})
        return Job.from_doc(doc) if doc is not None else None

    async def owner(self, job_id: str) -> str | None:
        doc = await self.collection.find_one({"_id": job_id}, projection={"owner": 1})
        return str(doc["owner"]) if doc is not None else None

    async def complete(self, job_id: str, result: dict[str, Any]) -> Job:
        return await self._finish(job_id, JobStatus.SUCCEEDED, result=result)

    async def fail(self, job_id: str, error: str) -> Job:
        return await self._finish(job_id, JobStatus.FAILED, error=error)

    async def _finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> Job:
        update: dict[str, Any] = {"status": status.value, "result": result, "error": error}
        update["updated_at"] = datetime.now(UTC)
        doc = await self.collection.find_one_and_update(
            {"_id": job_id}, {"$set": update}, return_document=ReturnDocument.AFTER
        )
        if doc is None:
            raise KeyError(f"unknown job {job_id}")
        job = Job.from_doc(doc)
        event = "job.completed" if status is JobStatus.SUCCEEDED else "job.failed"
        data: dict[str, Any] = {"job_id": job.id, "kind": job.kind, "status": job.status.value}
        data.update({"result": job.result} if result is not None else {"error": job.error})
        for channel in (job.channel, f"user:{job.owner}"):
            note = NotificationRequested(channel=channel, event=event, data=data)
            await self.bus.publish(
                NOTIFICATION_REQUESTED, NOTIFICATION_REQUESTED.new(note, source=self.source)
            )
        return job
