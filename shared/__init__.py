"""Cross-cutting library every service stands on: settings, events, bus, store, HTTP, telemetry."""
