"""Generate docs/asyncapi.yaml (AsyncAPI 3.0) from the event catalog.

`make asyncapi` rewrites the file; a unit test fails when the checked-in file drifts from the code.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import yaml

from shared.events.catalog import CATALOG, Catalog
from shared.events.contracts import load_all
from shared.events.protobuf import CONTENT_TYPE as PROTOBUF
from shared.events.protobuf import PROTO_SPECS, ProtoSpec

CE_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": (
        "CloudEvents 1.0 attributes in Kafka binary content mode, plus W3C trace context."
    ),
    "required": ["ce_id", "ce_source", "ce_type", "ce_specversion"],
    "properties": {
        "ce_id": {"type": "string", "description": "Unique event id (idempotency key)."},
        "ce_source": {"type": "string", "description": "Producing service."},
        "ce_type": {"type": "string", "description": "Event type; selects the payload schema."},
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string"},
        "content-type": {"type": "string", "enum": ["application/json", "application/protobuf"]},
        "ce_dataschema": {
            "type": "string",
            "description": "Protobuf payloads: `<.proto file>#<message full name>`.",
        },
        "traceparent": {"type": "string", "description": "W3C trace context."},
        "tracestate": {"type": "string"},
    },
}

DLQ_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "The original record's headers plus the reason it was dead-lettered.",
    "properties": {
        "dlq_error": {"type": "string", "description": "Why handling failed."},
        "dlq_original_topic": {"type": "string"},
        "dlq_original_partition": {"type": "string"},
        "dlq_original_offset": {"type": "string"},
    },
}


def _proto(spec: ProtoSpec[Any]) -> dict[str, Any]:
    """A protobuf payload: AsyncAPI's multi-format schema with the .proto file's text."""
    return {
        "schemaFormat": "application/vnd.google.protobuf;version=3",
        "schema": spec.schema_text(),
        "x-schema-file": spec.schema_file,
        "x-message": spec.full_name,
    }


def _camel(name: str) -> str:
    parts = name.replace("-", ".").replace("_", ".").split(".")
    return parts[0] + "".join(part[:1].upper() + part[1:] for part in parts[1:])


def build(
    catalog: Catalog = CATALOG, protos: Iterable[ProtoSpec[Any]] = PROTO_SPECS
) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    entries: list[tuple[str, str, str, str, dict[str, Any]]] = []
    for spec in catalog:
        payload = spec.payload.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(payload.pop("$defs", {}))
        schemas[spec.payload.__name__] = payload
        ref = {"$ref": f"#/components/schemas/{spec.payload.__name__}"}
        entries.append((spec.type, spec.topic, spec.description, spec.key_doc, ref))
    for proto in protos:
        entries.append((proto.type, proto.topic, proto.description, proto.key_doc, _proto(proto)))
    for event_type, topic, description, key_doc, payload_ref in sorted(
        entries, key=lambda entry: entry[0]
    ):
        message_id = _camel(event_type)
        protobuf = "schemaFormat" in payload_ref
        messages[message_id] = {
            "name": event_type,
            "title": event_type,
            "summary": description,
            "contentType": PROTOBUF if protobuf else "application/json",
            "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
            "payload": payload_ref,
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": key_doc},
                    "bindingVersion": "0.5.0",
                }
            },
        }
        channel_id = _camel(topic)
        channel = channels.setdefault(
            channel_id,
            {"address": topic, "messages": {}, "description": f"Kafka topic `{topic}`."},
        )
        channel["messages"][message_id] = {"$ref": f"#/components/messages/{message_id}"}
        dlq = channels.setdefault(
            channel_id + "Dlq",
            {
                "address": f"{topic}.dlq",
                "messages": {},
                "description": f"Dead letters of `{topic}` (see `redrive`).",
            },
        )
        dlq["messages"][message_id] = {"$ref": f"#/components/messages/{message_id}"}
        operations[f"publish{message_id[:1].upper()}{message_id[1:]}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"Publish `{event_type}`.",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message_id}"}],
        }
    schemas["CloudEventHeaders"] = CE_HEADERS
    schemas["DeadLetterHeaders"] = DLQ_HEADERS
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Surge event bus",
            "version": "0.1.0",
            "description": (
                "Every record is a CloudEvents 1.0 event in Kafka binary content mode: "
                "attributes in `ce_*` headers, the payload (JSON, or protobuf where the message "
                "says so) as the value, the partition key as the record key. Generated from "
                "`shared.events.CATALOG` and `shared.events.protobuf.PROTO_SPECS`; "
                "do not edit by hand (`make asyncapi`)."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": "127.0.0.1:9092", "protocol": "kafka", "description": "make run"},
            "compose": {"host": "kafka:9092", "protocol": "kafka"},
        },
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {
            "messages": dict(sorted(messages.items())),
            "schemas": dict(sorted(schemas.items())),
        },
    }


def render(catalog: Catalog = CATALOG) -> str:
    load_all()
    return yaml.safe_dump(build(catalog), sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
