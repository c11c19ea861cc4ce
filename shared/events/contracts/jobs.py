"""Poll-to-push jobs (shared/jobs): a job was submitted and waits for a worker."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.events.catalog import CATALOG, EventSpec


class JobRequested(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    kind: str = Field(min_length=1, max_length=64)
    owner: str = Field(description="Subject of the user who submitted it")
    params: dict[str, Any] = Field(default_factory=dict)


JOB_REQUESTED = CATALOG.register(
    EventSpec(
        type="jobs.job.requested.v1",
        topic="jobs.requested",
        payload=JobRequested,
        key=lambda job: job.job_id,
        key_doc="job_id",
        description="A long-running job to run; its worker completes it through shared.jobs.",
    )
)
