"""Baselines the benchmarks start next to our services (each its own process group)."""
