"""Throttling and accounting: token buckets, quotas, usage plans, metering and the RateLimit
headers. `policy` is the leaf the others share, so no import cycle remains."""
