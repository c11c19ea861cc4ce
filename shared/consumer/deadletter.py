"""Dead letters: the original record, unchanged, on `<topic>.dlq` with why and where from.

The value, key and `ce_*`/`traceparent` headers are kept byte for byte so `redrive` can put
the record back on its topic exactly as it was; `dlq_*` headers describe the failure.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.bus.base import Bus, Delivery, Headers, Record

DLQ_SUFFIX = ".dlq"
DLQ_PREFIX = "dlq_"
MAX_ERROR_BYTES = 1024


def dlq_topic(topic: str) -> str:
    return f"{topic}{DLQ_SUFFIX}"


def describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    raw = text.encode("utf-8")
    if len(raw) <= MAX_ERROR_BYTES:
        return text
    return raw[: MAX_ERROR_BYTES - 3].decode("utf-8", "ignore") + "..."


def original_headers(headers: Headers) -> Headers:
    """The record's headers without any `dlq_*` ones (a redriven record may fail again)."""
    return tuple((k, v) for k, v in headers if not k.startswith(DLQ_PREFIX))


def dead_letter_headers(record: Record, error: BaseException, attempts: int) -> Headers:
    return (
        *original_headers(record.headers),
        ("dlq_error", describe(error).encode("utf-8")),
        ("dlq_original_topic", record.topic.encode()),
        ("dlq_original_partition", str(record.partition).encode()),
        ("dlq_original_offset", str(record.offset).encode()),
        ("dlq_attempts", str(attempts).encode()),
        ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
    )


async def dead_letter(bus: Bus, record: Record, error: BaseException, attempts: int) -> Delivery:
    return await bus.publish_raw(
        dlq_topic(record.topic),
        record.value,
        key=record.key,
        headers=dead_letter_headers(record, error, attempts),
    )
