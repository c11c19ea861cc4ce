"""The non-real-time part: persister, attribution and live figures, each a consumer group."""
