"""Poll-to-push over REST: `POST /notifier/jobs` -> 202 {job_id, channel, status_url}; the
result is pushed on `job:<id>` (and `user:<sub>`); `GET /notifier/jobs/{id}` is the fallback.

The caller is the signed-in user the gateway verified (shared/http/identity.py); a job is only
visible to its owner.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.notifier.keys import JOBS
from services.notifier.worker import MAX_TEXT
from shared.http.identity import user_id
from shared.http.problems import Problem, field_errors
from shared.jobs import job_body, job_or_404

routes = web.RouteTableDef()


class DigestParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_TEXT)


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["digest"] = "digest"
    params: DigestParams


def _status_url(request: web.Request, job_id: str) -> str:
    return str(request.app.router["job"].url_for(job_id=job_id))


@routes.post("/notifier/jobs")
async def submit(request: web.Request) -> web.Response:
    user = user_id(request)
    try:
        body = JobRequest.model_validate_json(await request.read())
    except ValidationError as exc:
        raise Problem(422, "invalid job", extra={"errors": field_errors(exc)}) from None
    job = await request.app[JOBS].submit(body.kind, body.params.model_dump(), user)
    url = _status_url(request, job.id)
    return web.json_response(job_body(job, url), status=202, headers={"Location": url})


@routes.get("/notifier/jobs/{job_id}", name="job")
async def status(request: web.Request) -> web.Response:
    user = user_id(request)
    job_id = request.match_info["job_id"]
    job = await job_or_404(request.app[JOBS], job_id, user)
    return web.json_response(job_body(job, _status_url(request, job.id)))
