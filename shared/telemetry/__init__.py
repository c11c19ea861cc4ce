"""OpenTelemetry set-up, log correlation, Kafka trace propagation and the `traces` command."""
