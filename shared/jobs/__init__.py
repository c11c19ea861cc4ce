"""Poll-to-push jobs: submit over REST (202 + a channel to listen on), push the result when
done, `GET` as the fallback for REST-only clients. See `shared.jobs.store.Jobs`."""

from shared.jobs.store import Job, Jobs, JobStatus
from shared.jobs.views import job_body, job_or_404

__all__ = ["Job", "JobStatus", "Jobs", "job_body", "job_or_404"]
