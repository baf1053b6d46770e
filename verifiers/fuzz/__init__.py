"""Fuzzing with Schemathesis: the runner, Covenant's own checks, reports, history.

Names are imported lazily: the Schemathesis CLI imports ``verifiers.fuzz.checks``
in every fuzz run (``SCHEMATHESIS_HOOKS``), and that import must stay as cheap
as the checks themselves, without the runner, the store or the configuration.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from verifiers.fuzz._model import PHASES, Finding, FuzzOptions, FuzzResult
    from verifiers.fuzz._report import render_html, summary_rows
    from verifiers.fuzz._runner import run_fuzz, spec_reachable
    from verifiers.fuzz._store import load_finding, read_findings, read_runs, save_result
    from verifiers.fuzz._targets import COVENANT_SERVICE, known_services, resolve_target
    from verifiers.fuzz.session import FuzzOverrides, FuzzSession, FuzzSessionResult

__all__ = [
    "COVENANT_SERVICE",
    "PHASES",
    "Finding",
    "FuzzOptions",
    "FuzzOverrides",
    "FuzzResult",
    "FuzzSession",
    "FuzzSessionResult",
    "known_services",
    "load_finding",
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
