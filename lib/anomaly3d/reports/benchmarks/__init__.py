"""Benchmarks: each module writes a CSV and a figure under reports/benchmarks/ (run as python -m)."""
