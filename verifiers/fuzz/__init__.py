"""Fuzzing with Schemathesis: the runner, Covenant's own checks, reports, history.

Names are imported lazily: the Schemathesis CLI imports ``verifiers.fuzz.checks``
in every fuzz run (``SCHEMATHESIS_HOOKS``), and that import must stay as cheap
as the checks themselves, without the runner, the store or the configuration.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from verifiers.fuzz._baseline import Baseline, BaselineEntry, BaselineReport, Sighting
    from verifiers.fuzz._model import PHASES, Finding, FuzzOptions, FuzzResult, finding_id
    from verifiers.fuzz._oneoff import ONE_OFF_SERVICE, SpecTarget, parse_header
    from verifiers.fuzz._report import render_html, summary_rows
    from verifiers.fuzz._runner import run_fuzz, spec_reachable
    from verifiers.fuzz._store import load_finding, read_findings, read_runs, save_result
    from verifiers.fuzz._targets import COVENANT_SERVICE, known_services, resolve_target
    from verifiers.fuzz.session import FuzzOverrides, FuzzSession, FuzzSessionResult

__all__ = [
    "COVENANT_SERVICE",
    "ONE_OFF_SERVICE",
    "PHASES",
    "Baseline",
    "BaselineEntry",
    "BaselineReport",
    "Finding",
    "FuzzOptions",
    "FuzzOverrides",
    "FuzzResult",
    "FuzzSession",
    "FuzzSessionResult",
    "Sighting",
    "SpecTarget",
    "finding_id",
    "known_services",
    "load_finding",
    "parse_header",
    "read_findings",
    "read_runs",
    "render_html",
    "resolve_target",
    "run_fuzz",
    "save_result",
    "spec_reachable",
    "summary_rows",
]

_HOMES = {
    "Baseline": "_baseline",
    "BaselineEntry": "_baseline",
    "BaselineReport": "_baseline",
    "Sighting": "_baseline",
    "finding_id": "_model",
    "ONE_OFF_SERVICE": "_oneoff",
    "SpecTarget": "_oneoff",
    "parse_header": "_oneoff",
    "PHASES": "_model",
    "Finding": "_model",
    "FuzzOptions": "_model",
    "FuzzResult": "_model",
    "render_html": "_report",
    "summary_rows": "_report",
    "run_fuzz": "_runner",
    "spec_reachable": "_runner",
    "load_finding": "_store",
    "read_findings": "_store",
    "read_runs": "_store",
    "save_result": "_store",
    "COVENANT_SERVICE": "_targets",
    "known_services": "_targets",
    "resolve_target": "_targets",
    "FuzzOverrides": "session",
    "FuzzSession": "session",
    "FuzzSessionResult": "session",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"verifiers.fuzz.{_HOMES[name]}"), name)
    raise AttributeError(name)
