"""At-least-once event consumption: retries, dead letters, idempotency, graceful stop, redrive."""
