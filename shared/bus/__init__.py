"""Publish/subscribe over Kafka (aiokafka) or, for unit tests only, in memory."""

from shared.bus.base import (
    Bus,
    CommitFailedError,
    Delivery,
    Headers,
    RawRecord,
    Record,
    RecordSource,
    RevokeHook,
    TopicPartition,
)
from shared.bus.codec import DecodeError, decode, encode

__all__ = [
    "Bus",
    "CommitFailedError",
    "DecodeError",
    "Delivery",
    "Headers",
    "RawRecord",
    "Record",
    "RecordSource",
    "RevokeHook",
    "TopicPartition",
    "decode",
    "encode",
]
