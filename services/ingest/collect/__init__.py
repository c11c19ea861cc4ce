"""The real-time part: pixel, click redirect and batch endpoints, enrichment, publishing."""
