"""The reading side of tracing, with no backend: span files, the service map, X-Ray filter
expressions, the `traces` command and its console (`traces serve`)."""
