"""Tiny random-weight models in the real formats, for tests, benchmarks and offline smoke runs."""
