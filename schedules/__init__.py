"""Synthetic checks: definitions (``schedules/*.yaml`` -> typed objects), the runner
and run history.

May import the kernel and the faces of the contracts and verifiers; never observability
(telemetry listens through :class:`SchedulerMetrics` and :class:`RunListener`), the
CLI or the HTTP app.
"""

from schedules._claims import ClaimStore, slot_of
from schedules._engines import engines_for
from schedules._loader import CheckFileError, LoadedCheck, load_checks, load_file
from schedules._model import Check, Expectation, parse_duration
from schedules._probes import Engines, ProbeError
from schedules._run import CheckRun, ExpectationResult, new_run_values, run_check
from schedules._scheduler import CheckScheduler, RunListener, SchedulerMetrics
from schedules._store import RunStore, latest_runs, latest_runs_per_check

__all__ = [
    "Check",
    "CheckFileError",
    "CheckRun",
    "CheckScheduler",
    "ClaimStore",
    "Engines",
    "Expectation",
    "ExpectationResult",
    "LoadedCheck",
    "ProbeError",
    "RunListener",
    "RunStore",
    "SchedulerMetrics",
    "engines_for",
    "latest_runs",
    "latest_runs_per_check",
    "load_checks",
    "load_file",
    "new_run_values",
    "parse_duration",
    "run_check",
    "slot_of",
]
