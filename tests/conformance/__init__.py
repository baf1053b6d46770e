"""Conformance suites: each case a request and the answer the real server gives.

The suites run against Covenant's Loki and Grafana doubles in ``make test`` and,
unchanged, against a real server when an environment variable names its URL.
"""
