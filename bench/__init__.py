"""Benchmarks that print ratios; never part of the test run."""
