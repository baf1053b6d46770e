"""Covenant's own Prometheus metrics.

Collected in one object around an injectable registry, so tests (and several
apps in one process) each get fresh, isolated metrics.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

__all__ = ["CovenantMetrics"]


class CovenantMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, version: str = "") -> None:
        self.registry = registry or CollectorRegistry()
        self.build_info = Info(
            "covenant_build", "Covenant build information", registry=self.registry
        )
        self.build_info.info({"version": version})
        self.engine_up = Gauge(
            "covenant_engine_up",
            "1 when the engine answered its last health probe, 0 otherwise",
            ["engine"],
            registry=self.registry,
        )
        self.engine_probe_seconds = Histogram(
            "covenant_engine_probe_duration_seconds",
            "Time taken by an engine health probe",
            ["engine"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.http_requests = Counter(
            "covenant_http_requests_total",
            "HTTP requests served, by route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
