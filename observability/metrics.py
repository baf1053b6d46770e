"""Covenant's own Prometheus metrics.

Collected in one object around an injectable registry, so tests (and several
apps in one process) each get fresh, isolated metrics.

The synthetic-check metrics are labelled by check name (and signal), never by
run id: a label value per run would be a new series per run, and the run id is
already in the trace (``export_check_run``) and in the results table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

if TYPE_CHECKING:
    # Type only: the scheduler is told of these metrics (``schedules.SchedulerMetrics``),
    # it never imports them; importing the checks at runtime is not needed here.
    from schedules import CheckRun

__all__ = ["CHECK_RESULTS", "CovenantMetrics"]

#: Every value of the ``result`` label of ``covenant_check_runs_total``.
CHECK_RESULTS = ("pass", "fail", "error")

#: A check takes from a fraction of a second (a row seen at once) to its deadline
#: (30 s by default, minutes at most).
_CHECK_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 45, 60, 90, 120)
#: From send to first seen: tens of milliseconds (a database row) to a minute (an
#: alert that waits for its ``for`` and a scrape).
#: From 5 ms: HTTP steps are exported here too, and their targets are in milliseconds
#: (a p95 of 100 ms); the upper end covers signals waited for up to a minute.
_SIGNAL_LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.15,
    0.25,
    0.5,
    1,
    2,
    5,
    10,
    15,
    20,
    30,
    45,
    60,
)


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

        # -- synthetic checks -----------------------------------------------------
        self.check_runs = Counter(
            "covenant_check_runs_total",
            "Synthetic check runs, by check and result (pass, fail, error)",
            ["check", "result"],
            registry=self.registry,
        )
        self.check_duration_seconds = Histogram(
            "covenant_check_duration_seconds",
            "Wall time of a synthetic check run, from start to its last signal or deadline",
            ["check"],
            buckets=_CHECK_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.signal_latency_seconds = Histogram(
            "covenant_signal_latency_seconds",
            "Time from sending a check's traffic to first seeing the signal (seen signals"
            " only); for an HTTP step (signal http:NAME), from its first request to the"
            " answer that passed",
            ["check", "signal"],
            buckets=_SIGNAL_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.check_last_success = Gauge(
            "covenant_check_last_success_timestamp_seconds",
            "Unix time at which the check last passed",
            ["check"],
            registry=self.registry,
        )
        self.check_results_spooled = Gauge(
            "covenant_check_results_spooled",
            "Check runs waiting in the spool: results not yet written to PostgreSQL",
            registry=self.registry,
        )
        # The scheduler gauges are registered on first use only. A process without a
        # scheduler (a `covenant serve` with no scheduled check) then exposes no such
        # series, instead of a 0 that CovenantSchedulerNotRunning would report as a
        # stopped scheduler.
        self.scheduler_last_tick = Gauge(
            "covenant_scheduler_last_tick_timestamp_seconds",
            "Unix time of the check scheduler's last tick",
            registry=None,
        )
        self.scheduler_up = Gauge(
            "covenant_scheduler_running",
            "1 while the check scheduler runs, 0 once it stopped",
            registry=None,
        )
        self._scheduler_registered = False
        self._scheduler_lock = threading.Lock()
        self._known_checks: set[str] = set()

    # -- synthetic checks ---------------------------------------------------------

    def declare_checks(self, names: Iterable[str]) -> None:
        """Create every check's run counters at 0 before its first run.

        ``increase()`` only sees a rise between samples it has: a series that
        appears already at 1 shows no increase, so the first failed run of a
        check would not count towards CovenantCheckFailing. A scheduler calls this
        with its checks when it loads them; ``record_check_run`` calls it too, so
        that after any first run the other results start from 0.
        """
        for name in names:
            if name in self._known_checks:
                continue
            for result in CHECK_RESULTS:
                self.check_runs.labels(check=name, result=result)
            self._known_checks.add(name)

    def record_check_run(self, run: CheckRun) -> None:
        """Count one finished run: result, duration, each seen signal's latency."""
        self.declare_checks([run.check])
        self.check_runs.labels(check=run.check, result=run.result).inc()
        self.check_duration_seconds.labels(check=run.check).observe(max(run.duration_s, 0.0))
        for expectation in run.expectations:
            if expectation.outcome == "seen" and expectation.latency_s is not None:
                self.signal_latency_seconds.labels(
                    check=run.check, signal=f"{expectation.kind}:{expectation.name}"
                ).observe(max(expectation.latency_s, 0.0))
        if run.result == "pass":
            ended = run.finished_at.timestamp() if run.finished_at else time.time()
            self.check_last_success.labels(check=run.check).set(ended)

    def _register_scheduler(self) -> None:
        with self._scheduler_lock:
            if not self._scheduler_registered:
                self.registry.register(self.scheduler_last_tick)
                self.registry.register(self.scheduler_up)
                self._scheduler_registered = True

    def scheduler_tick(self) -> None:
        """The scheduler is alive: called on each of its ticks."""
        self._register_scheduler()
        self.scheduler_last_tick.set(time.time())

    def scheduler_running(self, up: bool) -> None:
        """The scheduler started (``True``) or stopped (``False``).

        Starting counts as a tick, so that the time until the first tick is not
        read as a scheduler that stopped ticking.
        """
        self._register_scheduler()
        if up:
            self.scheduler_last_tick.set(time.time())
        self.scheduler_up.set(1 if up else 0)

    def set_spooled(self, count: int) -> None:
        """How many runs wait in the spool because PostgreSQL could not take them."""
        self.check_results_spooled.set(max(count, 0))
