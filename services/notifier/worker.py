"""The demo poll-to-push worker: the `notifier-jobs` group on `jobs.requested` runs `digest`
jobs (SHA-256 of `params.text`, after NOTIFIER_JOBS_DIGEST_DELAY_SECONDS) and completes them
through `shared.jobs`, which stores the result and pushes it on `job:<id>` and `user:<owner>`.
Other kinds on the topic belong to other services' workers and are skipped.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from shared.bus.base import Record
from shared.events.contracts.jobs import JobRequested
from shared.events.envelope import CloudEvent
from shared.jobs import Jobs, JobStatus

DIGEST = "digest"
MAX_TEXT = 1024 * 1024


class DigestWorker:
    def __init__(self, jobs: Jobs, delay_seconds: float) -> None:
        self.jobs, self.delay = jobs, delay_seconds

    async def handle(self, event: CloudEvent[Any], _record: Record) -> None:
        request = event.data
        if not isinstance(request, JobRequested) or request.kind != DIGEST:
            return
        job = await self.jobs.get(request.job_id)
        if job is None or job.status is not JobStatus.PENDING:
            return  # unknown here, or a redelivery of a finished job
        text = request.params.get("text")
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            await self.jobs.fail(job.id, "params.text must be a string of at most 1 MiB")
            return
        await asyncio.sleep(self.delay)  # stands for real, slow work
        digest = await asyncio.to_thread(hashlib.sha256, text.encode())
        await self.jobs.complete(job.id, {"sha256": digest.hexdigest(), "length": len(text)})
