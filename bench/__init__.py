"""Benchmarks of the platform on a real broker and store (see bench/README.md)."""
