"""Two tiny services for the cross-process trace test, each run as its own OS process:

    python -m tests.integration.trace_services orders      # POST /orders publishes an event
    python -m tests.integration.trace_services fulfilment  # consumes it

Both start through `shared.http.run.run_service`, exactly like the platform's services, so
telemetry, logging and shutdown are the real ones. Environment: TRACE_TOPIC, SERVICE_PORT,
plus the platform variables (KAFKA_BOOTSTRAP_SERVERS, SPANS_DIR, ...).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from shared.bus.base import Record
from shared.consumer import EventConsumer
from shared.events.catalog import Catalog, EventSpec
from shared.events.envelope import CloudEvent
from shared.http.app import create_app, kafka_bus
from shared.http.consumers import attach_consumer
from shared.http.keys import BUS
from shared.http.run import run_service
from shared.settings import ServiceSettings


class OrderPlaced(BaseModel):
    order_id: str


TOPIC = os.environ.get("TRACE_TOPIC", "trace.orders")
CATALOG = Catalog()
ORDER_PLACED = CATALOG.register(
    EventSpec(
        type="test.order.placed.v1",
        topic=TOPIC,
        payload=OrderPlaced,
        key=lambda order: order.order_id,
        key_doc="order_id",
        description="An order was placed (trace test).",
    )
)


async def place_order(request: web.Request) -> web.Response:
    order = OrderPlaced(order_id=request.match_info["order_id"])
    await request.app[BUS].publish(ORDER_PLACED, ORDER_PLACED.new(order, source="orders"))
    return web.json_response({"accepted": order.order_id}, status=202)


async def orders_app() -> web.Application:
    app = create_app("orders", ServiceSettings(), bus=kafka_bus, topics=[TOPIC])
    app.router.add_post("/orders/{order_id}", place_order)
    return app


async def fulfil(event: CloudEvent[Any], record: Record) -> None:
    print(f"fulfilled {event.data.order_id}", flush=True)


async def fulfilment_app() -> web.Application:
    app = create_app("fulfilment", ServiceSettings(), bus=kafka_bus)
    attach_consumer(
        app,
        lambda app: EventConsumer(
            app[BUS],
            topics=[TOPIC],
            group_id="fulfilment",
            handler=fulfil,
            catalog=CATALOG,
            service_name="fulfilment",
        ),
    )
    return app


def main() -> None:
    name = sys.argv[1]
    factory = orders_app if name == "orders" else fulfilment_app
    run_service(name, ServiceSettings(), factory)


if __name__ == "__main__":
    main()
