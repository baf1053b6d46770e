"""Provider verification: replay pacts against a running provider with the Pact verifier."""

from verifiers.provider._model import (
    DEFAULT_SELECTORS,
    InteractionOutcome,
    Mismatch,
    VerifyOptions,
    VerifyResult,
)
from verifiers.provider._report import render_json, render_junit, render_summary_lines
from verifiers.provider._run import ProviderUnreachable, pacts_for_provider, verify_provider

__all__ = [
    "DEFAULT_SELECTORS",
    "InteractionOutcome",
    "Mismatch",
    "ProviderUnreachable",
    "VerifyOptions",
    "VerifyResult",
    "pacts_for_provider",
    "render_json",
    "render_junit",
    "render_summary_lines",
    "verify_provider",
]
