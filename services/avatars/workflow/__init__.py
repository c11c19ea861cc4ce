"""The moderation workflow (Step Functions' role, on Kafka): per-upload state in MongoDB,
steps that are idempotent by upload id, retried with backoff and jitter, timed out, claimed by
one worker at a time, and dead-lettered with their reason when they cannot succeed."""
