"""Service-to-service HTTP API: publish a notification, ask whether a user is connected.

Both answer platform services (a caller of kind `service`, shared/http/identity.py) and
backends that show the service token (`Authorization: Bearer <NOTIFIER_SERVICE_TOKEN>`, or
ADMIN_TOKEN when that is unset, compared in constant time; through the gateway's /notifier/).
`POST /notifier/publish` answers 202 once the NotificationRequested event is durably on the bus
(acks=all); delivery follows asynchronously.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from services.notifier.keys import NOTIFIER_SETTINGS, PRESENCE
from shared.events.contracts.notifier import NOTIFICATION_REQUESTED, NotificationRequested
from shared.http.adminauth import check_bearer_secret
from shared.http.identity import caller_of
from shared.http.keys import BUS
from shared.http.problems import Problem, field_errors

routes = web.RouteTableDef()


def require_service(request: web.Request) -> None:
    if caller_of(request).kind == "service":
        return
    settings = request.app[NOTIFIER_SETTINGS]
    check_bearer_secret(
        request,
        settings.service_token or settings.platform.admin_token,
        unset="no service token configured (NOTIFIER_SERVICE_TOKEN or ADMIN_TOKEN)",
        refused="a valid service token is required",
    )


@routes.post("/notifier/publish")
async def publish(request: web.Request) -> web.Response:
    require_service(request)
    try:
        note = NotificationRequested.model_validate_json(await request.read())
    except ValidationError as exc:
        errors = field_errors(exc)
        raise Problem(422, "invalid notification", extra={"errors": errors}) from None
    event = NOTIFICATION_REQUESTED.new(note, source="notifier-api")
    delivery = await request.app[BUS].publish(NOTIFICATION_REQUESTED, event)
    body = {
        "id": event.id,
        "channel": note.channel,
        "topic": delivery.topic,
        "partition": delivery.partition,
        "offset": delivery.offset,
    }
    return web.json_response(body, status=202)


@routes.get("/notifier/presence/{user_id}")
async def presence(request: web.Request) -> web.Response:
    require_service(request)
    user = request.match_info["user_id"]
    connections, replicas = request.app[PRESENCE].connections(user)
    return web.json_response(
        {"user": user, "online": connections > 0, "connections": connections, "replicas": replicas}
    )
