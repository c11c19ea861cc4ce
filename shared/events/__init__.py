"""Every message on the bus is a CloudEvents 1.0 envelope with a typed payload."""

from shared.events.catalog import CATALOG, Catalog, EventSpec
from shared.events.envelope import CloudEvent

__all__ = ["CATALOG", "Catalog", "CloudEvent", "EventSpec"]
