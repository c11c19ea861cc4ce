"""OpenTelemetry set-up, log correlation, Kafka trace propagation and the `traces` command."""

from shared.telemetry.logs import configure_logging
from shared.telemetry.setup import Telemetry, configure_telemetry, tracer

__all__ = ["Telemetry", "configure_logging", "configure_telemetry", "tracer"]
