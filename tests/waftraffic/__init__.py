"""Realistic request generators for the WAF's false-positive measures (tests/waf_benign.py)
and the replay of the platform's own routes."""
