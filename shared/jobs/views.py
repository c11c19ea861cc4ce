"""HTTP helpers for a service's job endpoints (the `GET` fallback of poll-to-push)."""

from __future__ import annotations

from typing import Any

from shared.http.problems import Problem
from shared.jobs.store import Job, Jobs


def job_body(job: Job, status_url: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "job_id": job.id,
        "kind": job.kind,
        "status": job.status.value,
        "channel": job.channel,
        "status_url": status_url,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
    }
    if job.result is not None:
        body["result"] = job.result
    if job.error is not None:
        body["error"] = job.error
    return body


async def job_or_404(jobs: Jobs, job_id: str, user: str) -> Job:
    """The user's job; 404 (never 403) for someone else's, so ids cannot be probed."""
    job = await jobs.get(job_id)
    if job is None or job.owner != user:
        raise Problem(404, f"no job {job_id!r}")
    return job
