"""Tracking ingest: pixel, click redirect and batch collector with an L1 program cache kept
fresh by push, persister, bad rows, attribution and a live campaign page (docs/ingest.md)."""
