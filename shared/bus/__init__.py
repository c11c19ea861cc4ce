"""Publish/subscribe over Kafka (aiokafka) or, for unit tests only, in memory."""

from shared.bus.base import Bus, Delivery, Record

__all__ = ["Bus", "Delivery", "Record"]
