"""At-least-once event consumption: retries, dead letters, idempotency, graceful stop, redrive."""

from shared.consumer.errors import PermanentError
from shared.consumer.idempotency import IdempotencyGuard
from shared.consumer.retry import RetryPolicy
from shared.consumer.runtime import EventConsumer, Handler
from shared.consumer.stats import ConsumerStats

__all__ = [
    "ConsumerStats",
    "EventConsumer",
    "Handler",
    "IdempotencyGuard",
    "PermanentError",
    "RetryPolicy",
]
